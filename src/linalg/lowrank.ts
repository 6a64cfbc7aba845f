/**
 * Singular values of a low-rank product B A (B [m, r], A [r, n], r ≪ m, n: a LoRA update ΔW = B A) without
 * forming the m×n product: with B = Q_B R_B and Aᵀ = Q_A R_A (thin QRs on the GPU), B A = Q_B (R_B R_Aᵀ) Q_Aᵀ,
 * and Q_B, Q_A have orthonormal columns, so B A has the singular values of the r×r core R_B R_Aᵀ. The core is
 * tiny; its SVD runs in float64 on the CPU. Cost: two thin QRs (O((m + n) r²)) instead of an m×n SVD.
 */
import { expectDims, expectMatrix, matmul } from '../gpu/ops/matmul';
import type { GpuRuntime } from '../gpu/runtime';
import type { GpuTensor } from '../gpu/tensor';
import { smallSingularValues } from './dense64';
import { singularValues } from './exact';
import { transpose } from './ops';
import { orthonormalize } from './qr';

/**
 * Singular values (descending) of B [m, r] · A [r, n] without forming it: QR of B and of Aᵀ, SVD of the r×r core
 * R_B R_Aᵀ. Returns min(r, m, n) values (the product's rank is at most that). When r exceeds m or n the thin QRs
 * do not exist and the product is formed instead (it is then no larger than the factors).
 */
export async function lowRankSingularValues(rt: GpuRuntime, B: GpuTensor, A: GpuTensor, m: number, n: number, r: number): Promise<Float64Array> {
  const op = 'lowRankSingularValues';
  expectDims(op, { m, n, r });
  expectMatrix(op, 'B', B, m, r);
  expectMatrix(op, 'A', A, r, n);
  if (r > Math.min(m, n)) {
    const P = rt.tensor('lowrank product', [m, n]);
    matmul(rt, { out: P, a: B, b: A, M: m, N: n, K: r });
    try {
      return await singularValues(rt, P, m, n);
    } finally {
      rt.release(P);
    }
  }
  const At = rt.tensor('lowrank At', [n, r]);
  transpose(rt, At, A, r, n);
  const qb = await orthonormalize(rt, B, m, r);
  rt.release(qb.Q);
  const qa = await orthonormalize(rt, At, n, r);
  rt.release(qa.Q);
  rt.release(At);
  // core = R_B R_Aᵀ [r, r]
  const core = new Float64Array(r * r);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let p = 0; p < r; p++) s += qb.R[i * r + p] * qa.R[j * r + p];
      core[i * r + j] = s;
    }
  }
  return smallSingularValues(core, r, r);
}
