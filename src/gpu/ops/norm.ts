/**
 * RMSNorm (HF LlamaRMSNorm) and LayerNorm (torch.nn.LayerNorm, biased variance), forward and backward, in f32.
 * Row statistics (rstd, and mean for LayerNorm) are saved by the forward pass for the backward pass.
 * Gradients into x accumulate (the residual stream already holds the skip-path gradient), as do the optional
 * parameter gradients, which a separate deterministic kernel reduces over M.
 */
import shader from '../../../shaders/norm.wgsl?raw';
import { ceilDiv, f32, ro, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import { type GpuTensor, expectShape } from '../tensor';
import { rowEntry, rowLaunch } from './rows';

/** Channels per workgroup of the parameter-gradient kernels (PG_CH in norm.wgsl). */
const PG_CH = 8;
/**
 * Row elements per thread before another thread joins the row: rows up to 64 wide (a tiny model's hidden size)
 * run one thread per row without a barrier; wider rows get up to 64 threads (see rows.ts).
 */
const ROW_ELEMS_PER_THREAD = 64;

/** The row kernel `name` (cooperative or serial form, by C) as a dispatch. */
function rowCall(name: string, M: number, C: number): { name: string; entryPoint: string; constants?: Record<string, number>; workgroups: [number, number, number] } {
  const launch = rowLaunch(M, C, ROW_ELEMS_PER_THREAD);
  return { name, ...rowEntry(name, launch), workgroups: launch.workgroups };
}

export interface RmsnormForwardArgs {
  /** [M, C], written. */
  out: GpuTensor;
  /** [M], written: 1 / sqrt(mean(x^2) + eps), saved for the backward pass. */
  rstd: GpuTensor;
  /** [M, C] */
  x: GpuTensor;
  /** [C] */
  weight: GpuTensor;
  M: number;
  C: number;
  eps: number;
}

export interface RmsnormBackwardArgs {
  /** [M, C], accumulated (+=). */
  dx: GpuTensor;
  /** [C], accumulated (+=) when given. */
  dweight?: GpuTensor;
  dout: GpuTensor;
  x: GpuTensor;
  rstd: GpuTensor;
  weight: GpuTensor;
  M: number;
  C: number;
}

export interface LayernormForwardArgs {
  out: GpuTensor;
  /** [M], written. */
  mean: GpuTensor;
  /** [M], written: 1 / sqrt(biased variance + eps). */
  rstd: GpuTensor;
  x: GpuTensor;
  weight: GpuTensor;
  bias: GpuTensor;
  M: number;
  C: number;
  eps: number;
}

export interface LayernormBackwardArgs {
  /** [M, C], accumulated (+=). */
  dx: GpuTensor;
  /** [C], accumulated (+=) when given. */
  dweight?: GpuTensor;
  /** [C], accumulated (+=) when given. */
  dbias?: GpuTensor;
  dout: GpuTensor;
  x: GpuTensor;
  mean: GpuTensor;
  rstd: GpuTensor;
  weight: GpuTensor;
  M: number;
  C: number;
}

function checkDims(op: string, M: number, C: number): void {
  if (!Number.isInteger(M) || M < 0) throw new Error(`${op}: M = ${M} must be a non-negative integer`);
  if (!Number.isInteger(C) || C < 1) throw new Error(`${op}: C = ${C} must be a positive integer`);
}

function checkEps(op: string, eps: number): void {
  if (!Number.isFinite(eps) || eps < 0) throw new Error(`${op}: eps = ${eps} must be a finite non-negative number`);
}

export function rmsnormForward(rt: GpuRuntime, a: RmsnormForwardArgs): void {
  const op = 'rmsnormForward';
  checkDims(op, a.M, a.C);
  checkEps(op, a.eps);
  expectShape(op, 'x', a.x, [a.M, a.C]);
  expectShape(op, 'out', a.out, [a.M, a.C]);
  expectShape(op, 'rstd', a.rstd, [a.M]);
  expectShape(op, 'weight', a.weight, [a.C]);
  if (a.M === 0) return;
  rt.dispatch({
    ...rowCall('rmsnorm_forward', a.M, a.C), shader,
    uniforms: [a.M, a.C, f32(a.eps)],
    bindings: [rw(a.out), rw(a.rstd), ro(a.x), ro(a.weight)],
  });
}

export function rmsnormBackward(rt: GpuRuntime, a: RmsnormBackwardArgs): void {
  const op = 'rmsnormBackward';
  checkDims(op, a.M, a.C);
  expectShape(op, 'dx', a.dx, [a.M, a.C]);
  expectShape(op, 'dout', a.dout, [a.M, a.C]);
  expectShape(op, 'x', a.x, [a.M, a.C]);
  expectShape(op, 'rstd', a.rstd, [a.M]);
  expectShape(op, 'weight', a.weight, [a.C]);
  if (a.dweight) expectShape(op, 'dweight', a.dweight, [a.C]);
  if (a.M === 0) return;
  rt.dispatch({
    ...rowCall('rmsnorm_backward', a.M, a.C), shader,
    uniforms: [a.M, a.C, f32(0)],
    bindings: [rw(a.dx), ro(a.dout), ro(a.x), ro(a.rstd), ro(a.weight)],
  });
  if (a.dweight) {
    rt.dispatch({
      name: 'rmsnorm_dweight', shader, entryPoint: 'rmsnorm_dweight',
      uniforms: [a.M, a.C, f32(0)],
      bindings: [rw(a.dweight), ro(a.dout), ro(a.x), ro(a.rstd)],
      workgroups: [ceilDiv(a.C, PG_CH), 1, 1],
    });
  }
}

export function layernormForward(rt: GpuRuntime, a: LayernormForwardArgs): void {
  const op = 'layernormForward';
  checkDims(op, a.M, a.C);
  checkEps(op, a.eps);
  expectShape(op, 'x', a.x, [a.M, a.C]);
  expectShape(op, 'out', a.out, [a.M, a.C]);
  expectShape(op, 'mean', a.mean, [a.M]);
  expectShape(op, 'rstd', a.rstd, [a.M]);
  expectShape(op, 'weight', a.weight, [a.C]);
  expectShape(op, 'bias', a.bias, [a.C]);
  if (a.M === 0) return;
  rt.dispatch({
    ...rowCall('layernorm_forward', a.M, a.C), shader,
    uniforms: [a.M, a.C, f32(a.eps)],
    bindings: [rw(a.out), rw(a.mean), rw(a.rstd), ro(a.x), ro(a.weight), ro(a.bias)],
  });
}

export function layernormBackward(rt: GpuRuntime, a: LayernormBackwardArgs): void {
  const op = 'layernormBackward';
  checkDims(op, a.M, a.C);
  expectShape(op, 'dx', a.dx, [a.M, a.C]);
  expectShape(op, 'dout', a.dout, [a.M, a.C]);
  expectShape(op, 'x', a.x, [a.M, a.C]);
  expectShape(op, 'mean', a.mean, [a.M]);
  expectShape(op, 'rstd', a.rstd, [a.M]);
  expectShape(op, 'weight', a.weight, [a.C]);
  if (a.dweight) expectShape(op, 'dweight', a.dweight, [a.C]);
  if (a.dbias) expectShape(op, 'dbias', a.dbias, [a.C]);
  if (a.M === 0) return;
  const uniforms = [a.M, a.C, f32(0)];
  rt.dispatch({
    ...rowCall('layernorm_backward', a.M, a.C), shader, uniforms,
    bindings: [rw(a.dx), ro(a.dout), ro(a.x), ro(a.mean), ro(a.rstd), ro(a.weight)],
  });
  const groups: [number, number, number] = [ceilDiv(a.C, PG_CH), 1, 1];
  if (a.dweight) {
    rt.dispatch({
      name: 'layernorm_dweight', shader, entryPoint: 'layernorm_dweight', uniforms,
      bindings: [rw(a.dweight), ro(a.dout), ro(a.x), ro(a.mean), ro(a.rstd)],
      workgroups: groups,
    });
  }
  if (a.dbias) {
    rt.dispatch({
      name: 'layernorm_dbias', shader, entryPoint: 'layernorm_dbias', uniforms,
      bindings: [rw(a.dbias), ro(a.dout)],
      workgroups: groups,
    });
  }
}
