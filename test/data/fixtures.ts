/** Test helpers: fixture tokenizers and files as NamedBlobs (tests may read disk; core code may not). */
import { readFileSync } from 'node:fs';
import type { DatasetOptions, NamedBlob } from '../../src/run/api';
import { loadTokenizer, type Tokenizer } from '../../src/data/tokenizer';

const root = new URL('../../fixtures/', import.meta.url);

export function fixturePath(rel: string): URL {
  return new URL(rel, root);
}

export function readFixture(rel: string): string {
  return readFileSync(fixturePath(rel), 'utf8');
}

const cache = new Map<string, Tokenizer>();

/** Tokenizer of fixtures/models/<model>, with its tokenizer_config.json when present. */
export function fixtureTokenizer(model: string): Tokenizer {
  let tok = cache.get(model);
  if (!tok) {
    const json = readFixture(`models/${model}/tokenizer.json`);
    let config: Record<string, unknown> | undefined;
    try {
      config = JSON.parse(readFixture(`models/${model}/tokenizer_config.json`)) as Record<string, unknown>;
    } catch {
      config = undefined;
    }
    tok = loadTokenizer(json, config);
    cache.set(model, tok);
  }
  return tok;
}

export function fixtureBlob(rel: string, name = rel.slice(rel.lastIndexOf('/') + 1)): NamedBlob {
  return { name, blob: new Blob([readFileSync(fixturePath(rel))]) };
}

export function textBlob(name: string, text: string): NamedBlob {
  return { name, blob: new Blob([text]) };
}

export function options(over: Partial<DatasetOptions> = {}): DatasetOptions {
  return { onBadLine: 'skip', valFraction: 0.1, seed: 1, trainOnAllTokens: false, seqLen: 64, ...over };
}

/** The ids whose label is not -100 (the tokens that carry loss), in order. */
export function lossIds(ids: ArrayLike<number>, labels: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let t = 0; t < ids.length; t++) if (labels[t] !== -100) out.push(ids[t]);
  return out;
}

/**
 * The tiny-random-gpt2 tokenizer with ChatML special tokens added (ids 50300/50301) and a given chat template:
 * a stand-in for a Qwen2 tokenizer, which is not among the fixtures.
 */
export function chatmlTokenizer(chatTemplate: string): Tokenizer {
  const json = JSON.parse(readFixture('models/tiny-random-gpt2/tokenizer.json')) as { added_tokens: unknown[] };
  for (const [id, content] of [[50300, '<|im_start|>'], [50301, '<|im_end|>']] as const) {
    json.added_tokens.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  }
  return loadTokenizer(JSON.stringify(json), {
    tokenizer_class: 'Qwen2Tokenizer',
    bos_token: null,
    eos_token: '<|im_end|>',
    pad_token: '<|endoftext|>',
    clean_up_tokenization_spaces: false,
    chat_template: chatTemplate,
  });
}

/** Decoded text of each maximal run of loss-carrying tokens. */
export function lossRuns(tok: Tokenizer, ids: ArrayLike<number>, labels: ArrayLike<number>): string[] {
  const runs: string[] = [];
  let run: number[] = [];
  for (let t = 0; t <= ids.length; t++) {
    if (t < ids.length && labels[t] !== -100) {
      run.push(ids[t]);
    } else if (run.length) {
      runs.push(tok.decode(run, false));
      run = [];
    }
  }
  return runs;
}
