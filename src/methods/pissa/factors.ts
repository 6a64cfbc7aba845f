/**
 * PiSSA's (and MiLoRA's) initial factors of one weight, exactly PEFT 0.14's `pissa_init` formula:
 *   W [out, in] = U S Vᵀ;  Sr = S[:r] / scaling;  lora_A = diag(√Sr) Vᵀ_r [r, in];  lora_B = U_r diag(√Sr) [out, r]
 * so that scaling · B A = U_r S_r Vᵀ_r. PiSSA takes the r largest triplets (exact SVD = PEFT "pissa", randomized =
 * "pissa_niter_N"); MiLoRA the r smallest (always exact).
 *
 * The SVD runs on the weight as stored. GPT-2's Conv1D stores Wᵀ, whose SVD is V S Uᵀ, so its U and V are simply
 * swapped: no transpose of the weight is ever made.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import type { GpuTensor } from '../../gpu/tensor';
import { exactSvd, randomizedSvd, releaseSvd } from '../../linalg/svd';
import type { LinearSpec } from '../../model/spec';
import { storedShape } from '../lowrank/baseWeights';

export interface SvdChoice {
  /** 'exact' = PEFT "pissa"; 'randomized' = "pissa_niter_<powerIters>". Ignored (always exact) for the smallest. */
  svd: 'exact' | 'randomized';
  powerIters: number;
  seed: number;
  /** MiLoRA: the r smallest singular triplets instead of the largest. */
  smallest?: boolean;
}

export interface SvdFactors {
  /** [r, in] row-major */
  A: Float32Array;
  /** [out, r] row-major */
  B: Float32Array;
  /** The r singular values used, descending. */
  S: Float64Array;
}

/** A [r, in] and B [out, r] from W given in the stored layout (W itself is only read). */
export async function svdFactors(rt: GpuRuntime, W: GpuTensor, spec: LinearSpec, r: number, scaling: number, choice: SvdChoice): Promise<SvdFactors> {
  const { inFeatures: inF, outFeatures: outF } = spec;
  if (!Number.isInteger(r) || r < 1 || r > Math.min(inF, outF)) {
    throw new Error(`${spec.modulePath}: rank ${r} needs 1 ≤ r ≤ min(out ${outF}, in ${inF}) for an SVD initialisation`);
  }
  const [m, n] = storedShape(spec);
  const svd =
    choice.svd === 'randomized' && !choice.smallest
      ? await randomizedSvd(rt, W, m, n, { rank: r, powerIters: choice.powerIters, seed: choice.seed })
      : await exactSvd(rt, W, m, n, { rank: r, smallest: choice.smallest === true, vectors: true });
  let Us: Float32Array;
  let Vs: Float32Array;
  try {
    if (svd.k < r) throw new Error(`${spec.modulePath}: the SVD returned ${svd.k} triplets, ${r} were asked for`);
    Us = await rt.read(svd.U);
    Vs = await rt.read(svd.V);
  } finally {
    releaseSvd(rt, svd);
  }
  const k = svd.k;
  // W = U S Vᵀ for nn.Linear; for Conv1D the stored matrix is Wᵀ = U' S V'ᵀ, so W's U is V' and its V is U'.
  const [U, V] = spec.layout === 'out_in' ? [Us, Vs] : [Vs, Us];
  // Which r of the k triplets: the first r (largest) for PiSSA; the last r (smallest) for MiLoRA should the SVD
  // return more than r.
  const first = choice.smallest ? k - r : 0;
  const S = svd.S.slice(first, first + r);
  const A = new Float32Array(r * inF);
  const B = new Float32Array(outF * r);
  for (let i = 0; i < r; i++) {
    const c = first + i;
    const root = Math.sqrt(Math.max(0, S[i]) / scaling);
    for (let j = 0; j < inF; j++) A[i * inF + j] = root * V[j * k + c];
    for (let o = 0; o < outF; o++) B[o * r + i] = U[o * k + c] * root;
  }
  return { A, B, S };
}
