/**
 * `train --method M` and its hyperparameters: one kebab-case flag per MethodOptions field. Each flag names the
 * methods it applies to, so a flag given to a method that would ignore it is refused instead of silently dropped.
 */
import { METHOD_DEFAULTS, METHOD_NAMES, type MethodName, type MethodOptions } from '../src/run/api';
import { type FlagReader, UsageError } from './args';

type OptionKey = keyof MethodOptions;
type KeysOf<V> = { [K in OptionKey]: MethodOptions[K] extends V ? K : never }[OptionKey];
type NumericKey = KeysOf<number>;
type SwitchKey = KeysOf<boolean>;
type ListKey = KeysOf<string[]>;
type ChoiceKey = KeysOf<string>;

interface FlagBase {
  flag: string;
  methods: readonly MethodName[];
}

export interface NumericFlag extends FlagBase {
  kind: 'number';
  key: NumericKey;
  integer: boolean;
  /** Allowed range; an open end excludes the bound itself. */
  min: number;
  minOpen?: boolean;
  max?: number;
  maxOpen?: boolean;
}

export interface ChoiceFlag extends FlagBase {
  kind: 'choice';
  key: ChoiceKey;
  values: readonly string[];
}

/** A switch: `--match-lora-rank` (or `--match-lora-rank=false`). */
export interface SwitchFlag extends FlagBase {
  kind: 'switch';
  key: SwitchKey;
}

/** Comma-separated names: `--ia3-feedforward down_proj,mlp.c_proj`. */
export interface ListFlag extends FlagBase {
  kind: 'list';
  key: ListKey;
}

export type MethodFlag = NumericFlag | ChoiceFlag | SwitchFlag | ListFlag;

/** The methods that start from an SVD of the weight (exact, or randomized with power iterations). */
export const SVD_METHODS: readonly MethodName[] = ['pissa', 'milora', 'svfit', 'sorsa', 'loraxs'];
const ADALORA: readonly MethodName[] = ['adalora'];
/** Methods whose budget is a density of each target weight (or r·(in + out) with --match-lora-rank). */
export const DENSITY_METHODS: readonly MethodName[] = ['sparse', 'subnet', 'dsee'];
/** Sparse FT (SpIEL): the only method with a prune-and-regrow schedule and a choice of initial entries. */
const SPARSE: readonly MethodName[] = ['sparse'];
/** Calibration-gradient selection: subnet always, sparse with --sparse-init gradient. */
const GRADIENT_SELECTION: readonly MethodName[] = ['subnet', 'sparse'];

/**
 * Methods without low-rank factors: LoRA's alpha, rsLoRA and dropout mean nothing to them, and the rank only to
 * the density methods under --match-lora-rank. (DSEE has a LoRA part, so it keeps every LoRA flag.)
 */
export const NO_FACTOR_METHODS: readonly MethodName[] = ['sparse', 'sara', 'subnet', 'bitfit', 'ia3', 'ssf', 'norms'];

function choice<K extends ChoiceKey>(flag: string, key: K, values: readonly MethodOptions[K][], methods: readonly MethodName[]): ChoiceFlag {
  return { kind: 'choice', flag, key, values, methods };
}

function num(flag: string, key: NumericKey, integer: boolean, methods: readonly MethodName[], range: Pick<NumericFlag, 'min' | 'minOpen' | 'max' | 'maxOpen'>): NumericFlag {
  return { kind: 'number', flag, key, integer, methods, ...range };
}

