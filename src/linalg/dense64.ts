/**
 * Small dense float64 kernels on the CPU for the k×k (or r×r) pieces of the GPU algorithms: Cholesky of a Gram
 * matrix, triangular inverse and product, Householder QR (the last-resort orthonormalisation), and the singular
 * values of a small core matrix. Row-major Float64Array; k is small (a rank plus oversampling), so O(k³) is
 * nothing next to the GPU's O(m·k²) work. Householder is O(m·k²) on the CPU and only runs as a fallback.
 */

/** Upper-triangular R with RᵀR = (G + Gᵀ)/2 + shift·I, or null when a pivot is not safely positive. */
export function cholesky(G: ArrayLike<number>, k: number, shift = 0): Float64Array | null {
  const R = new Float64Array(k * k);
  for (let j = 0; j < k; j++) {
    const gjj = G[j * k + j] + shift;
    let d = gjj;
    for (let p = 0; p < j; p++) d -= R[p * k + j] ** 2;
    // A pivot that lost all but ~1e-10 of its diagonal is rounding noise: the column is numerically dependent.
    if (!(d > 1e-10 * gjj) || !Number.isFinite(d)) return null;
    const rjj = Math.sqrt(d);
    R[j * k + j] = rjj;
    for (let i = j + 1; i < k; i++) {
      let s = 0.5 * (G[j * k + i] + G[i * k + j]);
      for (let p = 0; p < j; p++) s -= R[p * k + j] * R[p * k + i];
      R[j * k + i] = s / rjj;
    }
  }
  return R;
}

/** Inverse of an upper-triangular R with non-zero diagonal (upper-triangular too). */
export function invertUpper(R: Float64Array, k: number): Float64Array {
  const inv = new Float64Array(k * k);
  for (let j = k - 1; j >= 0; j--) {
    inv[j * k + j] = 1 / R[j * k + j];
    for (let i = j - 1; i >= 0; i--) {
      let s = 0;
      for (let p = i + 1; p <= j; p++) s += R[i * k + p] * inv[p * k + j];
      inv[i * k + j] = -s / R[i * k + i];
    }
  }
  return inv;
}

/** a [p, q] · b [q, r]. */
export function matmul64(a: Float64Array, b: Float64Array, p: number, q: number, r: number): Float64Array {
  const out = new Float64Array(p * r);
  for (let i = 0; i < p; i++) {
    for (let t = 0; t < q; t++) {
      const v = a[i * q + t];
      if (v === 0) continue;
      for (let j = 0; j < r; j++) out[i * r + j] += v * b[t * r + j];
    }
  }
  return out;
}

export function identity64(k: number): Float64Array {
  const I = new Float64Array(k * k);
  for (let i = 0; i < k; i++) I[i * k + i] = 1;
  return I;
}

/** (ratio of the largest to the smallest |R_ii|): a cheap lower bound on the condition number of R. */
export function diagonalRatio(R: Float64Array, k: number): number {
  let lo = Infinity;
  let hi = 0;
  for (let i = 0; i < k; i++) {
    const d = Math.abs(R[i * k + i]);
    lo = Math.min(lo, d);
    hi = Math.max(hi, d);
  }
  return hi / lo;
}

/**
 * Thin Householder QR of X [m, k] (m ≥ k) in float64: Q [m, k] with orthonormal columns even when X is rank-
 * deficient (a zero column gets a unit vector orthogonal to the others), R [k, k] upper with R_ii ≥ 0.
 */
export function householderQr(x: ArrayLike<number>, m: number, k: number): { Q: Float64Array; R: Float64Array } {
  const A = new Float64Array(k * m); // column j of X as row j
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) A[j * m + i] = x[i * k + j];
  const vs: Float64Array[] = [];
  for (let j = 0; j < k; j++) {
    const v = new Float64Array(m);
    let nrm = 0;
    for (let t = j; t < m; t++) nrm += A[j * m + t] ** 2;
    nrm = Math.sqrt(nrm);
    const alpha = A[j * m + j] >= 0 ? -nrm : nrm;
    for (let t = j; t < m; t++) v[t] = A[j * m + t];
    v[j] -= alpha;
    let vn = 0;
    for (let t = j; t < m; t++) vn += v[t] * v[t];
    if (vn > 0) {
      for (let c = j; c < k; c++) {
        let d = 0;
        for (let t = j; t < m; t++) d += v[t] * A[c * m + t];
        const f = (2 * d) / vn;
        for (let t = j; t < m; t++) A[c * m + t] -= f * v[t];
      }
    }
    vs.push(v);
  }
  const Qt = new Float64Array(k * m);
  for (let c = 0; c < k; c++) {
    Qt[c * m + c] = 1;
    for (let j = k - 1; j >= 0; j--) {
      const v = vs[j];
      let vn = 0;
      let d = 0;
      for (let t = j; t < m; t++) {
        vn += v[t] * v[t];
        d += v[t] * Qt[c * m + t];
      }
      if (vn === 0) continue;
      const f = (2 * d) / vn;
      for (let t = j; t < m; t++) Qt[c * m + t] -= f * v[t];
    }
  }
  const R = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = i; j < k; j++) R[i * k + j] = A[j * m + i];
  for (let i = 0; i < k; i++) {
    if (R[i * k + i] >= 0) continue;
    for (let j = i; j < k; j++) R[i * k + j] = -R[i * k + j];
    for (let t = 0; t < m; t++) Qt[i * m + t] = -Qt[i * m + t];
  }
  const Q = new Float64Array(m * k);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) Q[i * k + j] = Qt[j * m + i];
  return { Q, R };
}

/**
 * Singular values (descending) of a small p×q matrix by one-sided Jacobi in float64: for the r×r cores of
 * low-rank products, where r is a LoRA rank and the work is negligible.
 */
export function smallSingularValues(a: ArrayLike<number>, p: number, q: number): Float64Array {
  const tall = p >= q;
  const c = Math.min(p, q);
  const L = Math.max(p, q);
  const cols = new Float64Array(c * L); // vectors being orthogonalised, as rows
  for (let i = 0; i < p; i++) for (let j = 0; j < q; j++) cols[tall ? j * L + i : i * L + j] = a[i * q + j];
  for (let sweep = 0; sweep < 80; sweep++) {
    let rotated = false;
    for (let i = 0; i < c - 1; i++) {
      for (let j = i + 1; j < c; j++) {
        let al = 0;
        let be = 0;
        let ga = 0;
        for (let t = 0; t < L; t++) {
          const x = cols[i * L + t];
          const y = cols[j * L + t];
          al += x * x;
          be += y * y;
          ga += x * y;
        }
        if (al === 0 || be === 0 || Math.abs(ga) <= 1e-15 * Math.sqrt(al) * Math.sqrt(be)) continue;
        rotated = true;
        const zeta = (be - al) / (2 * ga);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const cs = 1 / Math.sqrt(1 + t * t);
        const sn = cs * t;
        for (let u = 0; u < L; u++) {
          const x = cols[i * L + u];
          const y = cols[j * L + u];
          cols[i * L + u] = cs * x - sn * y;
          cols[j * L + u] = sn * x + cs * y;
        }
      }
    }
    if (!rotated) break;
  }
  const sv = new Float64Array(c);
  for (let j = 0; j < c; j++) {
    let s = 0;
    for (let t = 0; t < L; t++) s += cols[j * L + t] ** 2;
    sv[j] = Math.sqrt(s);
  }
  return sv.sort().reverse();
}
