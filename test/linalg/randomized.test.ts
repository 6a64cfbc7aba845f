/**
 * randomizedSvd (Halko–Martinsson–Tropp with re-orthonormalised subspace iteration) against the float64 SVD:
 * top-k values on decaying spectra with the defaults (p = 8, q = 4), the rank-k reconstruction against the
 * optimal (Eckart–Young) error on a low-rank-plus-noise matrix, wide matrices, seeding, and the fallbacks.
 */
import { describe, expect, it } from 'vitest';
import type { GpuRuntime } from '../../src/gpu/runtime';
import { exactSvd, randomizedSvd, releaseSvd, type Svd } from '../../src/linalg/svd';
import { gpuRuntime } from '../support/gpu';
import { gaussian64, matrixWithSpectrum, maxRelDiff, orthonormalityError, reconstructionError, svd64 } from '../support/linalg64';

async function readSvd(rt: GpuRuntime, s: Svd): Promise<{ U: Float32Array; V: Float32Array }> {
  return { U: await rt.read(s.U), V: await rt.read(s.V) };
}

/** ‖W − W_k‖_F / ‖W‖_F for the best rank-k approximation: √(Σ_{i≥k} σ_i²) / √(Σ σ_i²). */
function optimalError(sv: ArrayLike<number>, k: number): number {
  let tail = 0;
  let total = 0;
  for (let i = 0; i < sv.length; i++) {
    total += sv[i] ** 2;
    if (i >= k) tail += sv[i] ** 2;
  }
  return Math.sqrt(tail / total);
}

