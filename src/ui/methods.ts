/**
 * The methods as the settings form presents them: a name and a one-line description each, which MethodOptions
 * fields matter to which method (so the form shows only those and the run receives only those), which of the
 * shared adapter fields (rank, alpha, dropout, targets) a method reads, and what its adapter downloads as.
 * Pure data, no React.
 */
import { METHOD_DEFAULTS, type MethodName, type MethodOptions } from '../run/api';

/**
 * lowrank: ΔW = B·A (the LoRA family and the SVD methods); sparse: individual entries of W (DSEE adds a LoRA);
 * vector: per-channel vectors, biases or norm weights.
 */
export type MethodKind = 'lowrank' | 'sparse' | 'vector';

export interface MethodInfo {
  label: string;
  description: string;
  kind: MethodKind;
  /** The Kaiming/gaussian choice of A: only methods that start A from random numbers (LoRA, DSEE's LoRA). */
  usesLoraInit: boolean;
}

export const METHOD_INFO: Record<MethodName, MethodInfo> = {
  lora: { label: 'LoRA', description: 'A low-rank update B·A beside each frozen weight; B starts at zero.', kind: 'lowrank', usesLoraInit: true },
  pissa: { label: 'PiSSA', description: 'A and B from the top-r singular triplets of W; the residual stays frozen.', kind: 'lowrank', usesLoraInit: false },
  milora: { label: 'MiLoRA', description: 'Like PiSSA with the r smallest singular triplets, leaving the principal ones intact.', kind: 'lowrank', usesLoraInit: false },
  olora: { label: 'OLoRA', description: 'A and B from a QR decomposition of W (Llama family only).', kind: 'lowrank', usesLoraInit: false },
  svfit: { label: 'SVFit', description: 'Trains only a shift Δσ of the leading singular values; rank per layer by energy.', kind: 'lowrank', usesLoraInit: false },
  sorsa: { label: 'SORSA', description: 'Trainable U, Σ, V from the top-r SVD, kept orthonormal by a regulariser.', kind: 'lowrank', usesLoraInit: false },
  loraxs: { label: 'LoRA-XS', description: 'Frozen A and B from the SVD; trains only a small r×r core.', kind: 'lowrank', usesLoraInit: false },
  lorasb: { label: 'LoRA-SB', description: 'An r×r core between frozen factors from the SVD of the first gradient.', kind: 'lowrank', usesLoraInit: false },
  eva: { label: 'EVA', description: 'A from the SVD of each layer’s inputs; ranks redistributed across layers.', kind: 'lowrank', usesLoraInit: false },
  adalora: { label: 'AdaLoRA', description: 'P·Λ·Q with an importance-driven budget that prunes the rank down to r.', kind: 'lowrank', usesLoraInit: false },
  sparse: {
    label: 'Sparse FT',
    description: 'Trains a fixed budget of single entries of each weight, pruning the smallest and regrowing where the gradient is large.',
    kind: 'sparse',
    usesLoraInit: false,
  },
  sara: { label: 'SaRA', description: 'Trains the entries of smallest |W| in each weight, re-selected once part-way.', kind: 'sparse', usesLoraInit: false },
  subnet: {
    label: 'Gradient subnet',
    description: 'Trains the entries with the largest accumulated |gradient| over a few calibration batches, fixed for the run.',
    kind: 'sparse',
    usesLoraInit: false,
  },
  dsee: { label: 'DSEE', description: 'Trains the entries of largest |W| in each weight plus a LoRA B·A of rank r beside them.', kind: 'sparse', usesLoraInit: true },
  bitfit: { label: 'BitFit', description: 'Trains only biases: of the target layers (added where missing) and of LayerNorms.', kind: 'vector', usesLoraInit: false },
  ia3: { label: 'IA3', description: 'Trains one vector per target layer scaling its output, or its input for feed-forward layers.', kind: 'vector', usesLoraInit: false },
  ssf: { label: 'SSF', description: 'Trains a per-channel scale and shift of each target layer’s output.', kind: 'vector', usesLoraInit: false },
  norms: { label: 'Norms only', description: 'Trains only the RMSNorm/LayerNorm weights (and LayerNorm biases) of the whole model.', kind: 'vector', usesLoraInit: false },
};

