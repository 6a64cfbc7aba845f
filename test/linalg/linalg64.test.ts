import { SingularValueDecomposition } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import {
  gaussian64, matmul64, matrixWithSpectrum, maxRelDiff, orthonormalityError, qr64, reconstructionError, svd64,
} from '../support/linalg64';

/** The float64 reference itself, checked against its definition and against ml-matrix (an independent SVD). */
describe('linalg64 (float64 CPU reference)', () => {
  it.each([[37, 23], [23, 37], [1, 9], [9, 1], [12, 12]])('svd64 %i x %i reconstructs, is orthonormal and matches ml-matrix', (m, n) => {
    const w = gaussian64(m * n, m * 100 + n);
    const s = svd64(w, m, n);
    expect(s.k).toBe(Math.min(m, n));
    for (let i = 1; i < s.k; i++) expect(s.S[i]).toBeLessThanOrEqual(s.S[i - 1]);
    expect(reconstructionError(w, m, n, s.U, s.S, s.V, s.k)).toBeLessThan(1e-13);
    expect(orthonormalityError(s.U, m, s.k)).toBeLessThan(1e-13);
    expect(orthonormalityError(s.V, n, s.k)).toBeLessThan(1e-13);
    const rows = Array.from({ length: m }, (_, i) => Array.from(w.subarray(i * n, (i + 1) * n)));
    const ml = new SingularValueDecomposition(rows, { autoTranspose: true }).diagonal;
    expect(maxRelDiff(s.S, ml.slice(0, s.k))).toBeLessThan(1e-12);
  });

  it('svd64 of a rank-deficient matrix keeps U orthonormal and gives zero singular values', () => {
    const w = matrixWithSpectrum(15, 11, [3, 2, 1], 5);
    const s = svd64(w, 15, 11);
    expect(maxRelDiff(s.S, [3, 2, 1], 3)).toBeLessThan(1e-13);
    for (let i = 3; i < 11; i++) expect(s.S[i]).toBeLessThan(1e-14);
    expect(orthonormalityError(s.U, 15, 11)).toBeLessThan(1e-13);
    expect(orthonormalityError(s.V, 11, 11)).toBeLessThan(1e-13);
  });

  it('qr64 gives orthonormal Q and upper R with QR = X', () => {
    const m = 29;
    const k = 7;
    const x = gaussian64(m * k, 3);
    const { Q, R } = qr64(x, m, k);
    expect(orthonormalityError(Q, m, k)).toBeLessThan(1e-14);
    for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) expect(R[i * k + j]).toBe(0);
    for (let i = 0; i < k; i++) expect(R[i * k + i]).toBeGreaterThan(0);
    const qr = matmul64(Q, R, m, k, k);
    expect(Math.max(...qr.map((v, i) => Math.abs(v - x[i])))).toBeLessThan(1e-13);
  });

  it('matrixWithSpectrum has exactly the requested spectrum', () => {
    const sv = [5, 1, 0.5, 1e-3];
    const s = svd64(matrixWithSpectrum(20, 13, sv, 9), 20, 13);
    expect(maxRelDiff(s.S, sv, 4)).toBeLessThan(1e-12);
  });
});
