/**
 * `npm run bench:sparse`: the studio's own toy-scale reproduction of the sparse fine-tuning papers' comparison.
 * On stories260K with the bundled text, every run trains the same steps on the same batches (same seed, same
 * token budget) and reports validation loss beside LoRA at the same trainable-parameter count:
 *   - sparse FT at 1% density (prune-and-regrow) and the gradient-selected 5% subnetwork, as the issue asks;
 *   - LoRA at the rank whose count is nearest each of them;
 *   - sparse FT and the subnetwork at exactly LoRA's count (K = r(in + out) per layer, "match LoRA rank").
 * It also prints the engine's own accounting of GPU memory after each run's setup: a sparse run's memory grows
 * with the entries it keeps. Numbers are printed, never asserted: the table is the result.
 */
import { join } from 'node:path';
import { namedBlobFromFile, namedBlobsFromDir } from '../src/formats/nodeFiles';
import { nodeGpu } from '../src/gpu/node';
import type { MethodName, MethodOptions, StepMetrics, TrainSettings } from '../src/run/api';
import { Session } from '../src/run/session';

const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

interface Config {
  label: string;
  method: MethodName;
  rank: number;
  lr: number;
  options?: Partial<MethodOptions>;
}

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

async function main(args: string[]): Promise<void> {
  const steps = flag(args, 'steps', 40);
  const batchSize = flag(args, 'batch', 4);
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  const root = process.cwd();
  const s = new Session(await nodeGpu());
  await s.init();
  await s.loadModel(await namedBlobsFromDir(join(root, 'public', 'sample', 'stories260K')));
  const seqLen = 64;
  await s.loadDataset(await namedBlobFromFile(join(root, 'public', 'sample', 'tinyshakespeare-excerpt.txt')), { onBadLine: 'skip', valFraction: 0.1, seed: 1, trainOnAllTokens: false, seqLen });
  const base = await s.evaluate(false);
  const configs: Config[] = [
    { label: 'sparse FT 1% (regrow every 10)', method: 'sparse', rank: 1, lr: 1e-2, options: { density: 0.01, regrowEvery: 10 } },
    { label: 'subnetwork 5% (Σ|g|, 8 batches)', method: 'subnet', rank: 1, lr: 1e-2, options: { density: 0.05, subnetBatches: 8 } },
    { label: 'LoRA r=1', method: 'lora', rank: 1, lr: 1e-2 },
    { label: 'sparse FT at LoRA r=1 count', method: 'sparse', rank: 1, lr: 1e-2, options: { matchLoraRank: true, regrowEvery: 10 } },
    { label: 'subnetwork at LoRA r=1 count', method: 'subnet', rank: 1, lr: 1e-2, options: { matchLoraRank: true, subnetBatches: 8 } },
    { label: 'LoRA r=2', method: 'lora', rank: 2, lr: 1e-2 },
    { label: 'sparse FT at LoRA r=2 count', method: 'sparse', rank: 2, lr: 1e-2, options: { matchLoraRank: true, regrowEvery: 10 } },
    { label: 'subnetwork at LoRA r=2 count', method: 'subnet', rank: 2, lr: 1e-2, options: { matchLoraRank: true, subnetBatches: 8 } },
  ];
  log(`stories260K, targets ${TARGETS.join(',')}, ${steps} steps × batch ${batchSize} × ${seqLen} tokens (${steps * batchSize * seqLen} tokens), AdamW constant lr, seed 1`);
  log(`base validation loss ${base.toFixed(4)}`);
  log('');
  log('| run | trainable params | lr | val loss | Δ vs base | GPU MiB after setup |');
  log('|---|---:|---:|---:|---:|---:|');
  for (const c of configs) {
    const settings: TrainSettings = {
      method: c.method,
      lora: { rank: c.rank, alpha: 2 * c.rank, useRslora: false, dropout: 0, targets: TARGETS, initLoraWeights: 'default' },
      options: { regrowFraction: 0.3, regrowUntil: 0.75, ...c.options },
      steps, batchSize, seqLen, gradAccum: 1, lr: c.lr, warmupSteps: 0, schedule: 'constant',
      weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1, valEvery: steps, seed: 1,
    };
    const params = await s.trainableParameters(settings.lora, c.method, settings.options);
    const metrics: StepMetrics[] = [];
    let setupMiB = 0;
    const summary = await s.train(settings, (m) => {
      if (metrics.length === 0) setupMiB = s.memory().liveBytes / 2 ** 20;
      metrics.push(m);
    });
    const val = summary.finalValLoss ?? NaN;
    log(`| ${c.label} | ${params} | ${c.lr} | ${val.toFixed(4)} | ${(val - base).toFixed(4)} | ${setupMiB.toFixed(2)} |`);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench:sparse: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