/** The methods whose runs stream sparsity snapshots (kept entries per layer, index-set updates). */
export function isSparseMethod(method: MethodName): boolean {
  return METHOD_INFO[method].kind === 'sparse';
}

const SVD: (keyof MethodOptions)[] = ['svd', 'powerIters'];

/** Which MethodOptions fields each method reads (AdaLoRA's target rank is the LoRA rank). */
export const METHOD_OPTION_KEYS: Record<MethodName, (keyof MethodOptions)[]> = {
  lora: [],
  pissa: SVD,
  milora: SVD,
  olora: [],
  svfit: [...SVD, 'svfitEnergy'],
  sorsa: [...SVD, 'sorsaGamma'],
  loraxs: SVD,
  lorasb: ['lorasbBatches'],
  eva: ['evaBatches', 'evaRho'],
  adalora: ['adaloraInitR', 'adaloraTinit', 'adaloraTfinal', 'adaloraDeltaT', 'adaloraBeta1', 'adaloraBeta2', 'adaloraOrthReg'],
  // A gradient-chosen first index set reads the calibration options of the subnetwork method.
  sparse: ['density', 'matchLoraRank', 'sparseInit', 'subnetBatches', 'subnetScore', 'regrowEvery', 'regrowFraction', 'regrowUntil', 'candidateFactor'],
  sara: ['saraFraction', 'saraReselectAt', 'saraNuclear', 'saraNuclearRank'],
  subnet: ['density', 'matchLoraRank', 'subnetBatches', 'subnetScore'],
  dsee: ['density'],
  bitfit: [],
  ia3: ['ia3FeedForward'],
  ssf: [],
  norms: [],
};

const REGROW_DETAILS: (keyof MethodOptions)[] = ['regrowFraction', 'regrowUntil', 'candidateFactor'];

/**
 * The fields of `options` the method reads given the others: power iterations only with the randomized SVD, the
 * density only without "match LoRA rank", sparse FT's calibration options only with a gradient-chosen first set,
 * and the regrowth details only when it regrows at all.
 */
export function relevantOptionKeys(method: MethodName, options: MethodOptions): (keyof MethodOptions)[] {
  const keys = METHOD_OPTION_KEYS[method];
  return keys.filter((k) => {
    if (k === 'powerIters') return options.svd === 'randomized';
    if (k === 'density' && keys.includes('matchLoraRank')) return !options.matchLoraRank;
    if ((k === 'subnetBatches' || k === 'subnetScore') && method === 'sparse') return options.sparseInit === 'gradient';
    if (REGROW_DETAILS.includes(k)) return options.regrowEvery !== 0;
    return true;
  });
}

export function relevantOptions(method: MethodName, options: MethodOptions): Partial<MethodOptions> {
  const out: Partial<MethodOptions> = {};
  for (const k of relevantOptionKeys(method, options)) (out as Record<string, unknown>)[k] = options[k];
  return out;
}

// ---------------------------------------------------------------- option fields

interface FieldBase {
  label: string;
  /** A short line under the field. */
  hint?: string;
  /** A longer explanation, as the field's tooltip. */
  title?: string;
}

export interface NumberOptionField extends FieldBase {
  kind: 'number';
  integer?: boolean;
  min: number;
  /** The lower bound itself is not allowed. */
  minOpen?: boolean;
  max?: number;
  maxOpen?: boolean;
}

/** A checkbox. */
export interface BooleanOptionField extends FieldBase {
  kind: 'boolean';
}

/** A select of fixed values. */
export interface ChoiceOptionField<V extends string = string> extends FieldBase {
  kind: 'choice';
  choices: readonly { value: V; label: string }[];
}

/** A list of names, edited as comma-separated text. */
export interface ListOptionField extends FieldBase {
  kind: 'list';
  minItems: number;
  placeholder?: string;
}

type FieldFor<V> = [V] extends [boolean]
  ? BooleanOptionField
  : [V] extends [number]
    ? NumberOptionField
    : [V] extends [readonly string[]]
      ? ListOptionField
      : [V] extends [string]
        ? ChoiceOptionField<V>
        : never;

