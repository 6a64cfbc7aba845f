/**
 * Whole-tensor reductions into one element of a stats buffer: loss sums, squared gradient norms. They stay on
 * the GPU (no readback per tensor); the step reads the stats buffer once at its end.
 */
import shader from '../../../shaders/reduce.wgsl?raw';
import { f32, ro, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import { type GpuTensor, expectAtLeast, numel, shapeString } from '../tensor';

export interface SumIntoArgs {
  /** Read-write; must hold at least index + 1 elements. */
  out: GpuTensor;
  index: number;
  x: GpuTensor;
  /** Elements of x summed (the first n). */
  n: number;
  /** Multiplies the sum (default 1). */
  scale?: number;
  /** Add to out[index] instead of overwriting it (default false). */
  accumulate?: boolean;
}

export interface SumSquaresIntoArgs {
  out: GpuTensor;
  index: number;
  x: GpuTensor;
  n: number;
  accumulate: boolean;
}

/**
 * Workgroup size (WG in reduce.wgsl): 64 threads for the many small tensors of a step's statistics (cheap to
 * start, notably on a CPU implementation of WebGPU), 256 from 64Ki elements up, where one workgroup's bandwidth
 * is what limits the sum.
 */
function workgroupSize(n: number): number {
  return n >= 1 << 16 ? 256 : 64;
}

function launch(rt: GpuRuntime, op: string, entryPoint: string, a: SumIntoArgs): void {
  if (!Number.isInteger(a.index) || a.index < 0) throw new Error(`${op}: index = ${a.index} must be a non-negative integer`);
  if (!Number.isInteger(a.n) || a.n < 0) throw new Error(`${op}: n = ${a.n} must be a non-negative integer`);
  const scale = a.scale ?? 1;
  if (!Number.isFinite(scale)) throw new Error(`${op}: scale = ${scale} must be finite`);
  expectAtLeast(op, 'out', a.out, a.index + 1);
  if (numel(a.x.shape) < a.n) throw new Error(`${op}: x (${a.x.label}) has shape ${shapeString(a.x.shape)}, fewer than n = ${a.n} elements`);
  // n = 0 still runs: out[index] must become 0 (or stay, when accumulating).
  rt.dispatch({
    name: entryPoint, shader, entryPoint,
    constants: { WG: workgroupSize(a.n) },
    uniforms: [a.n, a.index, f32(scale), a.accumulate ? 1 : 0],
    bindings: [rw(a.out), ro(a.x)],
    workgroups: [1, 1, 1],
  });
}

/** out[index] (+)= scale * sum(x[0..n)). */
export function sumInto(rt: GpuRuntime, a: SumIntoArgs): void {
  launch(rt, 'sumInto', 'sum_into', a);
}

/** out[index] (+)= sum(x[0..n)^2): accumulate over parameter tensors to get the global squared grad norm. */
export function sumSquaresInto(rt: GpuRuntime, a: SumSquaresIntoArgs): void {
  launch(rt, 'sumSquaresInto', 'sum_squares_into', { ...a, scale: 1 });
}
