/**
 * Cores between the down- and up-projections of a factored adapter y += s · core(drop(x) Aᵀ) Bᵀ (SVFit's Δσ,
 * SORSA's Σ, AdaLoRA's Λ: a diagonal d [k]; LoRA-XS / LoRA-SB's r × r matrix goes through matmul instead).
 *
 * Shapes: h, h2, dh2, dh [M, k] row-major (one row per token); d, dd [k].
 *   diagScale  out = scale · h ⊙ d         (forward h2 = h ⊙ d; backward dh = dh2 ⊙ d)
 *   diagGrad   dd (+)= scale · colsum(h ⊙ dh2), reduced over the M rows with a deterministic tree
 * The kernels are the per-column ones of shaders/channel.wgsl (shared with IA3, SSF and BitFit).
 */
import shader from '../../../shaders/channel.wgsl?raw';
import { ceilDiv, f32, grid1d, ro, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import { type GpuTensor, expectShape } from '../tensor';
import { expectDims, expectGrid, expectIndexable, expectMatrix, expectNoAlias } from './matmul';

/** t is an f32 vector of k elements. */
export function expectVector(op: string, arg: string, t: GpuTensor, k: number): void {
  expectShape(op, arg, t, [k]);
  if (t.dtype !== 'f32') throw new Error(`${op}: ${arg} (${t.label}) is ${t.dtype}, expected f32`);
}

function expectScale(op: string, scale: number): void {
  if (!Number.isFinite(scale)) throw new Error(`${op}: scale = ${scale} is not finite`);
}

export interface DiagScaleArgs {
  /** [M, k], written */
  out: GpuTensor;
  /** [M, k] */
  h: GpuTensor;
  /** [k] */
  d: GpuTensor;
  M: number;
  k: number;
  /** default 1 */
  scale?: number;
}

/** out[m, j] = scale · h[m, j] · d[j]. */
export function diagScale(rt: GpuRuntime, a: DiagScaleArgs): void {
  const op = 'diagScale';
  const { M, k } = a;
  const scale = a.scale ?? 1;
  expectDims(op, { M, k });
  expectScale(op, scale);
  expectMatrix(op, 'out', a.out, M, k);
  expectMatrix(op, 'h', a.h, M, k);
  expectVector(op, 'd', a.d, k);
  expectIndexable(op, 'h', M, k);
  expectNoAlias(op, 'out', a.out, { h: a.h, d: a.d });
  const workgroups = grid1d(ceilDiv(M * k, 256));
  expectGrid(op, workgroups);
  rt.dispatch({ name: op, shader, entryPoint: 'scale_columns', constants: { ACCUMULATE: 0 }, uniforms: [M, k, f32(scale)], bindings: [rw(a.out), ro(a.h), ro(a.d)], workgroups });
}

export interface DiagGradArgs {
  /** [k], accumulated unless accumulate is false */
  dd: GpuTensor;
  /** [M, k] the saved input of the core */
  h: GpuTensor;
  /** [M, k] the gradient at the core's output */
  dh2: GpuTensor;
  M: number;
  k: number;
  /** default 1 */
  scale?: number;
  /** default true: parameter gradients accumulate over micro-batches */
  accumulate?: boolean;
}

/** dd[j] (+)= scale · Σ_m h[m, j] · dh2[m, j]. */
export function diagGrad(rt: GpuRuntime, a: DiagGradArgs): void {
  const op = 'diagGrad';
  const { M, k } = a;
  const scale = a.scale ?? 1;
  expectDims(op, { M, k });
  expectScale(op, scale);
  expectVector(op, 'dd', a.dd, k);
  expectMatrix(op, 'h', a.h, M, k);
  expectMatrix(op, 'dh2', a.dh2, M, k);
  expectIndexable(op, 'h', M, k);
  expectNoAlias(op, 'dd', a.dd, { h: a.h, dh2: a.dh2 });
  const workgroups: [number, number, number] = [ceilDiv(k, 16), 1, 1];
  expectGrid(op, workgroups);
  rt.dispatch({
    name: op,
    shader,
    entryPoint: 'column_sum',
    constants: { ACCUMULATE: +(a.accumulate ?? true), PRODUCT: 1 },
    uniforms: [M, k, f32(scale)],
    bindings: [rw(a.dd), ro(a.h), ro(a.dh2)],
    workgroups,
  });
}
