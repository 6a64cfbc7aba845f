/**
 * Halko–Martinsson–Tropp randomized truncated SVD (SIAM Review 2011, algorithms 4.4 and 5.1) on the GPU.
 *
 *   Ω [n, l] seeded Gaussian, l = k + p          Y = W Ω,  Q = orth(Y)
 *   q times:  Q̃ = orth(Wᵀ Q),  Q = orth(W Q̃)     (subspace iteration; sharpens the spectrum to σ^(2q+1))
 *   B = Qᵀ W [l, n] = Ũ Σ Vᵀ by the exact GPU Jacobi,  U = Q Ũ, keep the top k
 *
 * Re-orthonormalising after every product with W or Wᵀ (orthonormalize, CholeskyQR2) is what makes this work in
 * f32: the plain power iteration (W Wᵀ)^q W Ω squeezes everything below σ₁ under rounding within a few steps.
 * The cost is 2q + 2 products with W (m·n·l flops each) and small factorizations; with l ≪ min(m, n) it is far
 * cheaper than an exact SVD and, after the default q = 4 on a decaying spectrum, the top k values are within
 * ~1e-6 relative (test/linalg/randomized.test.ts).
 */
import { expectDims, expectMatrix, matmul } from '../gpu/ops/matmul';
import type { GpuRuntime } from '../gpu/runtime';
import type { GpuTensor } from '../gpu/tensor';
import { Rng } from '../util/rng';
import { orthonormalize } from './qr';
import { type Svd, exactSvd, releaseSvd } from './exact';

export interface RandomizedSvdOptions {
  /** Triplets wanted, k (clamped to min(m, n)). */
  rank: number;
  /** Extra sketch columns p (default 8): the sketch has l = min(k + p, min(m, n)) columns. */
  oversample?: number;
  /** Subspace iterations q (default 4). */
  powerIters?: number;
  /** Seed of the Gaussian test matrix. */
  seed: number;
}

function nonNegativeInt(op: string, name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) throw new Error(`${op}: ${name} = ${v} must be a non-negative integer`);
  return v;
}

/** Ω [n, l], standard Gaussian from the seed. */
function gaussianTestMatrix(rt: GpuRuntime, n: number, l: number, seed: number): GpuTensor {
  const rng = new Rng(seed);
  const omega = new Float32Array(n * l);
  for (let i = 0; i < omega.length; i++) omega[i] = rng.normal();
  return rt.upload('rsvd omega', [n, l], omega);
}

/** orth(op(W) · Q): the product, then its Q factor; the product and the input Q are released. */
async function productThenOrth(rt: GpuRuntime, W: GpuTensor, Q: GpuTensor, m: number, n: number, l: number, transposed: boolean): Promise<GpuTensor> {
  const rows = transposed ? n : m;
  const Y = rt.tensor(transposed ? 'rsvd Wt Q' : 'rsvd W Q', [rows, l]);
  matmul(rt, { out: Y, a: W, b: Q, M: rows, N: l, K: transposed ? m : n, transA: transposed });
  rt.flush();
  rt.release(Q);
  const { Q: next } = await orthonormalize(rt, Y, rows, l);
  rt.release(Y);
  return next;
}

/**
 * Randomized truncated SVD of W [m, n]: rank k, oversampling p (default 8), q power iterations (default 4),
 * re-orthonormalising after every product; seeded Gaussian test matrix; the small core's SVD by the exact GPU
 * Jacobi. When the sketch would be as wide as min(m, n) it is no cheaper than the exact SVD, which is used.
 */
export async function randomizedSvd(rt: GpuRuntime, W: GpuTensor, m: number, n: number, opts: RandomizedSvdOptions): Promise<Svd> {
  const op = 'randomizedSvd';
  expectDims(op, { m, n });
  expectMatrix(op, 'W', W, m, n);
  if (!Number.isInteger(opts.rank) || opts.rank < 1) throw new Error(`${op}: rank = ${opts.rank} must be a positive integer`);
  if (!Number.isFinite(opts.seed)) throw new Error(`${op}: seed = ${opts.seed} must be a finite number`);
  const p = nonNegativeInt(op, 'oversample', opts.oversample ?? 8);
  const q = nonNegativeInt(op, 'powerIters', opts.powerIters ?? 4);
  const c = Math.min(m, n);
  const k = Math.min(opts.rank, c);
  const l = Math.min(k + p, c);
  if (l === c) return exactSvd(rt, W, m, n, { rank: k });

  // Range finder with subspace iteration: Q [m, l] spans W's top-l left singular subspace.
  const omega = gaussianTestMatrix(rt, n, l, opts.seed);
  let Q = await productThenOrth(rt, W, omega, m, n, l, false);
  for (let i = 0; i < q; i++) {
    const Qt = await productThenOrth(rt, W, Q, m, n, l, true);
    Q = await productThenOrth(rt, W, Qt, m, n, l, false);
  }

  // Core B = Qᵀ W [l, n] and its exact SVD; U = Q Ũ.
  const B = rt.tensor('rsvd B', [l, n]);
  matmul(rt, { out: B, a: Q, b: W, M: l, N: n, K: m, transA: true });
  let core: Svd | null = null;
  try {
    core = await exactSvd(rt, B, l, n, { rank: k });
    const U = rt.tensor('rsvd U', [m, k]);
    matmul(rt, { out: U, a: Q, b: core.U, M: m, N: k, K: l });
    rt.flush();
    const V = core.V;
    rt.release(core.U);
    return { m, n, k, U, S: core.S, V };
  } catch (e) {
    if (core) releaseSvd(rt, core);
    throw e;
  } finally {
    rt.flush();
    rt.release(B);
    rt.release(Q);
  }
}