/** Every MethodOptions field's flag, in the order the usage text lists them. */
export const METHOD_FLAGS: readonly MethodFlag[] = [
  choice('svd', 'svd', ['exact', 'randomized'], SVD_METHODS),
  num('power-iters', 'powerIters', true, SVD_METHODS, { min: 0 }),
  num('svfit-energy', 'svfitEnergy', false, ['svfit'], { min: 0, minOpen: true, max: 1 }),
  num('sorsa-gamma', 'sorsaGamma', false, ['sorsa'], { min: 0 }),
  num('eva-batches', 'evaBatches', true, ['eva'], { min: 1 }),
  num('eva-rho', 'evaRho', false, ['eva'], { min: 1 }),
  num('lorasb-batches', 'lorasbBatches', true, ['lorasb'], { min: 1 }),
  num('adalora-init-r', 'adaloraInitR', true, ADALORA, { min: 1 }),
  num('adalora-tinit', 'adaloraTinit', true, ADALORA, { min: 0 }),
  num('adalora-tfinal', 'adaloraTfinal', true, ADALORA, { min: 0 }),
  num('adalora-delta-t', 'adaloraDeltaT', true, ADALORA, { min: 1 }),
  num('adalora-beta1', 'adaloraBeta1', false, ADALORA, { min: 0, max: 1, maxOpen: true }),
  num('adalora-beta2', 'adaloraBeta2', false, ADALORA, { min: 0, max: 1, maxOpen: true }),
  num('adalora-orth-reg', 'adaloraOrthReg', false, ADALORA, { min: 0 }),
  num('density', 'density', false, DENSITY_METHODS, { min: 0, minOpen: true, max: 1 }),
  { kind: 'switch', flag: 'match-lora-rank', key: 'matchLoraRank', methods: DENSITY_METHODS },
  choice('sparse-init', 'sparseInit', ['random', 'gradient', 'magnitude'], SPARSE),
  num('regrow-every', 'regrowEvery', true, SPARSE, { min: 0 }),
  num('regrow-fraction', 'regrowFraction', false, SPARSE, { min: 0, max: 1 }),
  num('regrow-until', 'regrowUntil', false, SPARSE, { min: 0, max: 1 }),
  num('candidate-factor', 'candidateFactor', false, SPARSE, { min: 0, minOpen: true }),
  num('sara-fraction', 'saraFraction', false, ['sara'], { min: 0, minOpen: true, max: 1 }),
  num('sara-reselect-at', 'saraReselectAt', false, ['sara'], { min: 0, max: 1, maxOpen: true }),
  num('sara-nuclear', 'saraNuclear', false, ['sara'], { min: 0 }),
  num('sara-nuclear-rank', 'saraNuclearRank', true, ['sara'], { min: 0 }),
  num('subnet-batches', 'subnetBatches', true, GRADIENT_SELECTION, { min: 1 }),
  choice('subnet-score', 'subnetScore', ['abs', 'fisher'], GRADIENT_SELECTION),
  { kind: 'list', flag: 'ia3-feedforward', key: 'ia3FeedForward', methods: ['ia3'] },
];

/** The numeric flags alone (kept for callers that list them). */
export const NUMERIC_FLAGS: readonly NumericFlag[] = METHOD_FLAGS.filter((f): f is NumericFlag => f.kind === 'number');

function methodList(methods: readonly MethodName[]): string {
  return methods.map((m) => `--method ${m}`).join(', ');
}

function rangeText(f: NumericFlag): string {
  const lo = `${f.minOpen ? '(' : '['}${f.min}`;
  return f.max === undefined ? `${f.minOpen ? '>' : '≥'} ${f.min}` : `in ${lo}, ${f.max}${f.maxOpen ? ')' : ']'}`;
}

function readNumeric(f: FlagReader, spec: NumericFlag): number {
  const v = spec.integer ? f.int(spec.flag) : f.number(spec.flag);
  const okLo = spec.minOpen ? v > spec.min : v >= spec.min;
  const okHi = spec.max === undefined || (spec.maxOpen ? v < spec.max : v <= spec.max);
  if (!okLo || !okHi) throw new UsageError(`--${spec.flag} must be ${rangeText(spec)}, got ${v}`);
  return v;
}

/** The flag's value as the MethodOptions field holds it. */
function readFlag(f: FlagReader, spec: MethodFlag): number | string | boolean | string[] {
  switch (spec.kind) {
    case 'number':
      return readNumeric(f, spec);
    case 'choice':
      return f.choice(spec.flag, spec.values, spec.values[0]);
    case 'switch':
      return f.bool(spec.flag);
    case 'list':
      // `--ia3-feedforward=` (empty) is an empty list: every target scales its output.
      return f.list(spec.flag, '');
  }
}

export function parseMethod(f: FlagReader): MethodName {
  const v = f.string('method', 'lora');
  const hit = METHOD_NAMES.find((m) => m === v);
  if (hit === undefined) throw new UsageError(`--method must be one of ${METHOD_NAMES.join(', ')}; got "${v}"`);
  return hit;
}

/**
 * The MethodOptions given on the command line (only those; the session fills in METHOD_DEFAULTS), checked against
 * the method and against each other. `rank` and `steps` are needed for AdaLoRA's budget checks.
 */
