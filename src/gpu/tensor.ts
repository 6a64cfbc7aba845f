/** A typed view of a GPU buffer: shape and element type travel with the buffer so kernels can validate. */
export type DType = 'f32' | 'i32' | 'u32';

export interface GpuTensor {
  readonly buffer: GPUBuffer;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly label: string;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function byteSize(t: GpuTensor): number {
  return numel(t.shape) * 4;
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Throws a message naming the op, the argument and both shapes: shapes are validated before any dispatch. */
export function expectShape(op: string, arg: string, t: GpuTensor, expected: readonly number[]): void {
  const ok = t.shape.length === expected.length && t.shape.every((d, i) => d === expected[i]);
  if (!ok) throw new Error(`${op}: ${arg} (${t.label}) has shape ${shapeString(t.shape)}, expected ${shapeString(expected)}`);
}

export function expectAtLeast(op: string, arg: string, t: GpuTensor, elements: number): void {
  if (numel(t.shape) < elements) {
    throw new Error(`${op}: ${arg} (${t.label}) holds ${numel(t.shape)} elements, needs at least ${elements}`);
  }
}

/** Elements the tensor's buffer can hold (a tensor may be a smaller view of a larger allocation). */
export function capacity(t: GpuTensor): number {
  return Math.floor(t.buffer.size / 4);
}

/**
 * A view with a smaller shape over the start of the same buffer: activation buffers are allocated for the
 * largest token count and viewed at the current one (training batch, prompt prefill, one decode token).
 */
export function view(t: GpuTensor, shape: readonly number[]): GpuTensor {
  const n = numel(shape);
  if (n > capacity(t)) throw new Error(`view of ${t.label} as ${shapeString(shape)} needs ${n} elements, buffer holds ${capacity(t)}`);
  return { buffer: t.buffer, shape: [...shape], dtype: t.dtype, label: t.label };
}
