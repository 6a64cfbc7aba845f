/**
 * `webpeft train` flags → TrainSettings and the dataset options, with every mistake reported as a UsageError.
 * Pure (no GPU, no files), so the mapping is unit-tested on its own (test/cli/trainArgs.test.ts).
 */
import { resolve } from 'node:path';
import type { DatasetOptions, TrainSettings } from '../src/run/api';
import { type FlagReader, UsageError } from './args';
import { checkIa3Feedforward, defaultTargets, parseMethod, parseMethodOptions, refuseIgnoredLoraFlags } from './methodFlags';

/** The adapter files `train` writes: PEFT's format where the method has one, or webpeft's delta format. */
export const ADAPTER_FORMATS = ['peft', 'webpeft-delta'] as const;
export type AdapterFormat = (typeof ADAPTER_FORMATS)[number];

export interface TrainCommand {
  modelDir: string;
  dataPath: string;
  out: string;
  /** Also write the merged checkpoint (exportMerged) here. */
  mergedDir?: string;
  /** --format; undefined: the method's native export (PEFT's format where PEFT has the method). */
  adapterFormat?: AdapterFormat;
  /**
   * No --targets was given and the default depends on the model family (IA3): `settings.lora.targets` holds the
   * Llama family's until resolveModelDefaults sees the loaded model.
   */
  targetsFromModel: boolean;
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
  if (mergedDir !== undefined && resolve(mergedDir) === resolve(modelDir)) {
    throw new UsageError(`--merged ${mergedDir} is the --model folder: the merged checkpoint would overwrite the base; give another folder`);
  }
  const method = parseMethod(f);
  const rank = atLeast('rank', f.int('rank', 8), 1);
  const steps = atLeast('steps', f.int('steps', 100), 1);
  // Kaiming vs gaussian A only means something for plain LoRA; the other methods initialise from the weights.
  if (method !== 'lora' && f.has('init')) throw new UsageError(`--init applies to --method lora, not --method ${method}`);
  const options = parseMethodOptions(f, method, rank, steps);
  refuseIgnoredLoraFlags(f, method, options);
  const targetsGiven = f.has('targets');
  const adapterFormat = f.has('format') ? f.choice('format', ADAPTER_FORMATS, 'peft') : undefined;
  const settings: TrainSettings = {
    method,
    lora: {
      rank,
      alpha: f.number('alpha', 2 * rank),
      useRslora: f.bool('rslora'),
      dropout: f.number('dropout', 0),
      targets: targetsGiven ? f.list('targets', '') : defaultTargets(method),
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
  if (targetsGiven) checkIa3Feedforward(options.ia3FeedForward, settings.lora.targets);
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
    adapterFormat,
    targetsFromModel: method === 'ia3' && !targetsGiven,
    settings,
    dataset: { onBadLine, valFraction, seed: settings.seed, trainOnAllTokens, seqLen: settings.seqLen },
  };
}

/**
 * Fills in the defaults that depend on the loaded model (`ModelSummary.modelType`): IA3's targets per family.
 * Returns a line saying what it chose, or null when nothing depended on the model.
 */
export function resolveModelDefaults(cmd: TrainCommand, modelType: string): string | null {
  const { settings } = cmd;
  if (!cmd.targetsFromModel) return null;
  settings.lora.targets = defaultTargets(settings.method, modelType);
  cmd.targetsFromModel = false;
  checkIa3Feedforward(settings.options?.ia3FeedForward, settings.lora.targets);
  return `${settings.method}: targets ${settings.lora.targets.join(', ')} (PEFT's defaults for ${modelType}; --targets to choose)`;
}
