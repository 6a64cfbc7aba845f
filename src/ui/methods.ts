/**
 * The methods as the settings form presents them: a name and a one-line description each, and which MethodOptions
 * fields matter to which method, so the form shows only those and the run receives only those. Pure data, no React.
 */
import type { MethodName, MethodOptions } from '../run/api';

export interface MethodInfo {
  label: string;
  description: string;
  /** The Kaiming/gaussian choice of A: only plain LoRA starts from random factors the person picks. */
  usesLoraInit: boolean;
}

export const METHOD_INFO: Record<MethodName, MethodInfo> = {
  lora: { label: 'LoRA', description: 'A low-rank update B·A beside each frozen weight; B starts at zero.', usesLoraInit: true },
  pissa: { label: 'PiSSA', description: 'A and B from the top-r singular triplets of W; the residual stays frozen.', usesLoraInit: false },
  milora: { label: 'MiLoRA', description: 'Like PiSSA with the r smallest singular triplets, leaving the principal ones intact.', usesLoraInit: false },
  olora: { label: 'OLoRA', description: 'A and B from a QR decomposition of W (Llama family only).', usesLoraInit: false },
  svfit: { label: 'SVFit', description: 'Trains only a shift Δσ of the leading singular values; rank per layer by energy.', usesLoraInit: false },
  sorsa: { label: 'SORSA', description: 'Trainable U, Σ, V from the top-r SVD, kept orthonormal by a regulariser.', usesLoraInit: false },
  loraxs: { label: 'LoRA-XS', description: 'Frozen A and B from the SVD; trains only a small r×r core.', usesLoraInit: false },
  lorasb: { label: 'LoRA-SB', description: 'An r×r core between frozen factors from the SVD of the first gradient.', usesLoraInit: false },
  eva: { label: 'EVA', description: 'A from the SVD of each layer’s inputs; ranks redistributed across layers.', usesLoraInit: false },
  adalora: { label: 'AdaLoRA', description: 'P·Λ·Q with an importance-driven budget that prunes the rank down to r.', usesLoraInit: false },
};

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
};

/** The fields of `options` the method reads; power iterations only with the randomized SVD. */
export function relevantOptionKeys(method: MethodName, options: Pick<MethodOptions, 'svd'>): (keyof MethodOptions)[] {
  return METHOD_OPTION_KEYS[method].filter((k) => k !== 'powerIters' || options.svd === 'randomized');
}

export function relevantOptions(method: MethodName, options: MethodOptions): Partial<MethodOptions> {
  const out: Partial<MethodOptions> = {};
  for (const k of relevantOptionKeys(method, options)) (out as Record<string, unknown>)[k] = options[k];
  return out;
}

export type NumericOptionKey = Exclude<keyof MethodOptions, 'svd'>;

export interface OptionField {
  key: NumericOptionKey;
  label: string;
  integer?: boolean;
  min: number;
  /** The lower bound itself is not allowed. */
  minOpen?: boolean;
  max?: number;
  maxOpen?: boolean;
  hint?: string;
}

/** Labels, ranges and hints of the numeric options; validation and the form share them. */
export const OPTION_FIELDS: Record<NumericOptionKey, OptionField> = {
  powerIters: { key: 'powerIters', label: 'Power iterations', integer: true, min: 0, hint: 'PEFT pissa_niter_N' },
  svfitEnergy: { key: 'svfitEnergy', label: 'Energy kept', min: 0, minOpen: true, max: 1, hint: 'fraction of Σσ² per layer' },
  sorsaGamma: { key: 'sorsaGamma', label: 'Orthonormal γ', min: 0, hint: 'γ(‖UᵀU−I‖² + ‖VᵀV−I‖²)' },
  evaBatches: { key: 'evaBatches', label: 'EVA batches', integer: true, min: 1, hint: 'of activations for the SVD' },
  evaRho: { key: 'evaRho', label: 'EVA ρ', min: 1, hint: 'a layer’s rank may grow to ρ·r' },
  lorasbBatches: { key: 'lorasbBatches', label: 'Gradient batches', integer: true, min: 1, hint: 'summed for the init' },
  adaloraInitR: { key: 'adaloraInitR', label: 'Initial rank', integer: true, min: 1, hint: 'pruned down to r' },
  adaloraTinit: { key: 'adaloraTinit', label: 'tinit', integer: true, min: 0, hint: 'steps before pruning' },
  adaloraTfinal: { key: 'adaloraTfinal', label: 'tfinal', integer: true, min: 0, hint: 'final steps at rank r' },
  adaloraDeltaT: { key: 'adaloraDeltaT', label: 'ΔT', integer: true, min: 1, hint: 'steps between budget updates' },
  adaloraBeta1: { key: 'adaloraBeta1', label: 'β1 (importance)', min: 0, max: 1, maxOpen: true },
  adaloraBeta2: { key: 'adaloraBeta2', label: 'β2 (uncertainty)', min: 0, max: 1, maxOpen: true },
  adaloraOrthReg: { key: 'adaloraOrthReg', label: 'Orthogonal reg.', min: 0, hint: 'weight of ‖PᵀP−I‖ + ‖QQᵀ−I‖' },
};

/** "must be in (0, 1]" / "must be ≥ 1" / "must be a whole number ≥ 0", or null when `v` is fine. */
export function optionProblem(field: OptionField, v: number): string | null {
  const lo = field.minOpen ? v > field.min : v >= field.min;
  const hi = field.max === undefined || (field.maxOpen ? v < field.max : v <= field.max);
  if (Number.isFinite(v) && lo && hi && (!field.integer || Number.isInteger(v))) return null;
  const range =
    field.max === undefined
      ? `${field.minOpen ? '>' : '≥'} ${field.min}`
      : `in ${field.minOpen ? '(' : '['}${field.min}, ${field.max}${field.maxOpen ? ')' : ']'}`;
  return `${field.label} must be ${field.integer ? 'a whole number ' : ''}${range}`;
}
