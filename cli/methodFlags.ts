/**
 * `train --method M` and its hyperparameters: one kebab-case flag per MethodOptions field. Each flag names the
 * methods it applies to, so a flag given to a method that would ignore it is refused instead of silently dropped.
 */
import { METHOD_DEFAULTS, METHOD_NAMES, type MethodName, type MethodOptions } from '../src/run/api';
import { type FlagReader, UsageError } from './args';

type NumericKey = Exclude<keyof MethodOptions, 'svd'>;

interface NumericFlag {
  flag: string;
  key: NumericKey;
  integer: boolean;
  /** Allowed range; an open end excludes the bound itself. */
  min: number;
  minOpen?: boolean;
  max?: number;
  maxOpen?: boolean;
  methods: readonly MethodName[];
}

/** The methods that start from an SVD of the weight (exact, or randomized with power iterations). */
export const SVD_METHODS: readonly MethodName[] = ['pissa', 'milora', 'svfit', 'sorsa', 'loraxs'];
const ADALORA: readonly MethodName[] = ['adalora'];

export const NUMERIC_FLAGS: readonly NumericFlag[] = [
  { flag: 'power-iters', key: 'powerIters', integer: true, min: 0, methods: SVD_METHODS },
  { flag: 'svfit-energy', key: 'svfitEnergy', integer: false, min: 0, minOpen: true, max: 1, methods: ['svfit'] },
  { flag: 'sorsa-gamma', key: 'sorsaGamma', integer: false, min: 0, methods: ['sorsa'] },
  { flag: 'eva-batches', key: 'evaBatches', integer: true, min: 1, methods: ['eva'] },
  { flag: 'eva-rho', key: 'evaRho', integer: false, min: 1, methods: ['eva'] },
  { flag: 'lorasb-batches', key: 'lorasbBatches', integer: true, min: 1, methods: ['lorasb'] },
  { flag: 'adalora-init-r', key: 'adaloraInitR', integer: true, min: 1, methods: ADALORA },
  { flag: 'adalora-tinit', key: 'adaloraTinit', integer: true, min: 0, methods: ADALORA },
  { flag: 'adalora-tfinal', key: 'adaloraTfinal', integer: true, min: 0, methods: ADALORA },
  { flag: 'adalora-delta-t', key: 'adaloraDeltaT', integer: true, min: 1, methods: ADALORA },
  { flag: 'adalora-beta1', key: 'adaloraBeta1', integer: false, min: 0, max: 1, maxOpen: true, methods: ADALORA },
  { flag: 'adalora-beta2', key: 'adaloraBeta2', integer: false, min: 0, max: 1, maxOpen: true, methods: ADALORA },
  { flag: 'adalora-orth-reg', key: 'adaloraOrthReg', integer: false, min: 0, methods: ADALORA },
];

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
  const refuse = (flag: string, methods: readonly MethodName[]) => {
    throw new UsageError(`--${flag} applies to ${methodList(methods)}, not --method ${method}`);
  };
  if (f.has('svd')) {
    if (!SVD_METHODS.includes(method)) refuse('svd', SVD_METHODS);
    options.svd = f.choice('svd', ['exact', 'randomized'] as const, 'exact');
  }
  for (const spec of NUMERIC_FLAGS) {
    if (!f.has(spec.flag)) continue;
    if (!spec.methods.includes(method)) refuse(spec.flag, spec.methods);
    options[spec.key] = readNumeric(f, spec);
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
  return options;
}
