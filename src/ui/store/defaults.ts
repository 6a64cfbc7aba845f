/**
 * Default settings for a small model, and how they adapt to the loaded architecture. Pure functions, no React,
 * no worker: the store and the unit tests both use them.
 */
import { METHOD_DEFAULTS, type DatasetOptions, type LoraSettings, type MethodName, type MethodOptions, type ModelSummary, type TrainSettings } from '../../run/api';
import { loraUse, relevantOptions } from '../methods';

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

/**
 * PEFT's default IA3 targets per family (TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING): keys, values and the
 * MLP's down projection for the Llama family; the fused attention input and the MLP's output projection for GPT-2.
 */
const IA3_TARGETS: string[][] = [['k_proj', 'v_proj', 'down_proj'], ['c_attn', 'mlp.c_proj']];

/**
 * Module names that are ambiguous on their own (GPT-2's attention and MLP both end in c_proj), offered also with
 * their parent so a target can pick one of them, as PEFT's suffix matching allows.
 */
const QUALIFIED_TARGETS: Record<string, string[]> = { c_proj: ['attn.c_proj', 'mlp.c_proj'] };

/** The target module names the picker offers for a model: its module names, and the qualified ones above. */
export function targetChoices(model: Pick<ModelSummary, 'targetableModules'>): string[] {
  return model.targetableModules.flatMap((m) => [m, ...(QUALIFIED_TARGETS[m] ?? [])]);
}

function firstGroupOf(groups: string[][], model: Pick<ModelSummary, 'targetableModules'>): string[] | undefined {
  const available = new Set(targetChoices(model));
  for (const group of groups) {
    const hit = group.filter((t) => available.has(t));
    if (hit.length === group.length || (groups === PREFERRED_TARGETS && hit.length > 0)) return hit;
  }
  return undefined;
}

export function defaultTargets(model: Pick<ModelSummary, 'targetableModules'>): string[] {
  return firstGroupOf(PREFERRED_TARGETS, model) ?? model.targetableModules.slice(0, 1);
}

/** The targets a method starts with: PEFT's IA3 defaults for IA3, query and value for the others. */
export function defaultTargetsFor(method: MethodName, model?: Pick<ModelSummary, 'targetableModules'>): string[] {
  if (method === 'ia3') return model ? (firstGroupOf(IA3_TARGETS, model) ?? defaultTargets(model)) : [...IA3_TARGETS[0]];
  return model ? defaultTargets(model) : [...DEFAULT_LORA.targets];
}

/** Whether every target is one the model offers (and there is at least one). */
export function targetsFit(targets: readonly string[], model: Pick<ModelSummary, 'targetableModules'>): boolean {
  const available = new Set(targetChoices(model));
  return targets.length > 0 && targets.every((t) => available.has(t));
}

/** Settings adjusted to a newly loaded model: the method's default targets, and a sequence length it can hold. */
export function settingsForModel(
  model: Pick<ModelSummary, 'targetableModules' | 'maxPositions'>,
  lora: LoraSettings,
  train: TrainOptions,
  method: MethodName = DEFAULT_METHOD,
): { lora: LoraSettings; train: TrainOptions } {
  const targets = targetsFit(lora.targets, model) ? lora.targets : defaultTargetsFor(method, model);
  const seqLen = model.maxPositions > 0 ? Math.min(train.seqLen, model.maxPositions) : train.seqLen;
  return { lora: { ...lora, targets }, train: { ...train, seqLen } };
}

/**
 * What the form holds, as the run API takes it: only the options the method reads travel with it, and the LoRA
 * fields a method does not read go as the defaults (the engine checks the whole LoRA block whatever the method,
 * and a hidden field the person left half-typed must not fail the run).
 */
export function toTrainSettings(method: MethodName, options: MethodOptions, lora: LoraSettings, train: TrainOptions): TrainSettings {
  const use = loraUse(method, options);
  const sent: LoraSettings = {
    ...lora,
    rank: use.rank ? lora.rank : DEFAULT_LORA.rank,
    alpha: use.alpha ? lora.alpha : DEFAULT_LORA.alpha,
    useRslora: use.alpha ? lora.useRslora : DEFAULT_LORA.useRslora,
    dropout: use.dropout ? lora.dropout : DEFAULT_LORA.dropout,
    targets: [...lora.targets],
  };
  return { method, options: relevantOptions(method, options), lora: sent, ...train };
}

export function toDatasetOptions(data: DataOptions, train: TrainOptions): DatasetOptions {
  return { ...data, seed: train.seed, seqLen: train.seqLen };
}
