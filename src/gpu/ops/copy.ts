/** Strided column-block copies between row-major matrices (GPT-2's fused qkv split and its gradient join). */
import shader from '../../../shaders/copy.wgsl?raw';
import { ceilDiv, grid1d, ro, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import { type GpuTensor, numel, shapeString } from '../tensor';

export interface CopyColumnsArgs {
  dst: GpuTensor;
  src: GpuTensor;
  rows: number;
  cols: number;
  /** Elements between the starts of consecutive rows of src. */
  srcStride: number;
  /** First column copied from each src row. */
  srcOffset: number;
  dstStride: number;
  dstOffset: number;
  /** Add into dst instead of overwriting (default false). */
  accumulate?: boolean;
}

/** dst[r * dstStride + dstOffset + c] (+)= src[r * srcStride + srcOffset + c] for r < rows, c < cols. */
export function copyColumns(rt: GpuRuntime, a: CopyColumnsArgs): void {
  const op = 'copyColumns';
  const { rows, cols, srcStride, srcOffset, dstStride, dstOffset } = a;
  for (const [name, v] of Object.entries({ rows, cols, srcStride, srcOffset, dstStride, dstOffset })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`${op}: ${name} = ${v} must be a non-negative integer`);
  }
  if (rows === 0 || cols === 0) return;
  // Rows must not overlap within one tensor (a row's block would alias the next row's), and the last element
  // touched must lie inside the tensor.
  for (const [arg, t, stride, offset] of [['src', a.src, srcStride, srcOffset], ['dst', a.dst, dstStride, dstOffset]] as const) {
    if (rows > 1 && offset + cols > stride) throw new Error(`${op}: ${arg} offset ${offset} + cols ${cols} exceeds its row stride ${stride}`);
    const needed = (rows - 1) * stride + offset + cols;
    if (numel(t.shape) < needed) {
      throw new Error(`${op}: ${arg} (${t.label}) has shape ${shapeString(t.shape)} (${numel(t.shape)} elements); rows ${rows} x stride ${stride} at offset ${offset} + ${cols} columns needs ${needed}`);
    }
  }
  const total = rows * cols;
  rt.dispatch({
    name: 'copy_columns', shader, entryPoint: 'copy_columns',
    uniforms: [total, cols, srcStride, srcOffset, dstStride, dstOffset, a.accumulate ? 1 : 0],
    bindings: [rw(a.dst), ro(a.src)],
    workgroups: grid1d(ceilDiv(total, 256)),
  });
}
