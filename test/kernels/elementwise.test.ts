import { describe, expect, it } from 'vitest';
import { addInPlace, fill } from '../../src/gpu/ops/elementwise';
import { gpuRuntime, maxAbsError, randomArray } from '../support/gpu';

describe('elementwise kernels', () => {
  it('add_inplace matches a float64 reference on an odd length', async () => {
    const rt = await gpuRuntime();
    const n = 1037;
    const a = randomArray(n, 1);
    const b = randomArray(n, 2);
    const ta = rt.upload('a', [n], a);
    const tb = rt.upload('b', [n], b);
    addInPlace(rt, ta, tb, 0.5);
    const got = await rt.read(ta);
    const want = Array.from(a, (v, i) => v + 0.5 * b[i]);
    expect(maxAbsError(got, want)).toBeLessThan(1e-6);
  });

  it('fill sets every element and rejects mismatched shapes', async () => {
    const rt = await gpuRuntime();
    const t = rt.tensor('t', [3, 5]);
    fill(rt, t, 2.5);
    expect(Array.from(await rt.read(t))).toEqual(new Array(15).fill(2.5));
    expect(() => addInPlace(rt, t, rt.tensor('u', [5, 3]))).toThrow(/shape \[5, 3\], expected \[3, 5\]/);
  });
});
