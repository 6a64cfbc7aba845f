/**
 * Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_) and AdamW (torch.optim.AdamW). The clip
 * factor never leaves the GPU: sumSquaresInto accumulates sum(g^2) into stats[0], clipScale turns it into the
 * factor, and adamw reads it through `gradScale`. Zeroing gradients is fill(rt, t, 0) from elementwise.
 */
import shader from '../../../shaders/optimizer.wgsl?raw';
import { ceilDiv, f32, grid1d, ro, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import { type GpuTensor, expectAtLeast, expectShape, numel } from '../tensor';

export interface ClipScaleArgs {
  /** [>= 2] read-write: in stats[0] = sum of squared grads; out stats[0] = clip factor, stats[1] = total norm. */
  stats: GpuTensor;
  /** <= 0 turns clipping off (factor 1; the norm is still reported). */
  maxNorm: number;
}

export interface AdamwArgs {
  param: GpuTensor;
  grad: GpuTensor;
  /** First moment (exp_avg), same shape as param, zero-initialised. */
  m: GpuTensor;
  /** Second moment (exp_avg_sq). */
  v: GpuTensor;
  n: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count t (torch increments before the update). */
  step: number;
  /** [>= 1]: the gradient is multiplied by gradScale[0] (the clip factor from clipScale's stats[0]). */
  gradScale?: GpuTensor;
}

export function clipScale(rt: GpuRuntime, a: ClipScaleArgs): void {
  if (!Number.isFinite(a.maxNorm)) throw new Error(`clipScale: maxNorm = ${a.maxNorm} must be finite`);
  expectAtLeast('clipScale', 'stats', a.stats, 2);
  rt.dispatch({ name: 'clip_scale', shader, entryPoint: 'clip_scale', uniforms: [f32(a.maxNorm)], bindings: [rw(a.stats)], workgroups: [1, 1, 1] });
}

export function adamw(rt: GpuRuntime, a: AdamwArgs): void {
  const op = 'adamw';
  const { n, lr, beta1, beta2, eps, weightDecay, step } = a;
  if (!Number.isInteger(n) || n < 0) throw new Error(`${op}: n = ${n} must be a non-negative integer`);
  if (numel(a.param.shape) !== n) throw new Error(`${op}: param (${a.param.label}) has ${numel(a.param.shape)} elements, expected n = ${n}`);
  expectShape(op, 'grad', a.grad, a.param.shape);
  expectShape(op, 'm', a.m, a.param.shape);
  expectShape(op, 'v', a.v, a.param.shape);
  if (a.gradScale) expectAtLeast(op, 'gradScale', a.gradScale, 1);
  if (!Number.isInteger(step) || step < 1) throw new Error(`${op}: step = ${step} must be a 1-based integer`);
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) throw new Error(`${op}: betas (${beta1}, ${beta2}) must be in [0, 1)`);
  if (!Number.isFinite(lr) || !Number.isFinite(weightDecay) || !(eps >= 0)) throw new Error(`${op}: lr = ${lr}, weightDecay = ${weightDecay}, eps = ${eps} must be finite (eps >= 0)`);
  if (n === 0) return;
  // Bias corrections in float64, as torch computes them from Python floats.
  const bc1 = 1 - beta1 ** step;
  const bc2 = 1 - beta2 ** step;
  const uniforms = [n, f32(1 - lr * weightDecay), f32(beta1), f32(beta2), f32(1 - beta1), f32(1 - beta2), f32(lr / bc1), f32(Math.sqrt(bc2)), f32(eps)];
  const bindings = [rw(a.param), rw(a.m), rw(a.v), ro(a.grad)];
  if (a.gradScale) bindings.push(ro(a.gradScale));
  const entryPoint = a.gradScale ? 'adamw_scaled' : 'adamw';
  rt.dispatch({ name: entryPoint, shader, entryPoint, uniforms, bindings, workgroups: grid1d(ceilDiv(n, 256)) });
}
