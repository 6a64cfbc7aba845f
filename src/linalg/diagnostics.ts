/**
 * Spectral diagnostics on the CPU (no GPU): effective rank, energy captured by a rank, the rank for an energy,
 * and intruder dimensions of a fine-tuned weight. Inputs are singular values in descending order (as every
 * SVD in this folder returns them) and singular vectors read back to the host.
 */

/**
 * Effective rank (Roy & Vetterli 2007): exp(H) of the entropy H = −Σ p_i ln p_i of p_i = σ_i / Σσ. Between 1
 * (one non-zero value) and the count of values (all equal); 0 for an all-zero or empty spectrum.
 */
export function effectiveRank(sv: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < sv.length; i++) total += Math.abs(sv[i]);
  if (!(total > 0)) return 0;
  let h = 0;
  for (let i = 0; i < sv.length; i++) {
    const p = Math.abs(sv[i]) / total;
    if (p > 0) h -= p * Math.log(p);
  }
  return Math.exp(h);
}

/** Prefix sums of σ², so that energyAtRank and rankForEnergy share one summation order (full rank gives exactly 1). */
function cumulativeEnergy(sv: ArrayLike<number>): Float64Array {
  const c = new Float64Array(sv.length + 1);
  for (let i = 0; i < sv.length; i++) c[i + 1] = c[i] + sv[i] * sv[i];
  return c;
}

/** Σ_{i<r} σ_i² / Σ σ_i²: the share of ‖W‖²_F kept by the rank-r truncation. r is clamped to [0, count]; 1 for a zero spectrum. */
export function energyAtRank(sv: ArrayLike<number>, r: number): number {
  const c = cumulativeEnergy(sv);
  const total = c[sv.length];
  if (!(total > 0)) return 1;
  const k = Math.max(0, Math.min(sv.length, Math.floor(r)));
  return c[k] / total;
}

/**
 * Smallest r with energyAtRank(sv, r) ≥ energy: 0 for energy ≤ 0 or a zero spectrum; for energy 1 the count
 * of non-zero values (the prefix sum reaches the total exactly), above 1 the count of values.
 */
export function rankForEnergy(sv: ArrayLike<number>, energy: number): number {
  if (Number.isNaN(energy)) throw new Error('rankForEnergy: energy is NaN');
  const c = cumulativeEnergy(sv);
  const total = c[sv.length];
  if (!(total > 0) || energy <= 0) return 0;
  for (let r = 1; r <= sv.length; r++) if (c[r] / total >= energy) return r;
  return sv.length;
}

export interface IntruderResult {
  /** Tuned vectors whose best match among the base vectors is below the threshold. */
  count: number;
  /** Per tuned vector i < kTuned: max_j |cos(u_tuned_i, u_base_j)| over j < kBase. */
  maxCos: number[];
}

/** Columns per row of a row-major [m, cols] array, checked to hold at least `k` columns. */
function columnsOf(name: string, a: Float32Array, m: number, k: number): number {
  if (a.length % m !== 0) throw new Error(`intruderDimensions: ${name} has ${a.length} elements, not a multiple of m = ${m}`);
  const cols = a.length / m;
  if (cols < k) throw new Error(`intruderDimensions: ${name} holds ${cols} columns of length ${m}, fewer than the ${k} asked for`);
  return cols;
}

/**
 * Intruder dimensions ("LoRA vs Full Fine-tuning: An Illusion of Equivalence", Shuttleworth et al. 2024): of
 * the top `kTuned` left singular vectors of the fine-tuned weight, how many have max |cos| with every one of
 * the base weight's top `kBase` left singular vectors below `threshold` (default 0.5; the paper sweeps it).
 * U matrices are row-major [m, k] read back from the GPU; they may hold more columns than asked for (the first
 * kTuned / kBase are used). Cosines are normalised, so slightly non-unit f32 vectors are fine.
 */
export function intruderDimensions(uTuned: Float32Array, kTuned: number, uBase: Float32Array, kBase: number, m: number, threshold = 0.5): IntruderResult {
  if (!Number.isInteger(m) || m < 1) throw new Error(`intruderDimensions: m = ${m} must be a positive integer`);
  if (!Number.isInteger(kTuned) || kTuned < 0 || !Number.isInteger(kBase) || kBase < 0) {
    throw new Error(`intruderDimensions: kTuned = ${kTuned} and kBase = ${kBase} must be non-negative integers`);
  }
  const ct = columnsOf('uTuned', uTuned, m, kTuned);
  const cb = columnsOf('uBase', uBase, m, kBase);
  const norm = (a: Float32Array, cols: number, j: number): number => {
    let s = 0;
    for (let i = 0; i < m; i++) s += a[i * cols + j] ** 2;
    return Math.sqrt(s);
  };
  const baseNorms = Array.from({ length: kBase }, (_, j) => norm(uBase, cb, j));
  const maxCos: number[] = [];
  for (let t = 0; t < kTuned; t++) {
    const nt = norm(uTuned, ct, t);
    let best = 0;
    for (let b = 0; b < kBase; b++) {
      if (!(nt > 0 && baseNorms[b] > 0)) continue;
      let d = 0;
      for (let i = 0; i < m; i++) d += uTuned[i * ct + t] * uBase[i * cb + b];
      best = Math.max(best, Math.abs(d) / (nt * baseNorms[b]));
    }
    maxCos.push(best);
  }
  return { count: maxCos.filter((c) => c < threshold).length, maxCos };
}
