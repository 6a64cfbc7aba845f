/**
 * Softmax cross-entropy over the vocabulary, one row per token, with the logits gradient fused in (torch
 * F.cross_entropy(reduction='none', ignore_index=-100) and its gradient, times gradScale). Numerically stable
 * (max-subtracted, online), V up to ~150k.
 */
import shader from '../../../shaders/cross_entropy.wgsl?raw';
import { f32, ro, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import { type GpuTensor, expectShape } from '../tensor';
import { rowEntry, rowLaunch } from './rows';

export const IGNORE_INDEX = -100;
const NAN_BITS = 0x7fc00000;
/**
 * Vocabulary entries per thread before another thread joins the row (see rows.ts): V <= 256 runs one thread per
 * row without a barrier, V = 512 two threads per row (32 rows per workgroup), V > 8192 (every real tokenizer)
 * 64 threads per row.
 */
const ROW_ELEMS_PER_THREAD = 256;

export interface CrossEntropyArgs {
  /** [M], written: logsumexp(logits[m]) - logits[m, t]; 0 for ignored rows, NaN for targets outside [0, V). */
  losses: GpuTensor;
  /**
   * [M, V], written: (softmax(logits[m]) - onehot(t)) * gradScale, all zeros for ignored (or invalid) rows.
   * May be the logits tensor itself: the gradient then overwrites the logits in place (saves a [M, V] buffer).
   */
  dlogits?: GpuTensor;
  /** [M, V] */
  logits: GpuTensor;
  /** i32 [M]; -100 = ignore. */
  targets: GpuTensor;
  M: number;
  V: number;
  /** Typically 1 / (number of non-ignored targets), so the summed gradient is that of the mean loss. */
  gradScale: number;
}

/** Host-side target check (the GPU can only flag a bad target as a NaN loss). */
export function validateTargets(targets: ArrayLike<number>, V: number): void {
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i];
    if (t !== IGNORE_INDEX && (!Number.isInteger(t) || t < 0 || t >= V)) {
      throw new Error(`cross-entropy targets: ${t} at index ${i} is neither ${IGNORE_INDEX} (ignore) nor in [0, ${V})`);
    }
  }
}

export function crossEntropy(rt: GpuRuntime, a: CrossEntropyArgs): void {
  const op = 'crossEntropy';
  const { M, V } = a;
  if (!Number.isInteger(M) || M < 0) throw new Error(`${op}: M = ${M} must be a non-negative integer`);
  if (!Number.isInteger(V) || V < 1) throw new Error(`${op}: V = ${V} must be a positive integer`);
  if (!Number.isFinite(a.gradScale)) throw new Error(`${op}: gradScale = ${a.gradScale} must be finite`);
  expectShape(op, 'losses', a.losses, [M]);
  expectShape(op, 'logits', a.logits, [M, V]);
  expectShape(op, 'targets', a.targets, [M]);
  if (a.targets.dtype !== 'i32') throw new Error(`${op}: targets (${a.targets.label}) has dtype ${a.targets.dtype}, expected i32`);
  if (a.dlogits) expectShape(op, 'dlogits', a.dlogits, [M, V]);
  if (M === 0) return;
  const uniforms = [M, V, f32(a.gradScale), NAN_BITS];
  const launch = rowLaunch(M, V, ROW_ELEMS_PER_THREAD);
  const { workgroups } = launch;
  const call = (name: string) => ({ name, shader, ...rowEntry(name, launch), uniforms, workgroups });
  if (!a.dlogits) {
    rt.dispatch({ ...call('ce_loss'), bindings: [rw(a.losses), ro(a.logits), ro(a.targets)] });
  } else if (a.dlogits.buffer === a.logits.buffer) {
    rt.dispatch({ ...call('ce_grad_inplace'), bindings: [rw(a.losses), rw(a.logits), ro(a.targets)] });
  } else {
    rt.dispatch({ ...call('ce_grad'), bindings: [rw(a.losses), rw(a.dlogits), ro(a.logits), ro(a.targets)] });
  }
}
