/**
 * What a kernel dispatch needs, as plain data. Ops build one of these after validating shapes (see
 * src/gpu/ops/*.ts); the runtime turns it into a cached pipeline, a bind group and a dispatch.
 *
 * Binding convention every shader in shaders/ follows:
 *   @group(0) @binding(0) var<uniform> u: Params;            // only when `uniforms` is non-empty
 *   @group(0) @binding(1..n) var<storage, read|read_write>   // `bindings` in order
 * Params is a struct of 4-byte scalars (u32, i32, f32) in the order of `uniforms`.
 */
import type { GpuTensor } from './tensor';

/** A plain number is packed as u32; wrap floats and signed ints. */
export type UniformValue = number | { f32: number } | { i32: number };

export interface Binding {
  tensor: GpuTensor;
  /** 'read' binds as read-only storage; frozen base weights are only ever bound this way. */
  access: 'read' | 'read_write';
}

export interface KernelCall {
  /** Name for errors and profiling, e.g. 'matmul_tiled'. */
  name: string;
  /** Full WGSL source (imported from shaders/ with ?raw). */
  shader: string;
  entryPoint: string;
  /** Pipeline-overridable constants (WGSL `override`), part of the pipeline cache key. */
  constants?: Record<string, number>;
  uniforms: UniformValue[];
  bindings: Binding[];
  /** Number of workgroups in x, y, z. Use grid1d for large 1-D launches. */
  workgroups: [number, number, number];
}

export const ro = (tensor: GpuTensor): Binding => ({ tensor, access: 'read' });
export const rw = (tensor: GpuTensor): Binding => ({ tensor, access: 'read_write' });
export const f32 = (v: number): UniformValue => ({ f32: v });
export const i32 = (v: number): UniformValue => ({ i32: v });

export const MAX_WORKGROUPS_PER_DIM = 65535;

/**
 * Splits `count` workgroups over x and y so neither exceeds 65535. Shaders recover the linear workgroup
 * index as `wid.x + wid.y * nwg.x` (see shaders/README.md) and guard against the overshoot.
 */
export function grid1d(count: number): [number, number, number] {
  if (count <= MAX_WORKGROUPS_PER_DIM) return [Math.max(1, count), 1, 1];
  const y = Math.ceil(count / MAX_WORKGROUPS_PER_DIM);
  return [Math.ceil(count / y), y, 1];
}

export function ceilDiv(a: number, b: number): number {
  return Math.floor((a + b - 1) / b);
}

export function packUniforms(values: UniformValue[]): ArrayBuffer {
  const bytes = Math.max(16, Math.ceil((values.length * 4) / 16) * 16);
  const buf = new ArrayBuffer(bytes);
  const view = new DataView(buf);
  values.forEach((v, i) => {
    if (typeof v === 'number') {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`uniform #${i} = ${v} is not a u32; wrap floats with f32()`);
      view.setUint32(i * 4, v, true);
    } else if ('f32' in v) view.setFloat32(i * 4, v.f32, true);
    else view.setInt32(i * 4, v.i32, true);
  });
  return buf;
}
