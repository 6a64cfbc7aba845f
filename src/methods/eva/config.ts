/**
 * EVA (Explained Variance Adaptation, Paischer et al. 2024) configuration, with PEFT's EvaConfig defaults and
 * meaning (peft/tuners/lora/config.py, peft/tuners/lora/eva.py):
 *   rho = 2.0      a layer's rank may grow up to round(rho · r) (Python's round: half to even)
 *   whiten = False A rows are the unit-norm right singular vectors (not divided by √σ)
 *   adjust_scaling_factors = True   a layer whose rank moved from r to r_l gets lora_alpha · r_l / r, so its
 *                  scaling alpha_l / r_l equals alpha / r (with rsLoRA alpha_l / √r_l = alpha √r_l / r)
 *   tau = 0.99     PEFT's convergence threshold of its incremental PCA; not used here (see attach.ts: we fit the
 *                  exact PCA of a fixed number of batches instead of iterating until the components settle).
 * The eigen-decomposition of each layer's scatter matrix follows MethodOptions.svd: 'exact' (Jacobi, default) or
 * 'randomized' (Halko et al. with MethodOptions.powerIters subspace iterations, as PEFT's IncrementalPCA uses
 * torch.svd_lowrank), which is much cheaper for wide layers.
 * The rank budget is Σ r over the targeted layers (r × #layers: LoraSettings has no rank_pattern).
 */
import type { LoraSettings, MethodOptions } from '../../run/api';
import type { LoraConfig } from '../lora/config';
import { validateLoraConfig } from '../lora/config';

export interface EvaConfig {
  lora: LoraConfig;
  /** Calibration batches whose layer inputs are stacked for the PCA. */
  batches: number;
  rho: number;
  whiten: boolean;
  adjustScalingFactors: boolean;
  svd: 'exact' | 'randomized';
  powerIters: number;
}

export function evaConfigOf(lora: LoraSettings, options: Pick<MethodOptions, 'evaBatches' | 'evaRho'> & Partial<Pick<MethodOptions, 'svd' | 'powerIters'>>): EvaConfig {
  const cfg: EvaConfig = {
    lora: { r: lora.rank, alpha: lora.alpha, useRslora: lora.useRslora, dropout: lora.dropout, targets: lora.targets, init: lora.initLoraWeights },
    batches: options.evaBatches,
    rho: options.evaRho,
    whiten: false,
    adjustScalingFactors: true,
    svd: options.svd ?? 'exact',
    powerIters: options.powerIters ?? 4,
  };
  validateEvaConfig(cfg);
  return cfg;
}

export function validateEvaConfig(c: EvaConfig): void {
  validateLoraConfig(c.lora);
  if (!Number.isInteger(c.batches) || c.batches < 1) throw new Error(`EVA needs at least one calibration batch, got ${c.batches}`);
  // PEFT's EvaConfig refuses rho < 1: the budget could not even keep every layer at r.
  if (!(Number.isFinite(c.rho) && c.rho >= 1)) throw new Error(`EVA rho must be >= 1, got ${c.rho}`);
  if (!Number.isInteger(c.powerIters) || c.powerIters < 0) throw new Error(`EVA power iterations must be a non-negative integer, got ${c.powerIters}`);
}

/** Python 3's round(): halves go to the even neighbour (round(2.5) = 2), which PEFT's max_components uses. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** PEFT's max_components: round(r · rho), the most components a layer's PCA keeps and the most rank it may get. */
export function maxComponents(c: EvaConfig): number {
  return roundHalfEven(c.lora.r * c.rho);
}

/**
 * alpha and scaling of a layer whose rank EVA set to `rank` (PEFT's _load_eva_state_dict): with
 * adjust_scaling_factors alpha becomes alpha · rank / r.
 */
export function evaScaling(c: EvaConfig, rank: number): { alpha: number; scaling: number } {
  const alpha = c.adjustScalingFactors && rank !== c.lora.r ? (c.lora.alpha * rank) / c.lora.r : c.lora.alpha;
  return { alpha, scaling: c.lora.useRslora ? alpha / Math.sqrt(rank) : alpha / rank };
}
