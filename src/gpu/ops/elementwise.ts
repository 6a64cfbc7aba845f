import shader from '../../../shaders/elementwise.wgsl?raw';
import { ceilDiv, f32, grid1d, ro, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import { type GpuTensor, expectShape, numel } from '../tensor';

/** a += alpha * b, elementwise; a and b must have the same shape. */
export function addInPlace(rt: GpuRuntime, a: GpuTensor, b: GpuTensor, alpha = 1): void {
  expectShape('addInPlace', 'b', b, a.shape);
  const n = numel(a.shape);
  rt.dispatch({ name: 'add_inplace', shader, entryPoint: 'add_inplace', uniforms: [n, f32(alpha)], bindings: [rw(a), ro(b)], workgroups: grid1d(ceilDiv(n, 256)) });
}

/** a[:] = value. */
export function fill(rt: GpuRuntime, a: GpuTensor, value: number): void {
  const n = numel(a.shape);
  rt.dispatch({ name: 'fill', shader, entryPoint: 'fill', uniforms: [n, f32(value)], bindings: [rw(a)], workgroups: grid1d(ceilDiv(n, 256)) });
}
