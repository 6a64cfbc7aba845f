import { describe, expect, it } from 'vitest';
import { type OrthAxis, type OrthMode, orthRegGrad, orthRegWorkspace } from '../../src/gpu/ops/orthreg';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';

/** f(X) in float64: γ‖G − I‖²_F or γ‖G − I‖_F with G = X Xᵀ (rows) or XᵀX (cols); X is [rows, cols] row-major. */
function regulariser(X: ArrayLike<number>, rows: number, cols: number, axis: OrthAxis, mode: OrthMode, gamma: number): number {
  const k = axis === 'rows' ? rows : cols;
  const n = axis === 'rows' ? cols : rows;
  const at = (i: number, t: number): number => (axis === 'rows' ? X[i * cols + t] : X[t * cols + i]);
  let ss = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      let g = 0;
      for (let t = 0; t < n; t++) g += at(i, t) * at(j, t);
      ss += (g - (i === j ? 1 : 0)) ** 2;
    }
  }
  return gamma * (mode === 'squared' ? ss : Math.sqrt(ss));
}

/** Central finite differences of f in float64 (f is a low-degree polynomial / its root: h = 1e-5 is ample). */
function numericGrad(X: Float32Array, rows: number, cols: number, axis: OrthAxis, mode: OrthMode, gamma: number): Float64Array {
  const x = Float64Array.from(X);
  const g = new Float64Array(x.length);
  const h = 1e-5;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    x[i] = v + h;
    const fp = regulariser(x, rows, cols, axis, mode, gamma);
    x[i] = v - h;
    const fm = regulariser(x, rows, cols, axis, mode, gamma);
    x[i] = v;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

describe('orthRegGrad', () => {
  const cases: [OrthAxis, OrthMode, number, number][] = [
    ['rows', 'squared', 5, 13],
    ['cols', 'squared', 3, 21],
    ['rows', 'norm', 7, 11],
    ['cols', 'norm', 9, 17],
  ];
  for (const [axis, mode, k, n] of cases) {
    it(`${mode} on ${axis} (k=${k} n=${n}) adds the float64 finite-difference gradient and the value`, async () => {
      const rt = await gpuRuntime();
      const [rows, cols] = axis === 'rows' ? [k, n] : [n, k];
      // Near-orthonormal factors are the realistic regime: I-ish scaled rows plus noise.
      const X = randomArray(rows * cols, k * 31 + n, 1 / Math.sqrt(n));
      const g0 = randomArray(rows * cols, k * 31 + n + 1, 0.01);
      const gamma = 0.37;
      const tX = rt.upload('X', [rows, cols], X);
      const tg = rt.upload('grad', [rows, cols], g0);
      const work = orthRegWorkspace(rt, k);
      const stats = rt.upload('stats', [3], new Float32Array([5, 0.25, 7]));
      orthRegGrad(rt, { X: tX, grad: tg, work, axis, mode, k, n, gamma, value: { out: stats, index: 1 } });
      const got = await rt.read(tg);
      const gotStats = await rt.read(stats);
      const fd = numericGrad(X, rows, cols, axis, mode, gamma);
      const want = g0.map((v, i) => v + fd[i]);
      const err = maxRelError(got, want);
      expect(err, `grad error ${err}`).toBeLessThan(1e-4);
      const f = regulariser(X, rows, cols, axis, mode, gamma);
      expect(Math.abs(gotStats[1] - (0.25 + f)) / (0.25 + f)).toBeLessThan(1e-5);
      expect([gotStats[0], gotStats[2]]).toEqual([5, 7]);
      for (const t of [tX, tg, work, stats]) rt.release(t);
    });
  }

  it('norm mode at an exactly orthonormal X adds nothing (no division by zero)', async () => {
    const rt = await gpuRuntime();
    const [k, n] = [3, 5];
    const X = new Float32Array(k * n);
    for (let i = 0; i < k; i++) X[i * n + i] = 1;
    const tX = rt.upload('X', [k, n], X);
    const tg = rt.upload('grad', [k, n], new Float32Array(k * n).fill(0.5));
    const work = orthRegWorkspace(rt, k);
    orthRegGrad(rt, { X: tX, grad: tg, work, axis: 'rows', mode: 'norm', k, n, gamma: 1 });
    expect(Array.from(await rt.read(tg))).toEqual(new Array(k * n).fill(0.5));
  });

  it('rejects bad shapes', async () => {
    const rt = await gpuRuntime();
    const X = rt.tensor('X', [4, 6]);
    const work = rt.tensor('w', [4, 4]);
    expect(() => orthRegGrad(rt, { X, grad: rt.tensor('g', [6, 4]), work, axis: 'rows', mode: 'squared', k: 4, n: 6, gamma: 1 })).toThrow(/orthRegGrad: grad \(g\) has shape \[6, 4\], expected \[4, 6\]/);
    expect(() => orthRegGrad(rt, { X, grad: rt.tensor('g2', [4, 6]), work, axis: 'cols', mode: 'squared', k: 4, n: 6, gamma: 1 })).toThrow(/orthRegGrad: X \(X\) has shape \[4, 6\], expected \[6, 4\]/);
    expect(() => orthRegGrad(rt, { X, grad: X, work, axis: 'rows', mode: 'norm', k: 4, n: 6, gamma: 1 })).toThrow(/must not be the same buffer/);
  });
});
