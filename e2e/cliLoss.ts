/**
 * An independent look at a downloaded adapter: the CLI (the same engine on Dawn in Node, not the page) computes
 * logits for a token sequence with and without the adapter, and the mean next-token loss is taken here.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

export function buildCli(): void {
  execFileSync('npm', ['run', '-s', 'build:cli'], { stdio: 'inherit' });
}

/** Token ids of `text` with stories260K's tokenizer (BOS first, as the model was trained). */
export function encodeForSample(modelDir: string, text: string): number[] {
  const tok = new Tokenizer(JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(modelDir, 'tokenizer_config.json'), 'utf8')));
  const ids = tok.encode(text, { add_special_tokens: false }).ids;
  return [1, ...ids];
}

export function meanNextTokenLoss(modelDir: string, ids: number[], adapterDir?: string): number {
  const out = join(mkdtempSync(join(tmpdir(), 'webpeft-e2e-')), 'logits.json');
  const args = ['scripts/run-node.sh', 'dist-cli/webpeft.js', 'logits', '--model', modelDir, '--ids', ids.join(','), '--out', out];
  if (adapterDir) args.push('--adapter', adapterDir);
  execFileSync('bash', args, { stdio: 'inherit' });
  const { shape, logits } = JSON.parse(readFileSync(out, 'utf8')) as { shape: [number, number]; logits: number[] };
  const [T, V] = shape;
  let total = 0;
  for (let t = 0; t + 1 < T; t++) {
    const row = logits.slice(t * V, (t + 1) * V);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    total += lse - row[ids[t + 1]];
  }
  return total / (T - 1);
}
