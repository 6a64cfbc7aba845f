/**
 * `webpeft train` flags → TrainSettings and the dataset options, with every mistake reported as a UsageError.
 * Pure (no GPU, no files), so the mapping is unit-tested on its own (test/cli/trainArgs.test.ts).
 */
import type { DatasetOptions, TrainSettings } from '../src/run/api';
import { type FlagReader, UsageError } from './args';
import { parseMethod, parseMethodOptions } from './methodFlags';

export interface TrainCommand {
  modelDir: string;
  dataPath: string;
  out: string;
  /** Also write the merged checkpoint (exportMerged) here. */
  mergedDir?: string;
  settings: TrainSettings;
  dataset: DatasetOptions;
}

function atLeast(name: string, v: number, min: number): number {
  if (v < min) throw new UsageError(`--${name} must be ≥ ${min}, got ${v}`);
  return v;
}

export function parseTrainArgs(f: FlagReader): TrainCommand {
  const modelDir = f.string('model');
  const dataPath = f.string('data');
  const out = f.string('out');
  const mergedDir = f.optional('merged');
  const method = parseMethod(f);
  const rank = atLeast('rank', f.int('rank', 8), 1);
  const steps = atLeast('steps', f.int('steps', 100), 1);
  // Kaiming vs gaussian A only means something for plain LoRA; the other methods initialise from the weights.
  if (method !== 'lora' && f.has('init')) throw new UsageError(`--init applies to --method lora, not --method ${method}`);
  const options = parseMethodOptions(f, method, rank, steps);
  const settings: TrainSettings = {
    method,
    lora: {
      rank,
      alpha: f.number('alpha', 2 * rank),
      useRslora: f.bool('rslora'),
      dropout: f.number('dropout', 0),
      targets: f.list('targets', 'q_proj,v_proj'),
      initLoraWeights: f.choice('init', ['default', 'gaussian'] as const, 'default'),
    },
    steps,
    batchSize: atLeast('batch', f.int('batch', 4), 1),
    seqLen: atLeast('seq-len', f.int('seq-len', 128), 1),
    gradAccum: atLeast('grad-accum', f.int('grad-accum', 1), 1),
    lr: f.number('lr', 2e-4),
    warmupSteps: atLeast('warmup', f.int('warmup', 0), 0),
    schedule: f.choice('schedule', ['cosine', 'constant'] as const, 'cosine'),
    weightDecay: f.number('weight-decay', 0),
    beta1: f.number('beta1', 0.9),
    beta2: f.number('beta2', 0.999),
    eps: f.number('eps', 1e-8),
    maxGradNorm: f.number('max-grad-norm', 1),
    valEvery: atLeast('val-every', f.int('val-every', 0), 0),
    seed: f.int('seed', 42),
  };
  if (Object.keys(options).length > 0) settings.options = options;
  const spectraEvery = atLeast('spectra-every', f.int('spectra-every', 0), 0);
  if (spectraEvery > 0) settings.spectraEvery = spectraEvery;
  if (settings.lora.targets.length === 0) throw new UsageError('--targets needs at least one module name');
  if (!(settings.lr > 0)) throw new UsageError(`--lr must be > 0, got ${settings.lr}`);
  if (!(settings.lora.dropout >= 0 && settings.lora.dropout < 1)) throw new UsageError(`--dropout must be in [0, 1), got ${settings.lora.dropout}`);
  const valFraction = f.number('val-fraction', settings.valEvery > 0 ? 0.1 : 0);
  if (!(valFraction >= 0 && valFraction < 1)) throw new UsageError(`--val-fraction must be in [0, 1), got ${valFraction}`);
  const onBadLine = f.choice('on-bad-line', ['skip', 'refuse'] as const, 'skip');
  const trainOnAllTokens = f.bool('all-tokens');
  f.done();
  return {
    modelDir,
    dataPath,
    out,
    mergedDir,
    settings,
    dataset: { onBadLine, valFraction, seed: settings.seed, trainOnAllTokens, seqLen: settings.seqLen },
  };
}
