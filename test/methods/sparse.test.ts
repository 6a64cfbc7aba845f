/**
 * Sparse fine-tuning's pieces against plain references:
 *  - prune-and-regrow drops the kept entries with the smallest |Δ|, regrows the candidates with the largest |Σg|,
 *    keeps the set size, and carries values and AdamW moments with their entries (regrown ones start at zero);
 *  - the regrowth schedule (cosine decay to regrowUntil);
 *  - index orders: nn.Linear ↔ Conv1D storage, and seeded random draws that avoid the kept set;
 *  - the sparse layer's forward, dx and value gradient inside a Linear, against float64.
 */
import { describe, expect, it } from 'vitest';
import { Linear } from '../../src/engine/linear';
import type { LinearSpec } from '../../src/model/spec';
import { METHOD_DEFAULTS } from '../../src/run/api';
import { SparseLayer } from '../../src/methods/sparse/layer';
import { pruneAndRegrow, regrowFractionAt } from '../../src/methods/sparse/regrow';
import { addNuclearGradient } from '../../src/methods/sparse/nuclear';
import { randomPositions, toLinearOrder, toStoredOrder } from '../../src/methods/sparse/select';
import { svd64 } from '../support/linalg64';
import { Rng } from '../../src/util/rng';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';

function spec(N: number, K: number, layout: LinearSpec['layout'] = 'out_in'): LinearSpec {
  return { name: 'p', modulePath: 'm.p', weightName: 'm.p.weight', inFeatures: K, outFeatures: N, layout };
}

describe('sparse fine-tuning', () => {
  it('prune-and-regrow replaces the smallest |Δ| by the largest |Σg| candidates, moving values and moments', async () => {
    const rt = await gpuRuntime();
    const s = spec(23, 31);
    const flat = randomPositions(23 * 31, 40, new Rng(3));
    const values = randomArray(40, 4);
    const layer = new SparseLayer(rt, s, flat, values, 'delta', true);
    const cand = randomPositions(23 * 31, 30, new Rng(5), flat);
    layer.setCandidates(cand);
    const acc = randomArray(30, 6);
    rt.write((layer.candidates as NonNullable<typeof layer.candidates>).acc, acc);
    const m = rt.upload('m', [40], randomArray(40, 7));
    const v = rt.upload('v', [40], randomArray(40, 8).map(Math.abs));
    const [m0, v0] = [await rt.read(m), await rt.read(v)];
    const r = await pruneAndRegrow(rt, layer, 7, { m, v });
    expect(r).toEqual({ dropped: 7, regrown: 7 });
    // Reference: sort by |Δ| ascending (ties to the lower entry), by |acc| descending (ties to the lower candidate).
    const drop = new Set([...values.keys()].sort((a, b) => Math.abs(values[a]) - Math.abs(values[b]) || a - b).slice(0, 7));
    const grow = [...acc.keys()].sort((a, b) => Math.abs(acc[b]) - Math.abs(acc[a]) || a - b).slice(0, 7);
    const want = new Map<number, { value: number; m: number; v: number }>();
    flat.forEach((f, e) => {
      if (!drop.has(e)) want.set(f, { value: values[e], m: m0[e], v: v0[e] });
    });
    for (const g of grow) want.set(cand[g], { value: 0, m: 0, v: 0 });
    const keys = [...want.keys()].sort((a, b) => a - b);
    expect(Array.from(layer.flat)).toEqual(keys);
    const [gotV, gotM, gotVv] = [await layer.readValues(), await rt.read(m), await rt.read(v)];
    keys.forEach((f, e) => {
      const w = want.get(f) as { value: number; m: number; v: number };
      expect([gotV[e], gotM[e], gotVv[e]]).toEqual([w.value, w.m, w.v]);
    });
    layer.release();
  });

  it('decays the replaced fraction (cosine) and stops at regrowUntil', () => {
    const o = { ...METHOD_DEFAULTS, regrowFraction: 0.4, regrowUntil: 0.5 };
    expect(regrowFractionAt(0, 100, o)).toBeCloseTo(0.4, 12);
    expect(regrowFractionAt(25, 100, o)).toBeCloseTo(0.2, 12);
    expect(regrowFractionAt(50, 100, o)).toBeCloseTo(0, 12);
    expect(regrowFractionAt(51, 100, o)).toBe(0);
  });

  it('converts between nn.Linear and Conv1D storage orders, and draws seeded positions outside the kept set', () => {
    const s = spec(5, 7, 'in_out');
    const flat = Uint32Array.from([0, 3, 8, 20, 34]); // (o, i): (0,0) (0,3) (1,1) (2,6) (4,6)
    const { stored, order } = toStoredOrder(flat, s);
    // Stored [in, out] index i · 5 + o: 0, 15, 6, 32, 34 → sorted 0, 6, 15, 32, 34.
    expect(Array.from(stored)).toEqual([0, 6, 15, 32, 34]);
    expect(Array.from(order)).toEqual([0, 2, 1, 3, 4]);
    expect(Array.from(toLinearOrder(stored, s))).toEqual(Array.from(flat));
    const taken = Uint32Array.from([1, 2, 3, 10]);
    const a = randomPositions(12, 8, new Rng(9), taken);
    expect(a).toHaveLength(8);
    expect(Array.from(a).every((p) => !taken.includes(p) && p < 12)).toBe(true);
    expect(Array.from(randomPositions(12, 8, new Rng(9), taken))).toEqual(Array.from(a));
    expect(() => randomPositions(12, 9, new Rng(9), taken)).toThrow(/cannot draw 9 positions from 8/);
  });

  for (const layout of ['out_in', 'in_out'] as const) {
    it(`a sparse layer in a Linear (${layout}): y, dx and the value gradient match float64`, async () => {
      const rt = await gpuRuntime();
      const [M, N, K] = [11, 19, 29];
      const s = spec(N, K, layout);
      const flat = randomPositions(N * K, 57, new Rng(11));
      const values = randomArray(57, 12);
      const W = randomArray(N * K, 13);
      const stored = layout === 'out_in' ? W : Float32Array.from({ length: N * K }, (_, j) => W[(j % N) * K + Math.floor(j / N)]);
      const lin = new Linear(s, rt.upload('W', layout === 'out_in' ? [N, K] : [K, N], stored), undefined);
      const layer = new SparseLayer(rt, s, flat, values, 'delta', true);
      lin.adapters.push(layer);
      const x = randomArray(M * K, 14);
      const dy = randomArray(M * N, 15);
      const [tx, ty, tdy, tdx] = [rt.upload('x', [M, K], x), rt.tensor('y', [M, N]), rt.upload('dy', [M, N], dy), rt.tensor('dx', [M, K])];
      lin.forward(rt, tx, ty, M, { training: true, seed: 0 });
      lin.backward(rt, tx, tdy, tdx, M, { training: true, seed: 0 });
      const Wd = Float64Array.from(W);
      flat.forEach((f, e) => (Wd[f] += values[e]));
      const y = new Float64Array(M * N);
      const dx = new Float64Array(M * K);
      for (let m = 0; m < M; m++) {
        for (let o = 0; o < N; o++) {
          for (let i = 0; i < K; i++) {
            y[m * N + o] += x[m * K + i] * Wd[o * K + i];
            dx[m * K + i] += dy[m * N + o] * Wd[o * K + i];
          }
        }
      }
      const g = Array.from(flat, (f) => {
        const [o, i] = [Math.floor(f / K), f % K];
        let sum = 0;
        for (let m = 0; m < M; m++) sum += dy[m * N + o] * x[m * K + i];
        return sum;
      });
      expect(maxRelError(await rt.read(ty), y)).toBeLessThan(2e-6);
      expect(maxRelError(await rt.read(tdx), dx)).toBeLessThan(2e-6);
      expect(maxRelError(await rt.read(layer.params()[0].grad), g)).toBeLessThan(2e-5);
      layer.release();
    });
  }
});