describe('randomizedSvd', () => {
  it.each([[203, 151], [97, 260]])('top 16 of a decaying spectrum (%i x %i) within 1e-3 with the defaults', async (m, n) => {
    const rt = await gpuRuntime();
    const c = Math.min(m, n);
    const sv = Array.from({ length: c }, (_, i) => 0.9 ** i);
    const w = Float32Array.from(matrixWithSpectrum(m, n, sv, m + n));
    const W = rt.upload('W', [m, n], w);
    const s = await randomizedSvd(rt, W, m, n, { rank: 16, seed: 1 });
    expect(s.k).toBe(16);
    expect(s.U.shape).toEqual([m, 16]);
    expect(s.V.shape).toEqual([n, 16]);
    const { U, V } = await readSvd(rt, s);
    const rel = maxRelDiff(s.S, sv, 16);
    const rec = reconstructionError(w, m, n, U, s.S, V, 16);
    const opt = optimalError(sv, 16);
    const ou = orthonormalityError(U, m, 16);
    const ov = orthonormalityError(V, n, 16);
    console.log(`${m}x${n} rank 16: top σ rel ${rel.toExponential(2)}, ‖W−USVᵀ‖/‖W‖ ${rec.toExponential(4)} (optimal ${opt.toExponential(4)}), |UᵀU−I| ${ou.toExponential(2)}, |VᵀV−I| ${ov.toExponential(2)}`);
    expect(rel).toBeLessThan(1e-3);
    expect(rec).toBeLessThan(opt * (1 + 1e-3));
    expect(ou).toBeLessThan(1e-4);
    expect(ov).toBeLessThan(1e-4);
    releaseSvd(rt, s);
    rt.release(W);
  });

  it('recovers a low-rank-plus-noise matrix to the noise level (optimal rank-10 error)', async () => {
    const rt = await gpuRuntime();
    const m = 181;
    const n = 133;
    const low = matrixWithSpectrum(m, n, Array.from({ length: 10 }, (_, i) => 10 - i), 3);
    const noise = gaussian64(m * n, 4);
    const w = Float32Array.from(low, (v, i) => v + 1e-3 * noise[i]);
    const ref = svd64(w, m, n);
    const W = rt.upload('W', [m, n], w);
    const s = await randomizedSvd(rt, W, m, n, { rank: 10, seed: 7 });
    const { U, V } = await readSvd(rt, s);
    const rel = maxRelDiff(s.S, ref.S, 10);
    const rec = reconstructionError(w, m, n, U, s.S, V, 10);
    const opt = optimalError(ref.S, 10);
    console.log(`low rank + noise ${m}x${n}: top-10 σ rel ${rel.toExponential(2)}, ‖W−USVᵀ‖/‖W‖ ${rec.toExponential(4)} (optimal ${opt.toExponential(4)})`);
    expect(rel).toBeLessThan(1e-5);
    expect(rec).toBeLessThan(opt * 1.01);
    // And far from the noise-free part only by the noise: U S Vᵀ ≈ low.
    expect(reconstructionError(low, m, n, U, s.S, V, 10)).toBeLessThan(3 * opt);
    releaseSvd(rt, s);
    rt.release(W);
  });

  it('is deterministic for a seed; q = 0 is a plain sketch and less accurate', async () => {
    const rt = await gpuRuntime();
    const m = 121;
    const n = 77;
    const sv = Array.from({ length: n }, (_, i) => 1 / (1 + i));
    const w = Float32Array.from(matrixWithSpectrum(m, n, sv, 12));
    const W = rt.upload('W', [m, n], w);
    const a = await randomizedSvd(rt, W, m, n, { rank: 6, oversample: 5, seed: 3 });
    const b = await randomizedSvd(rt, W, m, n, { rank: 6, oversample: 5, seed: 3 });
    expect(Array.from(b.S)).toEqual(Array.from(a.S));
    const plain = await randomizedSvd(rt, W, m, n, { rank: 6, oversample: 5, powerIters: 0, seed: 3 });
    const relIter = maxRelDiff(a.S, sv, 6);
    const relPlain = maxRelDiff(plain.S, sv, 6);
    console.log(`1/(1+i) spectrum, rank 6 p 5: q=4 σ rel ${relIter.toExponential(2)}, q=0 σ rel ${relPlain.toExponential(2)}`);
    expect(relIter).toBeLessThan(1e-3);
    expect(relPlain).toBeGreaterThan(relIter);
    for (const s of [a, b, plain]) releaseSvd(rt, s);
    rt.release(W);
  });

  it('a sketch as wide as the matrix is the exact SVD; a matrix of rank below the sketch stays finite', async () => {
    const rt = await gpuRuntime();
    const w = Float32Array.from(gaussian64(19 * 29, 5));
    const W = rt.upload('W', [19, 29], w);
    const r = await randomizedSvd(rt, W, 19, 29, { rank: 12, seed: 1 }); // l = min(20, 19) = 19
    const e = await exactSvd(rt, W, 19, 29, { rank: 12 });
    expect(Array.from(r.S)).toEqual(Array.from(e.S));
    for (const s of [r, e]) releaseSvd(rt, s);

    const m = 90;
    const n = 70;
    const lowRank = Float32Array.from(matrixWithSpectrum(m, n, [5, 4, 3, 2, 1], 6)); // rank 5 < l = 12
    const L = rt.upload('L', [m, n], lowRank);
    const s = await randomizedSvd(rt, L, m, n, { rank: 4, seed: 2 });
    const { U, V } = await readSvd(rt, s);
    expect(U.every(Number.isFinite) && V.every(Number.isFinite)).toBe(true);
    expect(maxRelDiff(s.S, [5, 4, 3, 2])).toBeLessThan(1e-5);
    expect(orthonormalityError(U, m, 4)).toBeLessThan(1e-5);
    releaseSvd(rt, s);
    for (const t of [W, L]) rt.release(t);
  });

  it('rejects bad options', async () => {
    const rt = await gpuRuntime();
    const W = rt.tensor('W', [30, 40]);
    await expect(randomizedSvd(rt, W, 30, 40, { rank: 0, seed: 1 })).rejects.toThrow(/randomizedSvd: rank = 0 must be a positive integer/);
    await expect(randomizedSvd(rt, W, 30, 40, { rank: 3, oversample: -1, seed: 1 })).rejects.toThrow(/oversample = -1 must be a non-negative integer/);
    await expect(randomizedSvd(rt, W, 40, 30, { rank: 3, seed: 1 })).rejects.toThrow(/has shape \[30, 40\], expected \[40, 30\]/);
    rt.release(W);
  });
});
