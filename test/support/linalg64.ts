/**
 * Float64 CPU linear algebra for tests: the reference the GPU linear algebra (src/linalg) is measured against,
 * and helpers to build matrices with a chosen spectrum. Independent of src/linalg on purpose, so a bug there
 * cannot hide in its own reference. Matrices are row-major Float64Array; `m×n` means m rows.
 *
 * svd64 is one-sided Jacobi (Hestenes) to full float64 convergence: slow (about 12·m·n² flops per sweep, 6-10
 * sweeps) but simple and accurate to a few ulps relative to σ₁ for every singular value. Keep test shapes
 * below a few hundred columns.
 */
import { householderQr } from '../../src/linalg/dense64';
import { Rng } from '../../src/util/rng';

export interface Svd64 {
  m: number;
  n: number;
  /** min(m, n) */
  k: number;
  /** [m, k] row-major, orthonormal columns (columns of zero singular values are orthonormal completions). */
  U: Float64Array;
  /** [k], descending */
  S: Float64Array;
  /** [n, k] row-major, orthonormal columns */
  V: Float64Array;
}

/** aᵀ [cols, rows] of a [rows, cols]. */
export function transpose64(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  if (a.length !== rows * cols) throw new Error(`transpose64: ${a.length} elements, expected ${rows} x ${cols}`);
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
  return out;
}

/** op(a) [M, K] · op(b) [K, N] in float64; transA means a is stored [K, M], transB that b is stored [N, K]. */
export function matmul64(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number, transA = false, transB = false): Float64Array {
  if (a.length !== M * K || b.length !== K * N) throw new Error(`matmul64: sizes ${a.length}, ${b.length} do not match M=${M} K=${K} N=${N}`);
  const A = transA ? transpose64(a, K, M) : Float64Array.from(a);
  const B = transB ? transpose64(b, N, K) : Float64Array.from(b);
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let p = 0; p < K; p++) {
      const aip = A[i * K + p];
      if (aip === 0) continue;
      const row = p * N;
      const o = i * N;
      for (let j = 0; j < N; j++) out[o + j] += aip * B[row + j];
    }
  }
  return out;
}

/**
 * One-sided Jacobi on the columns of a tall matrix stored transposed: `cols` holds c vectors of length L (row j
 * = column j), rotated in place until every pair is orthogonal to float64 precision; `rot` [c, c] accumulates
 * the rotations (row j = column j of V).
 */