export function parseMethodOptions(f: FlagReader, method: MethodName, rank: number, steps: number): Partial<MethodOptions> {
  const options: Partial<MethodOptions> = {};
  const given = new Set<string>();
  const refuse = (flag: string, methods: readonly MethodName[]) => {
    throw new UsageError(`--${flag} applies to ${methodList(methods)}, not --method ${method}`);
  };
  for (const spec of METHOD_FLAGS) {
    if (!f.has(spec.flag)) continue;
    if (!spec.methods.includes(method)) refuse(spec.flag, spec.methods);
    (options as Record<OptionKey, unknown>)[spec.key] = readFlag(f, spec);
    given.add(spec.flag);
  }
  if (options.powerIters !== undefined && options.svd !== 'randomized') {
    throw new UsageError('--power-iters applies to --svd randomized (the exact SVD has no power iterations)');
  }
  if (method === 'adalora') {
    const o = { ...METHOD_DEFAULTS, ...options };
    if (o.adaloraInitR < rank) throw new UsageError(`--adalora-init-r (${o.adaloraInitR}) must be ≥ --rank (${rank}), the rank AdaLoRA prunes down to`);
    if (o.adaloraTinit + o.adaloraTfinal >= steps) {
      throw new UsageError(`--adalora-tinit + --adalora-tfinal (${o.adaloraTinit} + ${o.adaloraTfinal}) must be less than --steps (${steps}): the budget has to shrink somewhere in between`);
    }
  }
  if (given.has('density') && options.matchLoraRank === true) {
    throw new UsageError('--density and --match-lora-rank are exclusive: --match-lora-rank keeps r·(in + out) entries per layer (r = --rank) instead of a density');
  }
  if (method === 'sparse') {
    const init = options.sparseInit ?? METHOD_DEFAULTS.sparseInit;
    for (const flag of ['subnet-batches', 'subnet-score']) {
      if (given.has(flag) && init !== 'gradient') {
        throw new UsageError(`--${flag} applies to --method subnet and to --method sparse with --sparse-init gradient, not --sparse-init ${init}`);
      }
    }
    if (options.regrowEvery === 0) {
      for (const flag of ['regrow-fraction', 'regrow-until', 'candidate-factor']) {
        if (given.has(flag)) throw new UsageError(`--${flag} has no effect with --regrow-every 0 (the index set never changes)`);
      }
    }
  }
  return options;
}

/**
 * LoRA flags the method would ignore: alpha/rsLoRA/dropout for methods without low-rank factors, the rank where
 * nothing reads it, the targets for norm-only training. Call before reading those flags.
 */
export function refuseIgnoredLoraFlags(f: FlagReader, method: MethodName, options: Partial<MethodOptions>): void {
  if (!NO_FACTOR_METHODS.includes(method)) return;
  for (const flag of ['alpha', 'rslora', 'dropout']) {
    if (f.has(flag)) throw new UsageError(`--${flag} has no effect with --method ${method} (it has no low-rank factors)`);
  }
  if (f.has('rank') && !(DENSITY_METHODS.includes(method) && options.matchLoraRank === true)) {
    const why = DENSITY_METHODS.includes(method) ? 'the budget is --density unless --match-lora-rank is given' : 'it has no low-rank factors';
    throw new UsageError(`--rank has no effect with --method ${method} (${why})`);
  }
  if (method === 'norms' && f.has('targets')) throw new UsageError('--targets has no effect with --method norms (it trains every norm weight)');
}

/** PEFT's IA3 target and feed-forward modules (TRANSFORMERS_MODELS_TO_IA3_*_MAPPING) for GPT-2 and the Llama family. */
export const IA3_DEFAULT_TARGETS = {
  gpt2: ['c_attn', 'mlp.c_proj'],
  llama: ['k_proj', 'v_proj', 'down_proj'],
} as const;

/** The CLI's LoRA default targets; every method but IA3 uses them when --targets is not given. */
export const LORA_DEFAULT_TARGETS = ['q_proj', 'v_proj'] as const;

/**
 * Default --targets for a method and model family (`ModelSummary.modelType`). IA3 follows PEFT's defaults per
 * family; without the family (before the model is loaded), the Llama family's.
 */
export function defaultTargets(method: MethodName, modelType?: string): string[] {
  if (method === 'ia3') return [...(modelType === 'gpt2' ? IA3_DEFAULT_TARGETS.gpt2 : IA3_DEFAULT_TARGETS.llama)];
  return [...LORA_DEFAULT_TARGETS];
}

/**
 * PEFT requires IA3's feedforward_modules ⊆ target_modules. Module names match by suffix, so a feed-forward name
 * is covered when it and some target name end one in the other (`c_proj` against `mlp.c_proj`). Returns the names
 * no target covers.
 */
export function uncoveredFeedforward(feedforward: readonly string[], targets: readonly string[]): string[] {
  return feedforward.filter((ff) => !targets.some((t) => t.endsWith(ff) || ff.endsWith(t)));
}

export function checkIa3Feedforward(feedforward: readonly string[] | undefined, targets: readonly string[]): void {
  if (feedforward === undefined) return;
  const bad = uncoveredFeedforward(feedforward, targets);
  if (bad.length > 0) {
    throw new UsageError(`--ia3-feedforward names ${bad.map((b) => `"${b}"`).join(', ')}, not among the targets (${targets.join(', ')}): PEFT requires feedforward_modules ⊆ target_modules`);
  }
}
