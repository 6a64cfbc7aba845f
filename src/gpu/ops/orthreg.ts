/**
 * Gradient of an orthogonality regulariser, added to a factor's gradient buffer before the optimizer step
 * (SORSA's γ(‖UᵀU − I‖² + ‖VᵀV − I‖²), AdaLoRA's ‖PᵀP − I‖_F + ‖QQᵀ − I‖_F). Everything stays on the GPU:
 *
 *   'rows'  X [k, n] whose rows should be orthonormal (an A factor, V_pᵀ): G = X Xᵀ, grad [k, n] += E X
 *   'cols'  X [n, k] whose columns should be orthonormal (a B factor, U_p): G = XᵀX, grad [n, k] += X E
 *   'squared'  f = γ ‖G − I‖²_F, E = 4γ (G − I)
 *   'norm'     f = γ ‖G − I‖_F,  E = 2γ (G − I) / ‖G − I‖_F  (PEFT AdaLoRA's torch.norm(·, p="fro"))
 *
 * Three dispatches: G by matmul, E in place by one workgroup (shaders/orthreg.wgsl, which also reduces the norm),
 * and the accumulating matmul into grad. The caller owns the [k, k] workspace so nothing is allocated per step
 * (a released buffer must not be destroyed while a recorded dispatch still uses it).
 */
import shader from '../../../shaders/orthreg.wgsl?raw';
import { f32, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import { type GpuTensor, expectAtLeast, expectShape } from '../tensor';
import { expectDims, expectMatrix, expectNoAlias, matmul } from './matmul';

export type OrthAxis = 'rows' | 'cols';
export type OrthMode = 'squared' | 'norm';

export interface OrthRegArgs {
  /** [k, n] when axis 'rows', [n, k] when 'cols' */
  X: GpuTensor;
  /** same shape as X, accumulated */
  grad: GpuTensor;
  /** [k, k] scratch, overwritten */
  work: GpuTensor;
  axis: OrthAxis;
  mode: OrthMode;
  /** the orthonormal dimension (rank) */
  k: number;
  /** the other dimension */
  n: number;
  gamma: number;
  /** Adds the regulariser's value f to out[index] (a stats buffer read once per step). */
  value?: { out: GpuTensor; index: number };
}

/** A one-element stand-in bound when no value is requested (the binding must exist; it is never written). */
const dummies = new WeakMap<GpuRuntime, GpuTensor>();

function dummy(rt: GpuRuntime): GpuTensor {
  let t = dummies.get(rt);
  if (!t) {
    t = rt.tensor('orthreg unused value', [1]);
    dummies.set(rt, t);
  }
  return t;
}

/** The [k, k] workspace orthRegGrad needs. */
export function orthRegWorkspace(rt: GpuRuntime, k: number, label = 'orthreg G'): GpuTensor {
  return rt.tensor(label, [k, k]);
}

export function orthRegGrad(rt: GpuRuntime, a: OrthRegArgs): void {
  const op = 'orthRegGrad';
  const { k, n } = a;
  expectDims(op, { k, n });
  if (!Number.isFinite(a.gamma)) throw new Error(`${op}: gamma = ${a.gamma} is not finite`);
  const [rows, cols] = a.axis === 'rows' ? [k, n] : [n, k];
  expectMatrix(op, 'X', a.X, rows, cols);
  expectMatrix(op, 'grad', a.grad, rows, cols);
  expectShape(op, 'work', a.work, [k, k]);
  expectNoAlias(op, 'work', a.work, { X: a.X, grad: a.grad });
  expectNoAlias(op, 'grad', a.grad, { X: a.X });
  if (a.value) {
    if (!Number.isInteger(a.value.index) || a.value.index < 0) throw new Error(`${op}: value index = ${a.value.index} must be a non-negative integer`);
    expectAtLeast(op, 'value.out', a.value.out, a.value.index + 1);
    expectNoAlias(op, 'value.out', a.value.out, { X: a.X, grad: a.grad, work: a.work });
  }
  if (a.gamma === 0) return;
  // G [k, k] = X Xᵀ ('rows') or XᵀX ('cols').
  if (a.axis === 'rows') matmul(rt, { out: a.work, a: a.X, b: a.X, M: k, N: k, K: n, transB: true });
  else matmul(rt, { out: a.work, a: a.X, b: a.X, M: k, N: k, K: n, transA: true });
  rt.dispatch({
    name: op,
    shader,
    entryPoint: 'orth_residual',
    constants: { NORM: +(a.mode === 'norm'), WRITE_VALUE: +(a.value !== undefined) },
    uniforms: [k, f32(a.gamma), a.value?.index ?? 0],
    bindings: [rw(a.work), rw(a.value?.out ?? dummy(rt))],
    workgroups: [1, 1, 1],
  });
  // E is symmetric: grad += E X ('rows', [k, k]·[k, n]) or X E ('cols', [n, k]·[k, k]).
  if (a.axis === 'rows') matmul(rt, { out: a.grad, a: a.work, b: a.X, M: k, N: n, K: k, accumulate: true });
  else matmul(rt, { out: a.grad, a: a.X, b: a.work, M: n, N: k, K: k, accumulate: true });
}
