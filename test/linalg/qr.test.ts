/**
 * orthonormalize (CholeskyQR2 on the GPU, shifted passes for ill-conditioned input, Householder for rank-
 * deficient input) against the float64 Householder reference: Q orthonormal, X = Q R, R upper with R_ii ≥ 0
 * and equal to the reference R (the thin QR with positive diagonal is unique for full-rank X).
 */
import { describe, expect, it } from 'vitest';
import { type QrDetails, orthonormalize, orthonormalizeDetailed } from '../../src/linalg/qr';
import { gpuRuntime } from '../support/gpu';
import { gaussian64, matmul64, matrixWithSpectrum, orthonormalityError, qr64 } from '../support/linalg64';

function relFrobenius(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

async function check(name: string, x: Float32Array, m: number, k: number, tol: { ortho: number; rec: number; r?: number }): Promise<QrDetails> {
  const rt = await gpuRuntime();
  const X = rt.upload('X', [m, k], x);
  const details = await orthonormalizeDetailed(rt, X, m, k);
  const { Q, R } = details;
  expect(Q.shape).toEqual([m, k]);
  expect(R.length).toBe(k * k);
  const q = await rt.read(Q);
  const ortho = orthonormalityError(q, m, k);
  const rec = relFrobenius(matmul64(q, R, m, k, k), x);
  for (let i = 0; i < k; i++) {
    expect(R[i * k + i]).toBeGreaterThanOrEqual(0);
    for (let j = 0; j < i; j++) expect(R[i * k + j]).toBe(0);
  }
  let rErr = 0;
  if (tol.r !== undefined) rErr = relFrobenius(R, qr64(x, m, k).R);
  console.log(`${name} (${details.method}, ${details.passes} passes, ${details.shifted} shifted): |QᵀQ−I| ${ortho.toExponential(2)}, ‖QR−X‖/‖X‖ ${rec.toExponential(2)}${tol.r !== undefined ? `, ‖R−R64‖/‖R64‖ ${rErr.toExponential(2)}` : ''}`);
  expect(ortho).toBeLessThan(tol.ortho);
  expect(rec).toBeLessThan(tol.rec);
  if (tol.r !== undefined) expect(rErr).toBeLessThan(tol.r);
  // X is left untouched.
  expect(Array.from(await rt.read(X))).toEqual(Array.from(x));
  rt.release(X);
  rt.release(Q);
  return details;
}

describe('orthonormalize', () => {
  it.each([[37, 23], [150, 7], [23, 23], [1, 1], [9, 1]])('well-conditioned %i x %i (CholeskyQR2)', async (m, k) => {
    const d = await check(`${m}x${k}`, Float32Array.from(gaussian64(m * k, m + 31 * k)), m, k, { ortho: 1e-5, rec: 1e-5, r: 1e-5 });
    expect([d.method, d.passes, d.shifted]).toEqual(['cholesky', 2, 0]);
  });

  it('ill-conditioned X (κ = 1e5, beyond CholeskyQR2 in f32) through the shifted passes', async () => {
    const m = 201;
    const k = 13;
    const sv = Array.from({ length: k }, (_, i) => 10 ** (-5 * i / (k - 1)));
    const d = await check('κ=1e5 201x13', Float32Array.from(matrixWithSpectrum(m, k, sv, 4)), m, k, { ortho: 1e-5, rec: 1e-5 });
    expect(d.method).toBe('cholesky');
    expect(d.shifted).toBeGreaterThan(0);
    expect(d.passes).toBeGreaterThanOrEqual(3);
  });

  it('rank-deficient X (a dependent and a zero column) falls back to Householder: Q still orthonormal', async () => {
    const m = 57;
    const k = 9;
    const base = matrixWithSpectrum(m, 7, [3, 2, 1, 0.5, 0.25, 0.1, 0.05], 8);
    const x = new Float32Array(m * k);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < 7; j++) x[i * k + j] = base[i * 7 + j];
      x[i * k + 7] = base[i * 7] + base[i * 7 + 1];
    }
    const d = await check('rank 7 of 57x9', x, m, k, { ortho: 1e-6, rec: 1e-6 });
    expect(d.method).toBe('householder');
  });

  it('an already orthonormal X takes one pass', async () => {
    const rt = await gpuRuntime();
    const x = Float32Array.from(qr64(gaussian64(40 * 6, 2), 40, 6).Q);
    const X = rt.upload('X', [40, 6], x);
    const d = await orthonormalizeDetailed(rt, X, 40, 6);
    expect(d.passes).toBe(1);
    expect(orthonormalityError(await rt.read(d.Q), 40, 6)).toBeLessThan(1e-6);
    const plain = await orthonormalize(rt, X, 40, 6);
    expect(Object.keys(plain).sort()).toEqual(['Q', 'R']);
    for (const t of [X, d.Q, plain.Q]) rt.release(t);
  });

  it('rejects wide input and wrong shapes', async () => {
    const rt = await gpuRuntime();
    const X = rt.tensor('X', [3, 5]);
    await expect(orthonormalize(rt, X, 3, 5)).rejects.toThrow(/orthonormalize: X is 3 x 5; thin QR needs at least as many rows as columns/);
    await expect(orthonormalize(rt, X, 5, 3)).rejects.toThrow(/orthonormalize: X \(X\) has shape \[3, 5\], expected \[5, 3\]/);
    const bad = rt.upload('bad', [4, 2], Float32Array.from([1, 2, 3, Number.NaN, 5, 6, 7, 8]));
    await expect(orthonormalize(rt, bad, 4, 2)).rejects.toThrow(/orthonormalize: X \[4, 2\] holds NaN or inf/);
    rt.release(X);
    rt.release(bad);
  });
});