/** The field of one option: its kind follows the option's type (number, boolean, one of some strings, list). */
export type OptionFieldFor<K extends keyof MethodOptions> = FieldFor<MethodOptions[K]> & { key: K };
export type OptionFields = { [K in keyof MethodOptions]: OptionFieldFor<K> };
export type OptionField = OptionFields[keyof MethodOptions];
export type NumericOptionKey = { [K in keyof MethodOptions]: MethodOptions[K] extends number ? K : never }[keyof MethodOptions];

/** Labels, kinds, ranges and hints of every option; validation and the form share them. */
export const OPTION_FIELDS: OptionFields = {
  svd: {
    key: 'svd',
    kind: 'choice',
    label: 'SVD',
    title: "Exact: PEFT's init_lora_weights='pissa'; randomized: 'pissa_niter_N' (faster on large layers)",
    choices: [
      { value: 'exact', label: 'Exact' },
      { value: 'randomized', label: 'Randomized' },
    ],
  },
  powerIters: { key: 'powerIters', kind: 'number', label: 'Power iterations', integer: true, min: 0, hint: 'PEFT pissa_niter_N' },
  svfitEnergy: { key: 'svfitEnergy', kind: 'number', label: 'Energy kept', min: 0, minOpen: true, max: 1, hint: 'fraction of Σσ² per layer' },
  sorsaGamma: { key: 'sorsaGamma', kind: 'number', label: 'Orthonormal γ', min: 0, hint: 'γ(‖UᵀU−I‖² + ‖VᵀV−I‖²)' },
  evaBatches: { key: 'evaBatches', kind: 'number', label: 'EVA batches', integer: true, min: 1, hint: 'of activations for the SVD' },
  evaRho: { key: 'evaRho', kind: 'number', label: 'EVA ρ', min: 1, hint: 'a layer’s rank may grow to ρ·r' },
  lorasbBatches: { key: 'lorasbBatches', kind: 'number', label: 'Gradient batches', integer: true, min: 1, hint: 'summed for the init' },
  adaloraInitR: { key: 'adaloraInitR', kind: 'number', label: 'Initial rank', integer: true, min: 1, hint: 'pruned down to r' },
  adaloraTinit: { key: 'adaloraTinit', kind: 'number', label: 'tinit', integer: true, min: 0, hint: 'steps before pruning' },
  adaloraTfinal: { key: 'adaloraTfinal', kind: 'number', label: 'tfinal', integer: true, min: 0, hint: 'final steps at rank r' },
  adaloraDeltaT: { key: 'adaloraDeltaT', kind: 'number', label: 'ΔT', integer: true, min: 1, hint: 'steps between budget updates' },
  adaloraBeta1: { key: 'adaloraBeta1', kind: 'number', label: 'β1 (importance)', min: 0, max: 1, maxOpen: true },
  adaloraBeta2: { key: 'adaloraBeta2', kind: 'number', label: 'β2 (uncertainty)', min: 0, max: 1, maxOpen: true },
  adaloraOrthReg: { key: 'adaloraOrthReg', kind: 'number', label: 'Orthogonal reg.', min: 0, hint: 'weight of ‖PᵀP−I‖ + ‖QQᵀ−I‖' },
  density: { key: 'density', kind: 'number', label: 'Density', min: 0, minOpen: true, max: 1, hint: 'fraction of each weight’s entries trained' },
  matchLoraRank: {
    key: 'matchLoraRank',
    kind: 'boolean',
    label: 'Match LoRA rank',
    hint: 'r·(in + out) entries per layer',
    title: "Keep r·(in + out) entries per layer (r = the rank above) instead of a density: LoRA's trainable count, and the budget PEFT's SHiRA format needs",
  },
  sparseInit: {
    key: 'sparseInit',
    kind: 'choice',
    label: 'First entries',
    title: 'How the first index set is chosen; prune-and-regrow moves it from there',
    choices: [
      { value: 'random', label: 'Random' },
      { value: 'gradient', label: 'Largest |gradient|' },
      { value: 'magnitude', label: 'Largest |W|' },
    ],
  },
  regrowEvery: { key: 'regrowEvery', kind: 'number', label: 'Regrow every', integer: true, min: 0, hint: 'steps between prune-and-regrow (0: never)' },
  regrowFraction: { key: 'regrowFraction', kind: 'number', label: 'Regrow fraction', min: 0, max: 1, hint: 'of the kept entries at the first update, cosine to 0' },
  regrowUntil: { key: 'regrowUntil', kind: 'number', label: 'Regrow until', min: 0, minOpen: true, max: 1, hint: 'fraction of the run; fixed after' },
  candidateFactor: { key: 'candidateFactor', kind: 'number', label: 'Candidates', min: 0, minOpen: true, hint: 'per kept entry, drawn afresh each interval' },
  saraFraction: { key: 'saraFraction', kind: 'number', label: 'Fraction trained', min: 0, minOpen: true, max: 1, hint: 'the smallest |W| of each weight' },
  saraReselectAt: { key: 'saraReselectAt', kind: 'number', label: 'Re-select at', min: 0, max: 1, maxOpen: true, hint: 'fraction of the run (0: never)' },
  saraNuclear: { key: 'saraNuclear', kind: 'number', label: 'Nuclear-norm λ', min: 0, hint: 'λ‖ΔW‖_* keeps the sparse update low-rank (0: off; an SVD per layer per step)' },
  saraNuclearRank: { key: 'saraNuclearRank', kind: 'number', label: 'Nuclear-norm rank', integer: true, min: 0, hint: 'top singular triplets in its gradient (0: all, exact SVD)' },
  subnetBatches: { key: 'subnetBatches', kind: 'number', label: 'Calibration batches', integer: true, min: 1, hint: 'gradients summed to pick the entries' },
  subnetScore: {
    key: 'subnetScore',
    kind: 'choice',
    label: 'Score',
    title: 'What the calibration gradients add up to per entry: Σ|g|, or Σg² (a diagonal Fisher estimate)',
    choices: [
      { value: 'abs', label: 'Σ|g|' },
      { value: 'fisher', label: 'Σg² (Fisher)' },
    ],
  },
  ia3FeedForward: {
    key: 'ia3FeedForward',
    kind: 'list',
    label: 'Feed-forward modules',
    minItems: 0,
    placeholder: 'down_proj, mlp.c_proj',
    hint: 'comma-separated; these scale their input, the others their output',
    title: "PEFT's feedforward_modules: target modules whose IA3 vector scales the layer's input (length in) instead of its output",
  },
};

