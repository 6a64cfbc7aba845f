/**
 * The exact SVD on the GPU (one-sided Jacobi to convergence, jacobi.ts), sorted and with its vectors laid out
 * as columns. Matrices are row-major f32 GpuTensors; `m×n` means m rows. Import it through svd.ts.
 *
 * Accuracy of exactSvd in f32 (test/linalg/svd.test.ts measures it on fixture weights and random shapes up to
 * 255 columns): leading singular values within ~5e-7 relative of float64, U S Vᵀ reconstructs W within ~1e-6
 * to 4e-6 relative (Frobenius; it grows like the square root of the rotations a column goes through), U and V
 * orthonormal within ~3e-6. The thousands of f32 rotations scale each column by up to ~1e-5 (c² + s² is 1 only
 * to rounding); X and V undergo the same rotations, so σ_j = ‖x_j‖ / ‖v_j‖ cancels that drift. Without vectors
 * there is no V to divide by, and singular values are within ~5e-6 relative.
 *
 * Zero singular values: the side Jacobi rotates (V for m ≥ n, U for m < n) is always orthonormal. On the other
 * side, column j is row j of the working matrix divided by σ_j: a column whose σ_j is exactly 0 is left zero,
 * and one whose σ_j is at rounding level (≲ 1e-6 σ₁, a numerically rank-deficient W) is normalised rounding
 * noise, unit length but not orthogonal to the rest. Use `rank` to keep only the numerically non-zero triplets.
 */
import { expectDims, expectMatrix } from '../gpu/ops/matmul';
import type { GpuRuntime } from '../gpu/runtime';
import type { GpuTensor } from '../gpu/tensor';
import { jacobiOrthogonalize } from './jacobi';
import { gatherColumns } from './ops';

export interface Svd {
  m: number;
  n: number;
  /** Triplets held. */
  k: number;
  /** [m, k], orthonormal columns */
  U: GpuTensor;
  /** [k], descending */
  S: Float64Array;
  /** [n, k], orthonormal columns */
  V: GpuTensor;
}

export interface ExactSvdOptions {
  /** Triplets to keep (default all min(m, n)); larger values are clamped to min(m, n). */
  rank?: number;
  /** Keep the smallest `rank` triplets instead of the largest (still in descending order). */
  smallest?: boolean;
  /** Compute U and V (default true). Without them U and V are zero-size tensors ([m, 0], [n, 0]). */
  vectors?: boolean;
}

export function releaseSvd(rt: GpuRuntime, s: Svd): void {
  rt.release(s.U);
  rt.release(s.V);
}

/** Indices of the kept triplets, by descending σ. */
function selectTriplets(sigma: Float64Array, rank: number, smallest: boolean): number[] {
  const order = Array.from(sigma, (_, j) => j).sort((a, b) => sigma[b] - sigma[a] || a - b);
  return smallest ? order.slice(order.length - rank) : order.slice(0, rank);
}

function validateRank(op: string, rank: number | undefined, C: number): number {
  if (rank === undefined) return C;
  if (!Number.isInteger(rank) || rank < 1) throw new Error(`${op}: rank = ${rank} must be a positive integer`);
  return Math.min(rank, C);
}

/**
 * Exact SVD (one-sided Jacobi on the GPU, to convergence). All min(m, n) triplets, or the top `rank` (or the
 * smallest `rank` when smallest: true, still in descending order). vectors: false skips the rotations of the
 * short side and the vector output (U, V are then zero-size tensors).
 */
export async function exactSvd(rt: GpuRuntime, W: GpuTensor, m: number, n: number, opts: ExactSvdOptions = {}): Promise<Svd> {
  const op = 'exactSvd';
  expectDims(op, { m, n });
  expectMatrix(op, 'W', W, m, n);
  const k = validateRank(op, opts.rank, Math.min(m, n));
  const vectors = opts.vectors ?? true;
  const st = await jacobiOrthogonalize(rt, W, m, n, { vectors });
  try {
    const sigma = st.sumsq.map((q, j) => Math.sqrt(q) / (st.vNorms ? st.vNorms[j] : 1));
    const kept = selectTriplets(sigma, k, opts.smallest ?? false);
    const S = Float64Array.from(kept, (j) => sigma[j]);
    if (!vectors || !st.Vt) return { m, n, k, U: rt.tensor('svd U', [m, 0]), S, V: rt.tensor('svd V', [n, 0]) };
    // Long side: rows of X divided by σ (zero stays zero); short side: the accumulated rotations, renormalised.
    const long = rt.tensor('svd long vectors', [st.L, k]);
    gatherColumns(rt, long, st.X, st.L, kept, kept.map((j) => (st.sumsq[j] > 0 ? 1 / Math.sqrt(st.sumsq[j]) : 0)));
    const short = rt.tensor('svd short vectors', [st.C, k]);
    const vNorms = st.vNorms ?? new Float64Array(st.C).fill(1);
    gatherColumns(rt, short, st.Vt, st.C, kept, kept.map((j) => 1 / vNorms[j]));
    return st.tall ? { m, n, k, U: long, S, V: short } : { m, n, k, U: short, S, V: long };
  } finally {
    // The gathers above are recorded: submit them before the buffers they read are destroyed.
    rt.flush();
    rt.release(st.X);
    if (st.Vt) rt.release(st.Vt);
  }
}

/** Singular values only, all min(m, n), descending. */
export async function singularValues(rt: GpuRuntime, W: GpuTensor, m: number, n: number): Promise<Float64Array> {
  const s = await exactSvd(rt, W, m, n, { vectors: false });
  releaseSvd(rt, s);
  return s.S;
}
