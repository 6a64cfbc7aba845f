/**
 * One-sided (Hestenes) Jacobi on the GPU: rotates pairs of columns until all are mutually orthogonal, which
 * diagonalises WᵀW without forming it. Each round of a round-robin tournament rotates ⌈C/2⌉ disjoint pairs in
 * one dispatch (an invocation or a workgroup per pair, see ops.ts); a sweep (C − 1 rounds, or C for odd C)
 * meets every pair once. One value per sweep is read back (the largest pair cosine), never one per round.
 *
 * Why one-sided Jacobi: it is accurate in f32 (singular values come out as column norms, small ones with
 * small absolute error), its work is all contiguous dot products and rotations, and its convergence is
 * quadratic once off-diagonal terms are small, so a sweep count near 6-10 suffices for weight matrices.
 *
 * It works on the side with fewer columns: for W [m, n] with m ≥ n the columns of W (X = Wᵀ [n, m]), else the
 * columns of Wᵀ, i.e. the rows of W (X = W [m, n]). Either way X is [C, L], C = min(m, n), L = max(m, n).
 */
import { copyColumns } from '../gpu/ops/copy';
import { expectDims, expectMatrix } from '../gpu/ops/matmul';
import type { GpuRuntime } from '../gpu/runtime';
import type { GpuTensor } from '../gpu/tensor';
import { type JacobiVariant, columnSumSquares, jacobiPlayers, jacobiRound, jacobiVariant, setIdentity, transpose } from './ops';

/** Rotate a pair only when its cosine exceeds this: below it a rotation changes nothing measurable in f32. */
const ROTATE_TOL = 1e-7;
/** Converged when the largest cosine seen in a sweep is below this ... */
const CONVERGED = 2e-7;
/** ... or when it stopped halving while already this small (the f32 rounding floor of long dot products). */
const FLOOR = 2e-5;
const MAX_SWEEPS = 30;
/**
 * While the last measure is above this, the next sweep is recorded before the current one is read, so the GPU
 * never idles during a readback; below it the current sweep is probably the last (quadratic convergence), and
 * recording ahead would waste a sweep.
 */
const SPECULATE_ABOVE = 1e-4;

export interface JacobiState {
  /** [C, L]: rows σ_j u_j in no particular order (u_j of the long side), up to the drift vNorms measures. */
  X: GpuTensor;
  /** [C, C]: row j = the short side's vector paired with row j of X (norm vNorms[j]); null without vectors. */
  Vt: GpuTensor | null;
  C: number;
  L: number;
  /** m ≥ n: X holds W's columns (long side = U, short side = V); otherwise W's rows (long side = V). */
  tall: boolean;
  /** Squared norms of the rows of X, i.e. σ_j² in the same order. */
  sumsq: Float64Array;
  /** Norms of the rows of Vt (1 up to rotation rounding); null without vectors. */
  vNorms: Float64Array | null;
  /** Sweeps recorded, including one recorded ahead whose measure was not needed. */
  sweeps: number;
  /** Largest pair cosine measured in the last sweep that was read. */
  off: number;
}

export interface JacobiOptions {
  /** Accumulate the rotations (the short side's singular vectors). */
  vectors: boolean;
  maxSweeps?: number;
  /** Force a round kernel (tests cover both); default jacobiVariant(rt, L). */
  variant?: JacobiVariant;
}

/** Copies W into the working layout X [C, L] (columns of the side being orthogonalised as rows). */
function workingMatrix(rt: GpuRuntime, W: GpuTensor, m: number, n: number): GpuTensor {
  const X = rt.tensor('jacobi X', [Math.min(m, n), Math.max(m, n)]);
  if (m >= n) transpose(rt, X, W, m, n);
  else copyColumns(rt, { dst: X, src: W, rows: m, cols: n, srcStride: n, srcOffset: 0, dstStride: n, dstOffset: 0 });
  return X;
}

export async function jacobiOrthogonalize(rt: GpuRuntime, W: GpuTensor, m: number, n: number, opts: JacobiOptions): Promise<JacobiState> {
  const op = 'jacobiOrthogonalize';
  expectDims(op, { m, n });
  expectMatrix(op, 'W', W, m, n);
  const maxSweeps = opts.maxSweeps ?? MAX_SWEEPS;
  const C = Math.min(m, n);
  const L = Math.max(m, n);
  const X = workingMatrix(rt, W, m, n);
  let Vt: GpuTensor | null = null;
  if (opts.vectors) {
    Vt = rt.tensor('jacobi Vt', [C, C]);
    setIdentity(rt, Vt, C);
  }
  const conv = rt.tensor('jacobi conv', [maxSweeps], 'u32');
  const rounds = Math.max(1, jacobiPlayers(C) - 1);
  const variant = opts.variant ?? jacobiVariant(rt, L);
  const pending: Promise<number>[] = [];
  const record = (sweep: number): void => {
    for (let round = 0; round < rounds; round++) jacobiRound(rt, { X, Vt, conv, C, L, round, sweep, tol: ROTATE_TOL, variant });
    const read = rt.readback(conv, sweep, 1);
    rt.flush();
    pending[sweep] = read.then((buf) => new Float32Array(buf)[0]);
  };
  let off = Infinity;
  let prev = Infinity;
  try {
    for (let s = 0; s < maxSweeps; s++) {
      if (!pending[s]) record(s);
      if (s + 1 < maxSweeps && prev > SPECULATE_ABOVE) record(s + 1);
      off = await pending[s];
      if (!Number.isFinite(off)) throw new Error(`${op}: W [${m}, ${n}] holds NaN or inf (sweep ${s + 1} measured ${off})`);
      if (off <= CONVERGED || (off <= FLOOR && off > 0.5 * prev)) break;
      prev = off;
    }
    const sweeps = pending.length;
    // A sweep recorded ahead may still be in flight: its result is not needed, but its rejection must not go unhandled.
    pending[sweeps - 1]?.catch(() => undefined);
    const sq = rt.tensor('jacobi sumsq', [2 * C]);
    columnSumSquares(rt, sq, X, C, L);
    if (Vt) columnSumSquares(rt, sq, Vt, C, C, C);
    const both = Float64Array.from(await rt.read(sq));
    rt.release(sq);
    const sumsq = both.slice(0, C);
    if (!sumsq.every(Number.isFinite)) throw new Error(`${op}: W [${m}, ${n}] holds NaN or inf`);
    // Thousands of f32 rotations let the norms of V's columns drift by ~1e-5; exactSvd divides them out.
    const vNorms = Vt ? both.slice(C).map(Math.sqrt) : null;
    return { X, Vt, C, L, tall: m >= n, sumsq, vNorms, sweeps, off };
  } catch (e) {
    rt.release(X);
    if (Vt) rt.release(Vt);
    throw e;
  } finally {
    rt.release(conv);
  }
}