describe('SaRA nuclear-norm regulariser', () => {
  for (const rank of [0, 3]) {
    it(`adds λ U Vᵀ at the kept entries (${rank === 0 ? 'every triplet, exact SVD' : `top ${rank}, randomized SVD`})`, async () => {
      const rt = await gpuRuntime();
      const [N, K] = [13, 17];
      const s = spec(N, K);
      const flat = randomPositions(N * K, 90, new Rng(21));
      const values = randomArray(90, 22);
      const layer = new SparseLayer(rt, s, flat, values, 'delta', true);
      const grad = layer.params()[0].grad;
      const before = randomArray(90, 23);
      rt.write(grad, before);
      await addNuclearGradient(rt, layer, null, 0.5, rank, 1);
      const dense = new Float64Array(N * K);
      flat.forEach((f, e) => (dense[f] = values[e]));
      const { U, V, S } = svd64(dense, N, K);
      const k = rank === 0 ? S.filter((x) => x > 1e-9).length : rank;
      const want = Array.from(flat, (f, e) => {
        const [o, i] = [Math.floor(f / K), f % K];
        let uv = 0;
        for (let j = 0; j < k; j++) uv += U[o * Math.min(N, K) + j] * V[i * Math.min(N, K) + j];
        return before[e] + 0.5 * uv;
      });
      // The randomized SVD's top triplets of a random 13 × 17 matrix are not exact: a looser bound there.
      expect(maxRelError(await rt.read(grad), want)).toBeLessThan(rank === 0 ? 1e-4 : 2e-2);
      layer.release();
    });
  }
});