function jacobiColumns(cols: Float64Array, c: number, L: number, rot: Float64Array): void {
  const tol = 1e-15;
  for (let sweep = 0; sweep < 80; sweep++) {
    let rotated = false;
    for (let i = 0; i < c - 1; i++) {
      for (let j = i + 1; j < c; j++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        const oi = i * L;
        const oj = j * L;
        for (let t = 0; t < L; t++) {
          const x = cols[oi + t];
          const y = cols[oj + t];
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (alpha === 0 || beta === 0 || Math.abs(gamma) <= tol * Math.sqrt(alpha) * Math.sqrt(beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const cs = 1 / Math.sqrt(1 + t * t);
        const sn = cs * t;
        for (let q = 0; q < L; q++) {
          const x = cols[oi + q];
          const y = cols[oj + q];
          cols[oi + q] = cs * x - sn * y;
          cols[oj + q] = sn * x + cs * y;
        }
        for (let q = 0; q < c; q++) {
          const x = rot[i * c + q];
          const y = rot[j * c + q];
          rot[i * c + q] = cs * x - sn * y;
          rot[j * c + q] = sn * x + cs * y;
        }
      }
    }
    if (!rotated) return;
  }
}

/**
 * Columns of `vecs` ([k, L], row j = vector j) whose norm is zero are replaced by unit vectors orthogonal to all
 * others (Gram-Schmidt on the canonical basis), so U stays orthonormal for rank-deficient matrices.
 */
function completeBasis(vecs: Float64Array, k: number, L: number, valid: boolean[]): void {
  let e = 0;
  for (let j = 0; j < k; j++) {
    if (valid[j]) continue;
    for (; e < L; e++) {
      const v = new Float64Array(L);
      v[e] = 1;
      for (let pass = 0; pass < 2; pass++) {
        for (let o = 0; o < k; o++) {
          if (!valid[o]) continue;
          let d = 0;
          for (let t = 0; t < L; t++) d += v[t] * vecs[o * L + t];
          for (let t = 0; t < L; t++) v[t] -= d * vecs[o * L + t];
        }
      }
      const nrm = Math.hypot(...v);
      if (nrm > 1e-6) {
        for (let t = 0; t < L; t++) vecs[j * L + t] = v[t] / nrm;
        valid[j] = true;
        e++;
        break;
      }
    }
  }
}

/** Full thin SVD in float64: W [m, n] = U diag(S) Vᵀ with all k = min(m, n) triplets, S descending. */
export function svd64(w: ArrayLike<number>, m: number, n: number): Svd64 {
  if (w.length !== m * n) throw new Error(`svd64: ${w.length} elements, expected ${m} x ${n}`);
  const tall = m >= n;
  const c = Math.min(m, n);
  const L = Math.max(m, n);
  // Work on the side with fewer columns: columns stored as rows of `cols` [c, L].
  const cols = tall ? transpose64(w, m, n) : Float64Array.from(w);
  const rot = new Float64Array(c * c);
  for (let i = 0; i < c; i++) rot[i * c + i] = 1;
  jacobiColumns(cols, c, L, rot);
  const norms = Array.from({ length: c }, (_, j) => {
    let s = 0;
    for (let t = 0; t < L; t++) s += cols[j * L + t] ** 2;
    return Math.sqrt(s);
  });
  const order = norms.map((_, j) => j).sort((a, b) => norms[b] - norms[a]);
  const S = Float64Array.from(order, (j) => norms[j]);
  // Normalised long vectors [c, L] in sorted order; columns with σ at rounding level are completed instead.
  const longVecs = new Float64Array(c * L);
  const valid = order.map((j) => norms[j] > S[0] * 1e-14 && norms[j] > 0);
  order.forEach((j, r) => {
    if (!valid[r]) return;
    for (let t = 0; t < L; t++) longVecs[r * L + t] = cols[j * L + t] / norms[j];
  });
  completeBasis(longVecs, c, L, valid);
  const shortVecs = new Float64Array(c * c);
  order.forEach((j, r) => shortVecs.set(rot.subarray(j * c, (j + 1) * c), r * c));
  const longT = transpose64(longVecs, c, L); // [L, c]
  const shortT = transpose64(shortVecs, c, c); // [c, c]
  return tall ? { m, n, k: c, U: longT, S, V: shortT } : { m, n, k: c, U: shortT, S, V: longT };
}

export function singularValues64(w: ArrayLike<number>, m: number, n: number): Float64Array {
  return svd64(w, m, n).S;
}

/** Thin Householder QR in float64 of X [m, k] (m ≥ k): Q [m, k] orthonormal, R [k, k] upper with R_ii ≥ 0. */
/** Thin Householder QR in float64 with R's diagonal non-negative (the CPU code src/linalg uses; checked against ml-matrix in linalg64.test). */
export function qr64(x: ArrayLike<number>, m: number, k: number): { Q: Float64Array; R: Float64Array } {
  return householderQr(x, m, k);
}

export function orthonormalityError(q: ArrayLike<number>, rows: number, k: number): number {
  const g = matmul64(q, q, k, rows, k, true, false);
  let worst = 0;
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) worst = Math.max(worst, Math.abs(g[i * k + j] - (i === j ? 1 : 0)));
  return worst;
}

/** ‖W − U diag(S) Vᵀ‖_F / ‖W‖_F for U [m, k], V [n, k]. */
export function reconstructionError(w: ArrayLike<number>, m: number, n: number, U: ArrayLike<number>, S: ArrayLike<number>, V: ArrayLike<number>, k: number): number {
  const us = new Float64Array(m * k);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) us[i * k + j] = U[i * k + j] * S[j];
  const r = matmul64(us, V, m, k, n, false, true);
  let num = 0;
  let den = 0;
  for (let i = 0; i < m * n; i++) {
    num += (w[i] - r[i]) ** 2;
    den += w[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(1e-300, Math.sqrt(den));
}

/** max_i |a_i − b_i| / |b_i| over the first `count` entries (default all of b). */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>, count = b.length): number {
  let worst = 0;
  for (let i = 0; i < count; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1e-300, Math.abs(b[i])));
  return worst;
}

/** Seeded standard Gaussian values. */
export function gaussian64(count: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  return Float64Array.from({ length: count }, () => rng.normal());
}

/** A random [rows, k] matrix with orthonormal columns (QR of a seeded Gaussian matrix). */
export function randomOrthonormal(rows: number, k: number, seed: number): Float64Array {
  return qr64(gaussian64(rows * k, seed), rows, k).Q;
}

/** W [m, n] = U diag(sv) Vᵀ with seeded random orthonormal U, V: a matrix whose spectrum is exactly `sv`. */
export function matrixWithSpectrum(m: number, n: number, sv: ArrayLike<number>, seed: number): Float64Array {
  const k = sv.length;
  if (k > Math.min(m, n)) throw new Error(`matrixWithSpectrum: ${k} singular values for a ${m} x ${n} matrix`);
  const U = randomOrthonormal(m, k, seed);
  const V = randomOrthonormal(n, k, seed + 1);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) U[i * k + j] *= sv[j];
  return matmul64(U, V, m, k, n, false, true);
}
