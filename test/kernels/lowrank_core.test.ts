import { describe, expect, it } from 'vitest';
import { diagGrad, diagScale } from '../../src/gpu/ops/lowrank_core';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';

describe('lowrank_core diagonal kernels', () => {
  const cases: [number, number][] = [
    [37, 3],
    [1, 19],
    [131, 17],
    [2053, 5],
  ];
  for (const [M, k] of cases) {
    it(`diagScale and diagGrad match float64 (M=${M} k=${k})`, async () => {
      const rt = await gpuRuntime();
      const h = randomArray(M * k, M + k);
      const g = randomArray(M * k, M + k + 1);
      const d = randomArray(k, M + k + 2);
      const dd0 = randomArray(k, M + k + 3);
      const [th, tg, td, tdd] = [rt.upload('h', [M, k], h), rt.upload('g', [M, k], g), rt.upload('d', [k], d), rt.upload('dd', [k], dd0)];
      const out = rt.tensor('out', [M, k]);
      const fresh = rt.tensor('fresh', [k]);
      diagScale(rt, { out, h: th, d: td, M, k, scale: 0.75 });
      diagGrad(rt, { dd: tdd, h: th, dh2: tg, M, k, scale: 1.5 });
      diagGrad(rt, { dd: fresh, h: th, dh2: tg, M, k, accumulate: false });
      const [gotOut, gotDd, gotFresh] = [await rt.read(out), await rt.read(tdd), await rt.read(fresh)];
      const wantOut = new Float64Array(M * k);
      const sums = new Float64Array(k);
      for (let m = 0; m < M; m++) {
        for (let j = 0; j < k; j++) {
          wantOut[m * k + j] = 0.75 * h[m * k + j] * d[j];
          sums[j] += h[m * k + j] * g[m * k + j];
        }
      }
      const wantDd = dd0.map((v, j) => v + 1.5 * sums[j]);
      expect(maxRelError(gotOut, wantOut)).toBeLessThan(1e-6);
      expect(maxRelError(gotDd, wantDd)).toBeLessThan(1e-5);
      expect(maxRelError(gotFresh, sums)).toBeLessThan(1e-5);
      for (const t of [th, tg, td, tdd, out, fresh]) rt.release(t);
    });
  }

  it('rejects bad shapes and aliasing', async () => {
    const rt = await gpuRuntime();
    const h = rt.tensor('h', [4, 3]);
    const d = rt.tensor('d', [3]);
    expect(() => diagScale(rt, { out: h, h, d, M: 4, k: 3 })).toThrow(/diagScale: out \(h\) must not be the same buffer as h/);
    expect(() => diagScale(rt, { out: rt.tensor('o', [4, 3]), h, d: rt.tensor('d4', [4]), M: 4, k: 3 })).toThrow(/diagScale: d \(d4\) has shape \[4\], expected \[3\]/);
    expect(() => diagGrad(rt, { dd: d, h, dh2: rt.tensor('g', [4, 2]), M: 4, k: 3 })).toThrow(/diagGrad: dh2 \(g\) has shape \[4, 2\], expected \[4, 3\]/);
    expect(() => diagGrad(rt, { dd: d, h, dh2: h, M: 4, k: 0 })).toThrow(/k = 0 must be a positive integer/);
  });
});