/** "must be in (0, 1]" / "must be ≥ 1" / "must be a whole number ≥ 0", or null when `v` is fine. */
export function optionProblem(field: NumberOptionField, v: number): string | null {
  const lo = field.minOpen ? v > field.min : v >= field.min;
  const hi = field.max === undefined || (field.maxOpen ? v < field.max : v <= field.max);
  if (Number.isFinite(v) && lo && hi && (!field.integer || Number.isInteger(v))) return null;
  const range =
    field.max === undefined
      ? `${field.minOpen ? '>' : '≥'} ${field.min}`
      : `in ${field.minOpen ? '(' : '['}${field.min}, ${field.max}${field.maxOpen ? ')' : ']'}`;
  return `${field.label} must be ${field.integer ? 'a whole number ' : ''}${range}`;
}

/** A module name as PEFT matches it: dotted words, e.g. down_proj or mlp.c_proj. */
const MODULE_NAME = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/;

/** The comma-separated text of a list option as its items (blank items dropped). */
export function parseList(text: string): string[] {
  return text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

export function formatList(items: readonly string[]): string {
  return items.join(', ');
}

/** What is wrong with one option's value, of any kind, or null. */
export function optionValueProblem(key: keyof MethodOptions, value: unknown): string | null {
  const f: OptionField = OPTION_FIELDS[key];
  switch (f.kind) {
    case 'number':
      return typeof value === 'number' ? optionProblem(f, value) : `${f.label} must be a number`;
    case 'boolean':
      return typeof value === 'boolean' ? null : `${f.label} must be on or off`;
    case 'choice':
      return typeof value === 'string' && f.choices.some((c) => c.value === value) ? null : `${f.label} must be one of ${f.choices.map((c) => c.label).join(', ')}`;
    case 'list': {
      const items: unknown[] = Array.isArray(value) ? value : [];
      if (!Array.isArray(value) || !items.every((v): v is string => typeof v === 'string')) return `${f.label} must be a list of module names`;
      const bad = items.filter((v) => !MODULE_NAME.test(v));
      if (bad.length > 0) return `${f.label}: not a module name: ${bad.map((b) => `“${b}”`).join(', ')}`;
      if (items.length < f.minItems) return `${f.label} needs at least ${f.minItems} name${f.minItems === 1 ? '' : 's'}`;
      return null;
    }
  }
}

// ---------------------------------------------------------------- the shared adapter fields

/** Which LoRA-block fields (rank, alpha + rsLoRA, dropout, init of A, target modules) a method reads. */
export interface LoraUse {
  rank: boolean;
  alpha: boolean;
  dropout: boolean;
  init: boolean;
  targets: boolean;
  rankHint?: string;
}

export function loraUse(method: MethodName, options: Pick<MethodOptions, 'matchLoraRank'>): LoraUse {
  const info = METHOD_INFO[method];
  if (info.kind === 'lowrank') {
    const rankHint = method === 'adalora' ? 'target rank after pruning' : method === 'svfit' ? 'upper bound; energy decides' : undefined;
    return { rank: true, alpha: true, dropout: true, init: info.usesLoraInit, targets: true, rankHint };
  }
  switch (method) {
    case 'dsee':
      return { rank: true, alpha: true, dropout: true, init: true, targets: true, rankHint: 'of the LoRA beside the sparse part' };
    case 'sparse':
    case 'subnet':
      return { rank: options.matchLoraRank, alpha: false, dropout: false, init: false, targets: true, rankHint: 'r·(in + out) entries per layer' };
    case 'norms':
      return { rank: false, alpha: false, dropout: false, init: false, targets: false };
    default:
      return { rank: false, alpha: false, dropout: false, init: false, targets: true };
  }
}

export const NORMS_TARGETS_NOTE = 'Norms only trains every norm of the model: the target modules do not apply.';

// ---------------------------------------------------------------- what the adapter downloads as

export const SHIRA_NOTE =
  "PEFT SHiRA export needs K = r·(in+out) per layer: turn on 'match LoRA rank' (Llama-family models); otherwise the adapter downloads as a webpeft delta";
export const DELTA_NOTE =
  'PEFT has no format for this method: the adapter downloads as a webpeft delta (webpeft_delta.json + webpeft_delta.safetensors, documented in the README); the merged model always works.';

export type ExportFormat = 'peft' | 'webpeft-delta';

/**
 * The format the adapter should download as, from the run's settings (the export decides in the end: a sparse
 * budget that does not come out as one r·(in + out) on every layer is a delta too). GPT-2's Conv1D layers have no
 * PEFT SHiRA support.
 */
export function expectedExport(method: MethodName, options: Partial<MethodOptions>, modelType?: string): ExportFormat {
  const o = { ...METHOD_DEFAULTS, ...options };
  switch (method) {
    case 'sparse':
    case 'subnet':
      return o.matchLoraRank && modelType !== 'gpt2' ? 'peft' : 'webpeft-delta';
    case 'ia3':
      return 'peft';
    default:
      return METHOD_INFO[method].kind === 'lowrank' ? 'peft' : 'webpeft-delta';
  }
}

/** A line under the method's options on what its adapter downloads as, for the methods beyond LoRA's format. */
export function exportNote(method: MethodName, options: Partial<MethodOptions>, modelType?: string): string | null {
  const o = { ...METHOD_DEFAULTS, ...options };
  switch (method) {
    case 'sparse':
    case 'subnet':
      if (o.matchLoraRank && modelType === 'gpt2') return `${SHIRA_NOTE}. GPT-2's Conv1D layers have no PEFT SHiRA support, so here it downloads as a webpeft delta; the merged model always works.`;
      return `${SHIRA_NOTE}.`;
    case 'ia3':
      return "The adapter downloads as a PEFT IA3 adapter (PeftModel.from_pretrained), with the feed-forward modules that are among the targets as PEFT's feedforward_modules.";
    case 'sara':
    case 'dsee':
    case 'bitfit':
    case 'ssf':
    case 'norms':
      return DELTA_NOTE;
    default:
      return null;
  }
}
