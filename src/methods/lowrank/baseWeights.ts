/**
 * The original checkpoint weight of a linear layer, and writing a replacement into the layer's base weight buffer.
 *
 * Methods that re-initialise the base (PiSSA, MiLoRA, OLoRA, SORSA) replace W by a residual W − s·B A in the
 * Linear's own buffer and put the original back on release. The original is always re-read from the checkpoint
 * (converted to f32 exactly as uploadWeights did), never from the buffer, which may already hold a residual.
 *
 * Orientation: methods think in nn.Linear's [out, in]; the buffer keeps the checkpoint's layout, [out, in] for
 * nn.Linear ('out_in') and [in, out] for GPT-2's Conv1D ('in_out'). Everything here takes and returns [out, in]
 * unless its name says "stored".
 */
import type { Checkpoint } from '../../formats/checkpoint';
import type { Linear } from '../../engine/linear';
import { matmul } from '../../gpu/ops/matmul';
import type { GpuRuntime } from '../../gpu/runtime';
import { type GpuTensor, expectShape } from '../../gpu/tensor';
import type { LinearSpec } from '../../model/spec';

/** The weight's shape as the checkpoint (and the GPU buffer) store it. */
export function storedShape(spec: LinearSpec): [number, number] {
  return spec.layout === 'out_in' ? [spec.outFeatures, spec.inFeatures] : [spec.inFeatures, spec.outFeatures];
}

/** The original weight in the stored layout as f32: exactly what uploadWeights put in the buffer. */
export async function readOriginalStored(ckpt: Checkpoint, spec: LinearSpec): Promise<Float32Array> {
  const e = ckpt.entry(spec.weightName);
  const want = storedShape(spec);
  if (e.shape.length !== 2 || e.shape[0] !== want[0] || e.shape[1] !== want[1]) {
    throw new Error(`${e.fileName}: ${spec.weightName} is [${e.shape.join(', ')}], ${spec.modulePath} expects [${want.join(', ')}]`);
  }
  return ckpt.read(spec.weightName);
}

/** rows x cols row-major → cols x rows. */
export function transposed(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j];
  return out;
}

/** The original weight as f32 [out, in] (Conv1D weights transposed). */
export async function readOriginalOutIn(ckpt: Checkpoint, spec: LinearSpec): Promise<Float32Array> {
  const w = await readOriginalStored(ckpt, spec);
  return spec.layout === 'out_in' ? w : transposed(w, spec.inFeatures, spec.outFeatures);
}

/** The original weight uploaded as a new [out, in] GPU tensor; the caller releases it. */
export async function uploadOriginalOutIn(rt: GpuRuntime, ckpt: Checkpoint, spec: LinearSpec): Promise<GpuTensor> {
  return rt.upload(`${spec.weightName} [out,in]`, [spec.outFeatures, spec.inFeatures], await readOriginalOutIn(ckpt, spec));
}

/**
 * weight (stored layout) += alpha · B[out, k] A[k, in], on the GPU. For Conv1D the stored matrix is Wᵀ, so the
 * product is written as Aᵀ Bᵀ with the matmul's transpose flags instead of transposing anything.
 */
export function addLowRankStored(rt: GpuRuntime, weight: GpuTensor, spec: LinearSpec, B: GpuTensor, A: GpuTensor, k: number, alpha: number): void {
  const { inFeatures: inF, outFeatures: outF } = spec;
  expectShape('addLowRankStored', 'weight', weight, storedShape(spec));
  if (k === 0 || alpha === 0) return;
  if (spec.layout === 'out_in') matmul(rt, { out: weight, a: B, b: A, M: outF, N: inF, K: k, accumulate: true, alpha });
  else matmul(rt, { out: weight, a: A, b: B, M: inF, N: outF, K: k, transA: true, transB: true, accumulate: true, alpha });
}

/**
 * Replaces the layer's base weight by W − scaling · B A, W being the ORIGINAL checkpoint weight (whatever the
 * buffer held before). B [out, k] and A [k, in] are GPU tensors, e.g. a LoraLayer's initial values.
 */
export async function writeResidual(
  rt: GpuRuntime,
  linear: Linear,
  ckpt: Checkpoint,
  factors: { B: GpuTensor; A: GpuTensor; k: number; scaling: number },
  /** The original in the stored layout when the caller has already read it (readOriginalStored). */
  original?: Float32Array,
): Promise<void> {
  const w = original ?? (await readOriginalStored(ckpt, linear.spec));
  // Submit whatever is recorded first: the queue write below lands before the next submit, and no dispatch
  // recorded earlier may see the new contents.
  rt.flush();
  rt.write(linear.weight, w);
  addLowRankStored(rt, linear.weight, linear.spec, factors.B, factors.A, factors.k, -factors.scaling);
  rt.flush();
}

/** Writes a weight given as host f32 [out, in] into the layer's base weight buffer (stored layout). */
export function writeBaseWeightOutIn(rt: GpuRuntime, linear: Linear, w: Float32Array): void {
  const s = linear.spec;
  if (w.length !== s.outFeatures * s.inFeatures) throw new Error(`${s.modulePath}: weight has ${w.length} values, expected [${s.outFeatures}, ${s.inFeatures}]`);
  rt.flush();
  rt.write(linear.weight, s.layout === 'out_in' ? w : transposed(w, s.outFeatures, s.inFeatures));
}

/** Puts the checkpoint's original weight back into the layer's base weight buffer. */
export async function restoreOriginalWeight(rt: GpuRuntime, linear: Linear, ckpt: Checkpoint): Promise<void> {
  const original = await readOriginalStored(ckpt, linear.spec);
  rt.flush();
  rt.write(linear.weight, original);
}
