/**
 * Thin QR of a tall matrix X [m, k] (m ≥ k) on the GPU by CholeskyQR passes: the Gram matrix G = YᵀY on the GPU
 * (one tiled matmul, m·k² flops), its Cholesky G = RᵀR in float64 on the CPU (k×k), Y ← Y R⁻¹ on the GPU. The
 * heavy work stays on the GPU and only k×k numbers cross to the host per pass.
 *
 * One pass in f32 leaves Y orthonormal to about u·κ(Y)² (u = 2⁻²⁴), so passes repeat until a pass starts from a
 * Y whose Gram is already within 0.1 of I; that pass ends orthonormal to rounding. A well-conditioned X takes
 * two passes (CholeskyQR2). When the Gram is too ill-conditioned for Cholesky (κ ≳ 10³ in f32, e.g. the
 * products of a randomized SVD on a fast-decaying spectrum), the pass is shifted (Fukaya et al.'s shifted
 * CholeskyQR: Cholesky of G + s·I, which always succeeds and cuts κ by about √s / ‖X‖ per pass), making it
 * shifted CholeskyQR3 or more. A numerically rank-deficient X never becomes orthonormal that way (a third
 * shift in a row shows it); it is read back and factored by Householder in float64 on the CPU, which gives an
 * orthonormal Q for any X (O(m·k²) on the CPU: a fallback, e.g. for a sketch wider than the matrix's rank).
 */
import { expectDims, expectMatrix, matmul } from '../gpu/ops/matmul';
import type { GpuRuntime } from '../gpu/runtime';
import type { GpuTensor } from '../gpu/tensor';
import { cholesky, diagonalRatio, householderQr, identity64, invertUpper, matmul64 } from './dense64';

const U_F32 = 2 ** -24;
/** A pass whose input Gram is this close to I (max |G − I|) produces an orthonormal Q: the last pass. */
const NEAR_ORTHONORMAL = 0.1;
/** Above this diagonal ratio of R (a lower bound on κ), an unshifted f32 Cholesky pass is not trusted. */
const KAPPA_UNSHIFTED = 200;
const MAX_PASSES = 6;
/**
 * Each shifted pass cuts κ by ~100x, so f32's whole range (κ ≤ 1/u ≈ 1.7e7) needs at most two in a row; a third
 * means X is numerically rank-deficient (shifting cannot lift a zero singular value): go to Householder.
 */
const MAX_SHIFTED_IN_A_ROW = 2;

export interface QrResult {
  /** [m, k], orthonormal columns (a new tensor; X is left as it was) */
  Q: GpuTensor;
  /** [k, k] upper triangular, row-major float64, R_ii ≥ 0, X = Q R */
  R: Float64Array;
}

/** G = YᵀY [k, k] read back to the host in float64. */
async function gram(rt: GpuRuntime, Y: GpuTensor, m: number, k: number): Promise<Float64Array> {
  const G = rt.tensor('qr gram', [k, k]);
  matmul(rt, { out: G, a: Y, b: Y, M: k, N: k, K: m, transA: true });
  const g = Float64Array.from(await rt.read(G));
  rt.release(G);
  return g;
}

function maxDeviationFromIdentity(G: Float64Array, k: number): number {
  let d = 0;
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) d = Math.max(d, Math.abs(G[i * k + j] - (i === j ? 1 : 0)));
  return d;
}

/**
 * R with RᵀR ≈ G: unshifted when that is safe, else shifted by s = u·(m + k(k+1))·max G_ii, well above the
 * rounding of an f32 Gram (≈ u·√m·‖Y‖²) and small enough to reduce κ by ~100x per pass. Null when even the
 * shifted factorisation fails (a zero Y).
 */
function choleskyFactor(G: Float64Array, m: number, k: number): { R: Float64Array; shifted: boolean } | null {
  const R = cholesky(G, k);
  if (R && diagonalRatio(R, k) <= KAPPA_UNSHIFTED) return { R, shifted: false };
  let maxDiag = 0;
  for (let i = 0; i < k; i++) maxDiag = Math.max(maxDiag, G[i * k + i]);
  if (!(maxDiag > 0)) return null;
  const Rs = cholesky(G, k, U_F32 * (m + k * (k + 1)) * maxDiag);
  return Rs ? { R: Rs, shifted: true } : null;
}

/** The fallback: X read back, Householder QR in float64, Q uploaded. */
async function householderFallback(rt: GpuRuntime, X: GpuTensor, m: number, k: number): Promise<QrResult> {
  const x = await rt.read(X);
  const { Q, R } = householderQr(x.subarray(0, m * k), m, k);
  return { Q: rt.upload('qr Q', [m, k], Float32Array.from(Q)), R };
}

export interface QrDetails extends QrResult {
  /** CholeskyQR passes run on the GPU (2 for CholeskyQR2). */
  passes: number;
  /** Passes that needed the shift. */
  shifted: number;
  /** 'cholesky' or, for numerically rank-deficient X, 'householder'. */
  method: 'cholesky' | 'householder';
}

/**
 * Thin QR of X [m, k] (m ≥ k): CholeskyQR2 on the GPU, shifted CholeskyQR3 (or more passes) when the Gram
 * matrix is ill-conditioned, Householder on the CPU when X is numerically rank-deficient. Returns a new Q [m, k]
 * with orthonormal columns and R (k×k upper, row-major float64) with X = Q R.
 */
export async function orthonormalize(rt: GpuRuntime, X: GpuTensor, m: number, k: number): Promise<QrResult> {
  const { Q, R } = await orthonormalizeDetailed(rt, X, m, k);
  return { Q, R };
}

/** orthonormalize, also telling which path it took (tests and benchmarks). */
export async function orthonormalizeDetailed(rt: GpuRuntime, X: GpuTensor, m: number, k: number): Promise<QrDetails> {
  const op = 'orthonormalize';
  expectDims(op, { m, k });
  expectMatrix(op, 'X', X, m, k);
  if (m < k) throw new Error(`${op}: X is ${m} x ${k}; thin QR needs at least as many rows as columns`);
  let Y = X;
  let Rtot = identity64(k);
  let shifted = 0;
  let inARow = 0;
  let passes = 0;
  try {
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      const G = await gram(rt, Y, m, k);
      if (!G.every(Number.isFinite)) throw new Error(`${op}: X [${m}, ${k}] holds NaN or inf`);
      passes = pass;
      const last = maxDeviationFromIdentity(G, k) <= NEAR_ORTHONORMAL;
      const f = choleskyFactor(G, m, k);
      if (!f || (f.shifted && inARow === MAX_SHIFTED_IN_A_ROW)) break;
      const R = f.R;
      inARow = f.shifted ? inARow + 1 : 0;
      if (f.shifted) shifted++;
      const next = rt.tensor('qr Q', [m, k]);
      const rInv = rt.upload('qr R^-1', [k, k], Float32Array.from(invertUpper(R, k)));
      matmul(rt, { out: next, a: Y, b: rInv, M: m, N: k, K: k });
      // Submit before destroying what the product reads (a destroyed buffer fails the submit that uses it).
      rt.flush();
      rt.release(rInv);
      if (Y !== X) rt.release(Y);
      Y = next;
      Rtot = matmul64(R, Rtot, k, k, k);
      if (last) {
        const result: QrDetails = { Q: Y, R: Rtot, passes: pass + 1, shifted, method: 'cholesky' };
        Y = X; // handed to the caller: not released below
        return result;
      }
    }
  } finally {
    rt.flush();
    if (Y !== X) rt.release(Y);
  }
  return { ...(await householderFallback(rt, X, m, k)), passes, shifted, method: 'householder' };
}
