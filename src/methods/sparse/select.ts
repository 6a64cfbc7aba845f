/**
 * Choosing which entries of a weight a sparse method trains. Every choice returns sorted flat indices o · in + i
 * in nn.Linear orientation, whatever the checkpoint's storage layout (GPT-2's Conv1D stores [in, out]).
 *   random      uniform without replacement from the run's seed (SpIEL's initial set);
 *   magnitude   the k largest or smallest |W| (SaRA: smallest; DSEE: largest), by GPU top-k over W itself;
 *   gradient    the k largest Σ|∂L/∂W| or Σ(∂L/∂W)² over calibration batches (gradient-selected subnetworks),
 *               by GPU top-k over a dense statistic that lives only while selecting.
 */
import type { Linear } from '../../engine/linear';
import { matmul } from '../../gpu/ops/matmul';
import { accumulateStat } from '../../gpu/ops/sparse';
import { topkIndices } from '../../gpu/ops/topk';
import type { GpuRuntime } from '../../gpu/runtime';
import { type GpuTensor, view } from '../../gpu/tensor';
import type { LinearSpec } from '../../model/spec';
import { Rng } from '../../util/rng';
import type { MethodSetup } from '../method';
import type { LinearAdapter, TrainableParam } from '../types';

/** Stored flat index → nn.Linear flat index, sorted. Stored [in, out] (Conv1D) has s = i · out + o. */
export function toLinearOrder(stored: Uint32Array, l: LinearSpec): Uint32Array {
  if (l.layout === 'out_in') return stored.slice().sort();
  const { inFeatures: K, outFeatures: N } = l;
  const out = new Uint32Array(stored.length);
  for (let e = 0; e < stored.length; e++) {
    const i = Math.floor(stored[e] / N);
    const o = stored[e] % N;
    out[e] = o * K + i;
  }
  return out.sort();
}

/** nn.Linear flat index → stored flat index, with the permutation that sorts the stored indices. */
export function toStoredOrder(flat: Uint32Array, l: LinearSpec): { stored: Uint32Array; order: Uint32Array } {
  const order = new Uint32Array(flat.length);
  for (let e = 0; e < flat.length; e++) order[e] = e;
  if (l.layout === 'out_in') return { stored: flat.slice(), order };
  const { inFeatures: K, outFeatures: N } = l;
  const s = new Float64Array(flat.length);
  for (let e = 0; e < flat.length; e++) s[e] = (flat[e] % K) * N + Math.floor(flat[e] / K);
  order.sort((a, b) => s[a] - s[b]);
  return { stored: Uint32Array.from(order, (e) => s[e]), order };
}

/** k distinct positions of [0, n) not in the sorted `taken`, uniformly, as sorted indices. */
export function randomPositions(n: number, k: number, rng: Rng, taken: Uint32Array = new Uint32Array(0)): Uint32Array {
  const free = n - taken.length;
  if (k > free) throw new Error(`cannot draw ${k} positions from ${free} free ones`);
  const isTaken = (p: number): boolean => {
    let lo = 0;
    let hi = taken.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (taken[mid] < p) lo = mid + 1;
      else hi = mid;
    }
    return lo < taken.length && taken[lo] === p;
  };
  if (k > free / 2) {
    // Dense draw: a seeded partial shuffle of the free positions.
    const pool = new Uint32Array(free);
    let j = 0;
    for (let p = 0; p < n; p++) if (!isTaken(p)) pool[j++] = p;
    for (let i = 0; i < k; i++) {
      const r = i + rng.int(free - i);
      const t = pool[i];
      pool[i] = pool[r];
      pool[r] = t;
    }
    return pool.slice(0, k).sort();
  }
  // Sparse draw: rejection sampling, expected < 2 tries per position.
  const picked = new Set<number>();
  while (picked.size < k) {
    const p = rng.int(n);
    if (!isTaken(p)) picked.add(p);
  }
  return Uint32Array.from(picked).sort();
}

export function randomSelection(l: LinearSpec, k: number, seed: number): Uint32Array {
  return randomPositions(l.inFeatures * l.outFeatures, k, new Rng(seed));
}

/** The k entries of W with the largest or smallest |W| (ties to the lowest stored position), in linear order. */
export async function magnitudeSelection(rt: GpuRuntime, linear: Linear, k: number, order: 'largest' | 'smallest'): Promise<Uint32Array> {
  const n = linear.spec.inFeatures * linear.spec.outFeatures;
  const stored = await topkIndices(rt, { keys: linear.weight, n, k, order, abs: true });
  return toLinearOrder(stored, linear.spec);
}

/** Accumulates Σ|∂L/∂W| or Σ(∂L/∂W)² [out, in] of one layer during calibration passes; adds nothing to y or dx. */
class GradientStatProbe implements LinearAdapter {
  readonly needsBackward = true;
  readonly stat: GpuTensor;

  constructor(
    rt: GpuRuntime,
    readonly linear: LinearSpec,
    private readonly scratch: GpuTensor,
    private readonly mode: 'abs' | 'square',
  ) {
    this.stat = rt.tensor(`${linear.modulePath} gradient statistic [out, in]`, [linear.outFeatures, linear.inFeatures]);
  }

  forward(): void {}

  backward(rt: GpuRuntime, x: GpuTensor, dy: GpuTensor, _dx: GpuTensor, M: number): void {
    const { inFeatures: K, outFeatures: N } = this.linear;
    // ∂L/∂W [out, in] = dyᵀ x for this micro-batch, then its |·| or square is added to the statistic.
    const g = view(this.scratch, [N, K]);
    matmul(rt, { out: g, a: dy, b: x, M: N, N: K, K: M, transA: true });
    accumulateStat(rt, { acc: this.stat, g, n: N * K, mode: this.mode });
  }

  params(): TrainableParam[] {
    return [];
  }
}

/**
 * Per target layer, the `budget(l)` entries with the largest accumulated gradient statistic over `batches`
 * calibration batches. Probes are attached for the calibration only; one scratch [out, in] is shared, and each
 * layer's statistic is freed as soon as its selection is made.
 */
export async function gradientSelection(setup: MethodSetup, targets: Linear[], budget: (l: LinearSpec) => number, batches: number, mode: 'abs' | 'square'): Promise<Map<string, Uint32Array>> {
  const { rt } = setup;
  if (!Number.isInteger(batches) || batches < 1) throw new Error(`gradient selection needs at least one calibration batch, got ${batches}`);
  const largest = Math.max(...targets.map((l) => l.spec.inFeatures * l.spec.outFeatures));
  const scratch = rt.tensor('gradient selection scratch', [largest]);
  const probes = targets.map((l) => {
    const p = new GradientStatProbe(rt, l.spec, scratch, mode);
    l.adapters.push(p);
    return { linear: l, probe: p };
  });
  const out = new Map<string, Uint32Array>();
  try {
    setup.progress(`subnetwork: accumulating gradients over ${batches} batches`, 0);
    await setup.calibrate(batches, true);
    for (const [i, { linear, probe }] of probes.entries()) {
      const s = linear.spec;
      setup.progress(`subnetwork: selecting the top entries of ${s.modulePath}`, (i + 1) / probes.length);
      const flat = await topkIndices(rt, { keys: probe.stat, n: s.inFeatures * s.outFeatures, k: budget(s), order: 'largest', abs: true });
      out.set(s.modulePath, flat.slice().sort());
    }
  } finally {
    for (const { linear, probe } of probes) {
      const i = linear.adapters.indexOf(probe);
      if (i >= 0) linear.adapters.splice(i, 1);
      rt.release(probe.stat);
    }
    rt.release(scratch);
  }
  return out;
}
