/**
 * EVA's CPU side: explained-variance ratios, PEFT's rank redistribution, and PEFT's sign convention for the
 * components. Pure functions on small arrays (one number per kept component), tested on constructed inputs.
 */

/** One targeted layer as the redistribution sees it. */
export interface EvaLayerVariance {
  /** Module path, e.g. model.layers.0.self_attn.q_proj. */
  name: string;
  /** Explained-variance ratios of its input's principal components, descending (at most max_components). */
  ratios: readonly number[];
  /**
   * The layer whose inputs are identical to this one's (PEFT's equal_inputs_map: q/k/v, gate/up); that layer
   * holds the PCA and this one reuses it. Undefined when the layer has its own.
   */
  sharesWith?: string;
}

/**
 * Explained-variance ratios as PEFT's IncrementalPCA reports them: σᵢ² / Σ‖xₜ − μ‖², i.e. the eigenvalues of the
 * centred scatter matrix over its trace (total variance of all features, not only of the kept components).
 */
export function explainedVarianceRatios(eigenvalues: ArrayLike<number>, totalVariance: number): number[] {
  if (!(totalVariance > 0)) throw new Error(`EVA: layer inputs have no variance (total ${totalVariance}); are the calibration batches empty?`);
  return Array.from(eigenvalues, (v) => Math.max(0, v) / totalVariance);
}

/**
 * PEFT's _get_rank_distribution: pool every layer's ratios, take the `budget` largest, and give each layer as
 * many ranks as it has components among them (0 is possible). Layers are visited in PEFT's order, own-PCA layers
 * first then the sharing ones, and the sort is stable, so ties go to the earlier layer (torch's argsort is not
 * stable; identical ratios only arise for layers with equal inputs, where PEFT's swap below settles it anyway).
 * Then, for each layer that shares a PCA, the owning layer gets the larger of the two counts.
 */
export function evaRankDistribution(layers: readonly EvaLayerVariance[], budget: number): Map<string, number> {
  if (!Number.isInteger(budget) || budget < 0) throw new Error(`EVA: rank budget must be a non-negative integer, got ${budget}`);
  const names = new Set(layers.map((l) => l.name));
  for (const l of layers) if (l.sharesWith !== undefined && !names.has(l.sharesWith)) throw new Error(`EVA: ${l.name} shares the PCA of unknown layer ${l.sharesWith}`);
  const ordered = [...layers.filter((l) => l.sharesWith === undefined), ...layers.filter((l) => l.sharesWith !== undefined)];
  const pool: Array<{ name: string; value: number; order: number }> = [];
  for (const l of ordered) for (const value of l.ratios) pool.push({ name: l.name, value, order: pool.length });
  pool.sort((a, b) => b.value - a.value || a.order - b.order);
  const counts = new Map<string, number>(layers.map((l) => [l.name, 0]));
  for (const p of pool.slice(0, budget)) counts.set(p.name, (counts.get(p.name) ?? 0) + 1);
  for (const l of ordered) {
    if (l.sharesWith === undefined) continue;
    const rank = counts.get(l.name) ?? 0;
    const rankOwner = counts.get(l.sharesWith) ?? 0;
    if (rankOwner >= rank) continue;
    counts.set(l.sharesWith, rank);
    counts.set(l.name, rankOwner);
  }
  return counts;
}

/**
 * PEFT's IncrementalPCA._svd_flip(u_based_decision=False): each component (a row, length n) is negated when its
 * largest-magnitude entry (the first one on ties) is negative, so signs are deterministic. In place.
 */
export function flipComponentSigns(rows: Float32Array | Float64Array, k: number, n: number): void {
  for (let i = 0; i < k; i++) {
    let best = 0;
    for (let j = 1; j < n; j++) if (Math.abs(rows[i * n + j]) > Math.abs(rows[i * n + best])) best = j;
    if (rows[i * n + best] < 0) for (let j = 0; j < n; j++) rows[i * n + j] = -rows[i * n + j];
  }
}
