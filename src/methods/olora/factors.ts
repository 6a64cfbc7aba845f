/**
 * OLoRA's initial factors of one weight (Büyükakyüz 2024), as PEFT 0.14's `olora_init`:
 *   Q, R = qr(W [out, in]);  lora_B = Q[:, :r] [out, r];  lora_A = R[:r] [r, in];  W_res = W − s·B A.
 * The first r columns of Q depend only on the first r columns of W: they are the thin QR of W[:, :r] (up to
 * column signs), and R[:r] = Q_rᵀ W. So one r-column orthonormalisation and one skinny matmul replace the full QR;
 * s·B A = s·Q_r Q_rᵀ W, the projection of W onto the span of its first r columns, is sign-free.
 */
import { copyColumns } from '../../gpu/ops/copy';
import { matmul } from '../../gpu/ops/matmul';
import type { GpuRuntime } from '../../gpu/runtime';
import type { GpuTensor } from '../../gpu/tensor';
import { orthonormalize } from '../../linalg/qr';
import type { LinearSpec } from '../../model/spec';

/** Why a layer cannot take OLoRA, or null. */
export function oloraRefusal(spec: LinearSpec, r: number): string | null {
  if (spec.layout === 'in_out') {
    return (
      `OLoRA cannot adapt ${spec.modulePath}: GPT-2's Conv1D stores its weight as [in, out], and PEFT's olora_init takes ` +
      'the QR of the stored matrix without transposing it (it fails on c_attn/c_fc and silently changes square layers), ' +
      'so no PEFT-compatible OLoRA exists for this model; use PiSSA or LoRA'
    );
  }
  const { inFeatures: inF, outFeatures: outF } = spec;
  if (!Number.isInteger(r) || r < 1 || r > Math.min(inF, outF)) return `OLoRA: ${spec.modulePath} needs 1 ≤ rank ≤ min(out ${outF}, in ${inF}), got ${r}`;
  return null;
}

/** A [r, in] = Q_rᵀ W and B [out, r] = Q_r from W [out, in] on the GPU (W is only read). */
export async function oloraFactors(rt: GpuRuntime, W: GpuTensor, spec: LinearSpec, r: number): Promise<{ A: Float32Array; B: Float32Array }> {
  const refusal = oloraRefusal(spec, r);
  if (refusal) throw new Error(refusal);
  const { inFeatures: inF, outFeatures: outF } = spec;
  const X = rt.tensor(`${spec.modulePath} olora W[:, :r]`, [outF, r]); // [out, r]
  copyColumns(rt, { dst: X, src: W, rows: outF, cols: r, srcStride: inF, srcOffset: 0, dstStride: r, dstOffset: 0 });
  const { Q } = await orthonormalize(rt, X, outF, r); // [out, r]
  const R = rt.tensor(`${spec.modulePath} olora R_r`, [r, inF]); // [r, in]
  try {
    matmul(rt, { out: R, a: Q, b: W, M: r, N: inF, K: outF, transA: true });
    return { A: await rt.read(R), B: await rt.read(Q) };
  } finally {
    for (const t of [X, Q, R]) rt.release(t);
  }
}
