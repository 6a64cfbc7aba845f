/**
 * SaRA's nuclear-norm regulariser λ‖ΔW‖_* on the sparse update (Hu et al.: it keeps the sparse update low-rank
 * against overfitting). Its (sub)gradient is λ U Vᵀ over the singular triplets of ΔW with σ > 0; only the kept
 * entries train, so the gradient is that product sampled at them (the same sampled kernel as the values' own
 * gradient, with the k triplets in place of tokens). `rank` 0 takes every triplet (exact Jacobi SVD); rank k
 * the top k of a randomized SVD, i.e. the sum of the k largest singular values (Ky Fan k-norm), which is what
 * stays affordable on wide layers.
 */
import { exactSvd, randomizedSvd, releaseSvd, type Svd } from '../../linalg/svd';
import { transpose } from '../../linalg/ops';
import type { GpuRuntime } from '../../gpu/runtime';
import { type GpuTensor, view } from '../../gpu/tensor';
import type { SparseLayer } from './layer';

export async function addNuclearGradient(rt: GpuRuntime, layer: SparseLayer, frozen: SparseLayer | null, lambda: number, rank: number, seed: number): Promise<void> {
  const { outFeatures: N, inFeatures: K, modulePath } = layer.linear;
  const dense = rt.tensor(`${modulePath} ΔW (nuclear norm)`, [N, K]);
  const temps: GpuTensor[] = [dense];
  let svd: Svd | null = null;
  try {
    layer.scatterInto(dense);
    frozen?.scatterInto(dense);
    const full = Math.min(N, K);
    svd = rank > 0 && rank < full ? await randomizedSvd(rt, dense, N, K, { rank, seed }) : await exactSvd(rt, dense, N, K);
    // Triplets with σ = 0 (Δ = 0 at the start) contribute nothing: the zero subgradient is a valid choice there.
    const tol = (svd.S[0] ?? 0) * 1e-6;
    const k = svd.S.filter((s) => s > tol).length;
    if (k === 0) return;
    const Ut = rt.tensor(`${modulePath} Uᵀ`, [svd.k, N]);
    const Vt = rt.tensor(`${modulePath} Vᵀ`, [svd.k, K]);
    temps.push(Ut, Vt);
    transpose(rt, Ut, svd.U, N, svd.k);
    transpose(rt, Vt, svd.V, K, svd.k);
    layer.addOuterGradient(view(Ut, [k, N]), view(Vt, [k, K]), k, lambda);
    rt.flush();
    await rt.idle();
  } finally {
    if (svd) releaseSvd(rt, svd);
    for (const t of temps) rt.release(t);
  }
}
