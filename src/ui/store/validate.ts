/** Checks the form can run before anything is sent to the worker. Messages are shown next to the Train button. */
import type { LoraSettings, MethodName, MethodOptions, ModelSummary } from '../../run/api';
import { METHOD_INFO, loraUse, optionValueProblem, relevantOptionKeys } from '../methods';
import { targetChoices, type DataOptions, type TrainOptions } from './defaults';

/** The form as the store holds it (SettingsSlice['settings']). */
export interface FormSettings {
  method: MethodName;
  options: MethodOptions;
  lora: LoraSettings;
  train: TrainOptions;
  data: DataOptions;
}

type ModelFacts = Pick<ModelSummary, 'maxPositions' | 'targetableModules' | 'modelType'>;

function positiveInt(problems: string[], label: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) problems.push(`${label} must be a whole number ≥ 1`);
}

function inRange(problems: string[], label: string, v: number, lo: number, hi: number, loOpen = false): void {
  const okLo = loOpen ? v > lo : v >= lo;
  if (!Number.isFinite(v) || !okLo || v > hi) problems.push(`${label} must be in ${loOpen ? '(' : '['}${lo}, ${hi}]`);
}

export function settingsProblems(settings: FormSettings, model?: ModelFacts): string[] {
  const { lora, train, data } = settings;
  const p: string[] = [];
  // Only the adapter fields the method reads: a hidden field must not block the run.
  const use = loraUse(settings.method, settings.options);
  if (use.rank) positiveInt(p, 'Rank', lora.rank);
  if (use.alpha) inRange(p, 'Alpha', lora.alpha, 0, 1e6, true);
  if (use.dropout) inRange(p, 'Dropout', lora.dropout, 0, 0.99);
  if (use.targets) {
    if (lora.targets.length === 0) p.push('Pick at least one target module');
    if (model) {
      const choices = targetChoices(model);
      const bad = lora.targets.filter((t) => !choices.includes(t));
      if (bad.length) p.push(`Not a module of this model: ${bad.join(', ')}`);
    }
  }
  positiveInt(p, 'Steps', train.steps);
  positiveInt(p, 'Batch size', train.batchSize);
  positiveInt(p, 'Sequence length', train.seqLen);
  if (model && model.maxPositions > 0 && train.seqLen > model.maxPositions) {
    p.push(`Sequence length must be ≤ ${model.maxPositions} (the model's maximum positions)`);
  }
  positiveInt(p, 'Gradient accumulation', train.gradAccum);
  inRange(p, 'Learning rate', train.lr, 0, 10, true);
  if (!Number.isInteger(train.warmupSteps) || train.warmupSteps < 0) p.push('Warmup must be a whole number ≥ 0');
  inRange(p, 'Weight decay', train.weightDecay, 0, 10);
  inRange(p, 'Beta 1', train.beta1, 0, 1);
  inRange(p, 'Beta 2', train.beta2, 0, 1);
  inRange(p, 'Epsilon', train.eps, 0, 1, true);
  inRange(p, 'Gradient clip', train.maxGradNorm, 0, 1e6);
  if (!Number.isInteger(train.valEvery) || train.valEvery < 0) p.push('Validate every must be a whole number ≥ 0');
  if (!Number.isInteger(train.seed) || train.seed < 0) p.push('Seed must be a whole number ≥ 0');
  if (!Number.isInteger(train.spectraEvery) || train.spectraEvery < 0) p.push('Spectra every must be a whole number ≥ 0');
  inRange(p, 'Validation fraction', data.valFraction, 0, 0.9);
  return p.concat(methodProblems(settings, model));
}

/** The chosen method's own options, and what it asks of the rank, the steps and the architecture. */
export function methodProblems(settings: Pick<FormSettings, 'method' | 'options' | 'lora' | 'train'>, model?: Pick<ModelSummary, 'modelType'>): string[] {
  const { method, options, lora, train } = settings;
  const p: string[] = [];
  for (const key of relevantOptionKeys(method, options)) {
    const problem = optionValueProblem(key, options[key]);
    if (problem) p.push(problem);
  }
  if (method === 'olora' && model?.modelType === 'gpt2') {
    p.push(`${METHOD_INFO.olora.label} needs a Llama-family model (PEFT has no GPT-2 support for it either)`);
  }
  if (method === 'adalora') {
    if (options.adaloraInitR < lora.rank) p.push(`AdaLoRA's initial rank (${options.adaloraInitR}) must be ≥ the rank r (${lora.rank}) it prunes down to`);
    if (options.adaloraTinit + options.adaloraTfinal >= train.steps) p.push('AdaLoRA: tinit + tfinal must be less than the steps');
  }
  return p;
}
