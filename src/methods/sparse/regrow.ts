/**
 * Sparse fine-tuning's index-set update (Ansell et al., "Scaling Sparse Fine-Tuning to Large Language Models",
 * SpIEL-AG): every `regrowEvery` steps, drop the kept entries whose delta has the smallest magnitude and regrow
 * as many candidates with the largest accumulated gradient |Σ g|. Both choices are GPU top-k selections. The
 * number replaced decays (cosine) from regrowFraction · kept to 0 at regrowUntil of the training; the optimizer
 * state follows the kept entries, regrown ones start at Δ = 0 with zero moments. Candidates are drawn afresh
 * (seeded) among the entries not kept after each update, so memory stays proportional to the kept entries.
 */
import { topkIndices } from '../../gpu/ops/topk';
import type { GpuRuntime } from '../../gpu/runtime';
import type { GpuTensor } from '../../gpu/tensor';
import type { MethodOptions } from '../../run/api';
import type { Rng } from '../../util/rng';
import type { SparseLayer } from './layer';
import { randomPositions } from './select';

/** Fraction of the kept entries replaced by the update after `stepsDone` steps (0 once past regrowUntil). */
export function regrowFractionAt(stepsDone: number, totalSteps: number, o: MethodOptions): number {
  const end = o.regrowUntil * totalSteps;
  if (stepsDone > end || end <= 0) return 0;
  return (o.regrowFraction / 2) * (1 + Math.cos((Math.PI * stepsDone) / end));
}

/** Whether an index-set update follows the step that brought the count to `stepsDone`. */
export function isRegrowStep(stepsDone: number, totalSteps: number, o: MethodOptions): boolean {
  return o.regrowEvery > 0 && stepsDone % o.regrowEvery === 0 && stepsDone < totalSteps && regrowFractionAt(stepsDone, totalSteps, o) > 0;
}

export function candidateCount(layer: SparseLayer, o: MethodOptions): number {
  const size = layer.linear.inFeatures * layer.linear.outFeatures;
  return Math.min(size - layer.nnz, Math.round(o.candidateFactor * layer.nnz));
}

export function drawCandidates(layer: SparseLayer, o: MethodOptions, rng: Rng): void {
  const size = layer.linear.inFeatures * layer.linear.outFeatures;
  layer.setCandidates(randomPositions(size, candidateCount(layer, o), rng, layer.flat));
}

/** Replaces `count` entries of the layer; returns how many were dropped and regrown. */
export async function pruneAndRegrow(rt: GpuRuntime, layer: SparseLayer, count: number, moments: { m: GpuTensor; v: GpuTensor } | undefined): Promise<{ dropped: number; regrown: number }> {
  const c = layer.candidates;
  const n = Math.min(count, c?.flat.length ?? 0, layer.nnz);
  if (!c || n === 0) return { dropped: 0, regrown: 0 };
  const drop = await topkIndices(rt, { keys: layer.values, n: layer.nnz, k: n, order: 'smallest', abs: true });
  const grow = await topkIndices(rt, { keys: c.acc, n: c.flat.length, k: n, order: 'largest', abs: true });
  const dropped = new Uint8Array(layer.nnz);
  for (const e of drop) dropped[e] = 1;
  // Merge the surviving entries (sorted) with the regrown candidates (sorted, since candidate positions ascend).
  const flat = new Uint32Array(layer.nnz);
  const from = new Int32Array(layer.nnz);
  let a = 0;
  let b = 0;
  for (let e = 0; e < flat.length; e++) {
    while (a < layer.nnz && dropped[a]) a++;
    const takeOld = a < layer.nnz && (b >= grow.length || layer.flat[a] < c.flat[grow[b]]);
    if (takeOld) {
      flat[e] = layer.flat[a];
      from[e] = a++;
    } else {
      flat[e] = c.flat[grow[b++]];
      from[e] = -1;
    }
  }
  await layer.replaceEntries(flat, from, moments);
  return { dropped: drop.length, regrown: grow.length };
}
