/**
 * SaRA's progressive adjustment (Hu et al.): the weights with the smallest |W| train; part-way through training
 * the smallest |W + ΔW| are selected again, since training moves magnitudes. Entries that leave the trained set
 * keep their learned delta, frozen, in a second sparse layer (so memory stays proportional to entries ever
 * trained); entries that come back resume from their frozen value. The selection is a GPU top-k over W + ΔW.
 */
import type { Linear } from '../../engine/linear';
import { scatterAdd } from '../../gpu/ops/sparse';
import { topkIndices } from '../../gpu/ops/topk';
import type { GpuRuntime } from '../../gpu/runtime';
import type { GpuTensor } from '../../gpu/tensor';
import { SparseLayer } from './layer';
import { toLinearOrder, toStoredOrder } from './select';

export interface FrozenEntries {
  flat: Uint32Array;
  values: Float32Array;
  /** The frozen deltas applied in the forward pass; null when there are none. */
  layer: SparseLayer | null;
}

function find(sorted: Uint32Array, v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo] === v ? lo : -1;
}

/** Re-selects the layer's entries as the smallest |W + ΔW|; returns how many left and joined the trained set. */
export async function reselectSmallest(
  rt: GpuRuntime,
  e: { linear: Linear; layer: SparseLayer; frozen?: FrozenEntries },
  moments: { m: GpuTensor; v: GpuTensor } | undefined,
): Promise<{ dropped: number; regrown: number }> {
  const { linear, layer } = e;
  const s = linear.spec;
  const n = s.inFeatures * s.outFeatures;
  const trained = await layer.readValues();
  const frozen = e.frozen ?? { flat: new Uint32Array(0), values: new Float32Array(0), layer: null };
  // W + ΔW in the stored layout: a copy of W with every delta (trained and frozen) scattered in.
  const dense = rt.tensor(`${s.modulePath} W + ΔW`, linear.weight.shape);
  const all = [...Array.from(layer.flat, (f, i) => [f, trained[i]] as const), ...Array.from(frozen.flat, (f, i) => [f, frozen.values[i]] as const)].sort((a, b) => a[0] - b[0]);
  const flatAll = Uint32Array.from(all, (p) => p[0]);
  const valAll = Float32Array.from(all, (p) => p[1]);
  const { stored, order } = toStoredOrder(flatAll, s);
  const idx = rt.upload(`${s.modulePath} Δ indices`, [stored.length], stored, 'u32');
  const vals = rt.upload(`${s.modulePath} Δ values`, [stored.length], Float32Array.from(order, (i) => valAll[i]));
  let next: Uint32Array;
  try {
    rt.copy(linear.weight, dense);
    scatterAdd(rt, { dense, indices: idx, values: vals, nnz: stored.length });
    next = toLinearOrder(await topkIndices(rt, { keys: dense, n, k: layer.nnz, order: 'smallest', abs: true }), s);
  } finally {
    for (const t of [dense, idx, vals]) rt.release(t);
  }
  const from = new Int32Array(next.length);
  const fresh = new Float32Array(next.length);
  let joined = 0;
  for (let i = 0; i < next.length; i++) {
    from[i] = find(layer.flat, next[i]);
    if (from[i] < 0) {
      joined++;
      const j = find(frozen.flat, next[i]);
      if (j >= 0) fresh[i] = frozen.values[j];
    }
  }
  // Frozen after: entries of (trained ∪ frozen) that are not in the new set.
  const keepFlat: number[] = [];
  const keepVal: number[] = [];
  for (let i = 0; i < flatAll.length; i++) {
    if (find(next, flatAll[i]) < 0) {
      keepFlat.push(flatAll[i]);
      keepVal.push(valAll[i]);
    }
  }
  await layer.replaceEntries(next, from, moments, fresh);
  if (frozen.layer) {
    const j = linear.adapters.indexOf(frozen.layer);
    if (j >= 0) linear.adapters.splice(j, 1);
    frozen.layer.release();
  }
  const flat = Uint32Array.from(keepFlat);
  const values = Float32Array.from(keepVal);
  const frozenLayer = flat.length > 0 ? new SparseLayer(rt, s, flat, values, `${s.modulePath}.sara_frozen`, false) : null;
  if (frozenLayer) linear.adapters.push(frozenLayer);
  e.frozen = { flat, values, layer: frozenLayer };
  return { dropped: joined, regrown: joined };
}
