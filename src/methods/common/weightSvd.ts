/**
 * Truncated SVDs the SVD-initialised methods start from, returned on the host in nn.Linear orientation:
 * W [out, in] ≈ U diag(S) Vᵀ with U [out, k], V [in, k] (row-major f32), S descending (float64).
 *
 * The weight is decomposed as stored, without transposing it: a Conv1D ('in_out') buffer holds Wᵀ [in, out],
 * whose SVD Wᵀ = U' S V'ᵀ gives W = V' S U'ᵀ, so U and V just swap.
 */
import type { Checkpoint } from '../../formats/checkpoint';
import type { GpuRuntime } from '../../gpu/runtime';
import type { GpuTensor } from '../../gpu/tensor';
import { type Svd, exactSvd, randomizedSvd, releaseSvd } from '../../linalg/svd';
import type { LinearSpec } from '../../model/spec';
import { readOriginalStored, storedShape } from '../lowrank/baseWeights';

export interface HostSvd {
  k: number;
  /** [out, k] */
  U: Float32Array;
  /** [k] descending */
  S: Float64Array;
  /** [in, k] */
  V: Float32Array;
}

export interface SvdChoice {
  /** 'exact' = one-sided Jacobi (PEFT "pissa"), 'randomized' = Halko et al. (PEFT "pissa_niter_N") */
  method: 'exact' | 'randomized';
  /** Triplets to keep; undefined = all min(m, n) (exact only). */
  rank?: number;
  powerIters: number;
  seed: number;
}

/** SVD of a row-major [m, n] GPU matrix; the input is left to the caller. */
export async function gpuSvd(rt: GpuRuntime, W: GpuTensor, m: number, n: number, c: SvdChoice): Promise<Svd> {
  if (c.method === 'randomized') {
    if (c.rank === undefined) throw new Error('a randomized SVD needs a rank');
    return randomizedSvd(rt, W, m, n, { rank: c.rank, powerIters: c.powerIters, seed: c.seed });
  }
  return exactSvd(rt, W, m, n, { rank: c.rank });
}

/** Reads an Svd of an [m, n] matrix to the host and frees its GPU vectors. */
export async function svdToHost(rt: GpuRuntime, s: Svd): Promise<{ U: Float32Array; S: Float64Array; V: Float32Array; k: number }> {
  try {
    return { U: await rt.read(s.U), S: Float64Array.from(s.S), V: await rt.read(s.V), k: s.k };
  } finally {
    releaseSvd(rt, s);
  }
}

/**
 * SVD of a [out, in]-meaning matrix held on the GPU in a layer's stored layout ([out, in] for 'out_in', [in, out]
 * for 'in_out'), in nn.Linear orientation.
 */
export async function storedSvd(rt: GpuRuntime, stored: GpuTensor, spec: LinearSpec, c: SvdChoice): Promise<HostSvd> {
  const [m, n] = storedShape(spec);
  const h = await svdToHost(rt, await gpuSvd(rt, stored, m, n, c));
  return spec.layout === 'out_in' ? h : { k: h.k, U: h.V, S: h.S, V: h.U };
}

/** SVD of the layer's ORIGINAL checkpoint weight (never the live buffer, which may hold a residual). */
export async function originalWeightSvd(rt: GpuRuntime, ckpt: Checkpoint, spec: LinearSpec, c: SvdChoice): Promise<HostSvd> {
  const W = rt.upload(`${spec.weightName} (for SVD)`, storedShape(spec), await readOriginalStored(ckpt, spec));
  try {
    return await storedSvd(rt, W, spec, c);
  } finally {
    rt.flush();
    rt.release(W);
  }
}
