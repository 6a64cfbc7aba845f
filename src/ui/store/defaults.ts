/**
 * Default settings for a small model, and how they adapt to the loaded architecture. Pure functions, no React,
 * no worker: the store and the unit tests both use them.
 */
import { METHOD_DEFAULTS, type DatasetOptions, type LoraSettings, type MethodName, type MethodOptions, type ModelSummary, type TrainSettings } from '../../run/api';
import { relevantOptions } from '../methods';

/**
 * Everything in TrainSettings except the method, its options and its LoRA block, which the form edits separately.
 * The page always streams spectra, so spectraEvery is a plain number here (0: never).
 */
export type TrainOptions = Omit<TrainSettings, 'method' | 'lora' | 'options' | 'spectraEvery'> & { spectraEvery: number };
/** Dataset options the user picks; seed and seqLen come from the training settings. */
export type DataOptions = Pick<DatasetOptions, 'onBadLine' | 'valFraction' | 'trainOnAllTokens'>;

export const DEFAULT_METHOD: MethodName = 'lora';
export const DEFAULT_METHOD_OPTIONS: MethodOptions = METHOD_DEFAULTS;

export const DEFAULT_LORA: LoraSettings = {
  rank: 8,
  alpha: 16,
  useRslora: false,
  dropout: 0,
  targets: ['q_proj', 'v_proj'],
  initLoraWeights: 'default',
};

export const DEFAULT_TRAIN: TrainOptions = {
  steps: 60,
  batchSize: 4,
  seqLen: 64,
  gradAccum: 1,
  lr: 2e-3,
  warmupSteps: 5,
  schedule: 'cosine',
  weightDecay: 0,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  maxGradNorm: 1,
  valEvery: 10,
  seed: 42,
  spectraEvery: 10,
};

export const DEFAULT_DATA: DataOptions = {
  onBadLine: 'skip',
  valFraction: 0.1,
  trainOnAllTokens: false,
};

/**
 * The attention projections PEFT targets by default for each family: query and value. GPT-2 fuses q, k and v
 * into one `c_attn`; Llama/Mistral/Qwen2 keep `q_proj` and `v_proj`.
 */
const PREFERRED_TARGETS: string[][] = [['q_proj', 'v_proj'], ['c_attn'], ['query_key_value'], ['qkv_proj']];

export function defaultTargets(model: Pick<ModelSummary, 'targetableModules'>): string[] {
  const available = new Set(model.targetableModules);
  for (const group of PREFERRED_TARGETS) {
    const hit = group.filter((t) => available.has(t));
    if (hit.length > 0) return hit;
  }
  return model.targetableModules.slice(0, 1);
}

/** Settings adjusted to a newly loaded model: default targets, and a sequence length it can hold. */
export function settingsForModel(
  model: Pick<ModelSummary, 'targetableModules' | 'maxPositions'>,
  lora: LoraSettings,
  train: TrainOptions,
): { lora: LoraSettings; train: TrainOptions } {
  const available = new Set(model.targetableModules);
  const kept = lora.targets.filter((t) => available.has(t));
  const targets = kept.length === lora.targets.length && kept.length > 0 ? kept : defaultTargets(model);
  const seqLen = model.maxPositions > 0 ? Math.min(train.seqLen, model.maxPositions) : train.seqLen;
  return { lora: { ...lora, targets }, train: { ...train, seqLen } };
}

/** What the form holds, as the run API takes it: only the options the method reads travel with it. */
export function toTrainSettings(method: MethodName, options: MethodOptions, lora: LoraSettings, train: TrainOptions): TrainSettings {
  return { method, options: relevantOptions(method, options), lora: { ...lora, targets: [...lora.targets] }, ...train };
}

export function toDatasetOptions(data: DataOptions, train: TrainOptions): DatasetOptions {
  return { ...data, seed: train.seed, seqLen: train.seqLen };
}
