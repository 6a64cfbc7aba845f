import { describe, expect, it } from 'vitest';
import { addColumns, columnSum, scaleColumns } from '../../src/gpu/ops/channel';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';

describe('per-channel kernels (IA3, SSF, BitFit)', () => {
  const cases: [number, number][] = [
    [37, 53],
    [1, 19],
    [131, 17],
    [2053, 5],
  ];
  for (const [M, n] of cases) {
    it(`scaleColumns, addColumns and columnSum match float64 (M=${M} n=${n})`, async () => {
      const rt = await gpuRuntime();
      const a = randomArray(M * n, M + n);
      const v = randomArray(n, M + n + 1);
      const y0 = randomArray(M * n, M + n + 2);
      const s0 = randomArray(n, M + n + 3);
      const [ta, tv] = [rt.upload('a', [M, n], a), rt.upload('v', [n], v)];
      const fresh = rt.tensor('fresh', [M, n]);
      const acc = rt.upload('acc', [M, n], y0);
      const shifted = rt.upload('shifted', [M, n], y0);
      const sums = rt.upload('sums', [n], s0);
      const sumsFresh = rt.tensor('sumsFresh', [n]);
      scaleColumns(rt, { out: fresh, a: ta, v: tv, M, n });
      scaleColumns(rt, { out: acc, a: ta, v: tv, M, n, accumulate: true });
      addColumns(rt, { out: shifted, v: tv, M, n });
      columnSum(rt, { out: sums, a: ta, M, n });
      columnSum(rt, { out: sumsFresh, a: ta, M, n, accumulate: false });
      const wantScaled = new Float64Array(M * n);
      const wantShift = new Float64Array(M * n);
      const colsum = new Float64Array(n);
      for (let m = 0; m < M; m++) {
        for (let j = 0; j < n; j++) {
          const i = m * n + j;
          wantScaled[i] = a[i] * v[j];
          wantShift[i] = y0[i] + v[j];
          colsum[j] += a[i];
        }
      }
      expect(maxRelError(await rt.read(fresh), wantScaled)).toBeLessThan(1e-6);
      expect(maxRelError(await rt.read(acc), wantScaled.map((w, i) => w + y0[i]))).toBeLessThan(1e-6);
      expect(maxRelError(await rt.read(shifted), wantShift)).toBeLessThan(1e-6);
      expect(maxRelError(await rt.read(sums), colsum.map((c, j) => c + s0[j]))).toBeLessThan(1e-5);
      expect(maxRelError(await rt.read(sumsFresh), colsum)).toBeLessThan(1e-5);
      for (const t of [ta, tv, fresh, acc, shifted, sums, sumsFresh]) rt.release(t);
    });
  }

  it('rejects bad shapes and aliasing', async () => {
    const rt = await gpuRuntime();
    const a = rt.tensor('a', [4, 3]);
    const v = rt.tensor('v', [3]);
    expect(() => scaleColumns(rt, { out: a, a, v, M: 4, n: 3 })).toThrow(/scaleColumns: out \(a\) must not be the same buffer as a/);
    expect(() => addColumns(rt, { out: a, v: rt.tensor('v4', [4]), M: 4, n: 3 })).toThrow(/addColumns: v \(v4\) has shape \[4\], expected \[3\]/);
    expect(() => columnSum(rt, { out: v, a: rt.tensor('g', [4, 2]), M: 4, n: 3 })).toThrow(/columnSum: a \(g\) has shape \[4, 2\], expected \[4, 3\]/);
  });
});
