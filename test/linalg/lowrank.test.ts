/** lowRankSingularValues(B, A) against the float64 SVD of the formed product B A. */
import { describe, expect, it } from 'vitest';
import { lowRankSingularValues } from '../../src/linalg/lowrank';
import { gpuRuntime } from '../support/gpu';
import { gaussian64, matmul64, maxRelDiff, svd64 } from '../support/linalg64';

describe('lowRankSingularValues', () => {
  it.each([
    [97, 61, 5],
    [40, 133, 8],
    [23, 23, 1],
    [6, 50, 9], // r > m: the product is formed instead
  ])('B [%i, r] A [r, %i] with r = %i matches the SVD of the product', async (m, n, r) => {
    const rt = await gpuRuntime();
    const b = Float32Array.from(gaussian64(m * r, m + r));
    const a = Float32Array.from(gaussian64(r * n, n + 3 * r), (v) => 0.01 * v); // LoRA-like scales
    const ref = svd64(matmul64(b, a, m, r, n), m, n).S;
    const B = rt.upload('B', [m, r], b);
    const A = rt.upload('A', [r, n], a);
    const sv = await lowRankSingularValues(rt, B, A, m, n, r);
    const count = Math.min(r, m, n);
    expect(sv.length).toBe(count);
    const rel = maxRelDiff(sv, ref, count);
    console.log(`B [${m}, ${r}] A [${r}, ${n}]: σ rel ${rel.toExponential(2)}`);
    expect(rel).toBeLessThan(1e-5);
    for (let i = 1; i < count; i++) expect(sv[i]).toBeLessThanOrEqual(sv[i - 1]);
    for (const t of [A, B]) rt.release(t);
  });

  it('a zero factor (LoRA B at initialisation) gives zeros; a rank-deficient product keeps its zeros', async () => {
    const rt = await gpuRuntime();
    const m = 31;
    const n = 45;
    const r = 4;
    const B0 = rt.tensor('B0', [m, r]);
    const A = rt.upload('A', [r, n], Float32Array.from(gaussian64(r * n, 1)));
    expect(Array.from(await lowRankSingularValues(rt, B0, A, m, n, r))).toEqual([0, 0, 0, 0]);
    // B with two equal columns: rank 3.
    const b = Float32Array.from(gaussian64(m * r, 2));
    for (let i = 0; i < m; i++) b[i * r + 3] = b[i * r + 2];
    const ref = svd64(matmul64(b, await rt.read(A), m, r, n), m, n).S;
    const B = rt.upload('B', [m, r], b);
    const sv = await lowRankSingularValues(rt, B, A, m, n, r);
    expect(maxRelDiff(sv, ref, 3)).toBeLessThan(1e-5);
    expect(sv[3] / sv[0]).toBeLessThan(1e-6);
    for (const t of [B0, A, B]) rt.release(t);
  });

  it('rejects mismatched shapes', async () => {
    const rt = await gpuRuntime();
    const B = rt.tensor('B', [10, 3]);
    const A = rt.tensor('A', [4, 12]);
    await expect(lowRankSingularValues(rt, B, A, 10, 12, 3)).rejects.toThrow(/lowRankSingularValues: A \(A\) has shape \[4, 12\], expected \[3, 12\]/);
    for (const t of [A, B]) rt.release(t);
  });
});
