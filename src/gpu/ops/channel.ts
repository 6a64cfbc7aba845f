/**
 * Per-channel operations on token-major activations [M, n] for the diagonal methods (IA3, SSF, BitFit): scale
 * every column by a vector, add a vector to every row, and the column sums that are the shift's gradient. The
 * scale's gradient colsum(a ⊙ b) is lowrank_core's diagGrad. See shaders/channel.wgsl, which both files dispatch.
 */
import shader from '../../../shaders/channel.wgsl?raw';
import { ceilDiv, f32, grid1d, ro, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import type { GpuTensor } from '../tensor';
import { expectVector } from './lowrank_core';
import { expectDims, expectGrid, expectIndexable, expectMatrix, expectNoAlias } from './matmul';

export interface ScaleColumnsArgs {
  /** [M, n] */
  out: GpuTensor;
  /** [M, n] */
  a: GpuTensor;
  /** [n] */
  v: GpuTensor;
  M: number;
  n: number;
  /** out += a ⊙ v instead of out = a ⊙ v (default false) */
  accumulate?: boolean;
}

/** out[m, j] (+)= a[m, j] · v[j]. */
export function scaleColumns(rt: GpuRuntime, a: ScaleColumnsArgs): void {
  const op = 'scaleColumns';
  const { M, n } = a;
  expectDims(op, { M, n });
  expectMatrix(op, 'out', a.out, M, n);
  expectMatrix(op, 'a', a.a, M, n);
  expectVector(op, 'v', a.v, n);
  expectIndexable(op, 'a', M, n);
  expectNoAlias(op, 'out', a.out, { a: a.a, v: a.v });
  const workgroups = grid1d(ceilDiv(M * n, 256));
  expectGrid(op, workgroups);
  rt.dispatch({ name: op, shader, entryPoint: 'scale_columns', constants: { ACCUMULATE: +(a.accumulate ?? false) }, uniforms: [M, n, f32(1)], bindings: [rw(a.out), ro(a.a), ro(a.v)], workgroups });
}

export interface AddColumnsArgs {
  /** [M, n], updated in place */
  out: GpuTensor;
  /** [n] */
  v: GpuTensor;
  M: number;
  n: number;
}

/** out[m, j] += v[j]: a bias broadcast over the rows. */
export function addColumns(rt: GpuRuntime, a: AddColumnsArgs): void {
  const op = 'addColumns';
  const { M, n } = a;
  expectDims(op, { M, n });
  expectMatrix(op, 'out', a.out, M, n);
  expectVector(op, 'v', a.v, n);
  expectIndexable(op, 'out', M, n);
  expectNoAlias(op, 'out', a.out, { v: a.v });
  const workgroups = grid1d(ceilDiv(M * n, 256));
  expectGrid(op, workgroups);
  // A is unused by add_columns; v stands in for it so the binding layout matches the other entry points.
  rt.dispatch({ name: op, shader, entryPoint: 'add_columns', uniforms: [M, n, f32(1)], bindings: [rw(a.out), ro(a.v), ro(a.v)], workgroups });
}

export interface ColumnSumArgs {
  /** [n] */
  out: GpuTensor;
  /** [M, n] */
  a: GpuTensor;
  M: number;
  n: number;
  /** default true: parameter gradients accumulate over micro-batches */
  accumulate?: boolean;
}

/** out[j] (+)= Σ_m a[m, j], with a deterministic reduction order. */
export function columnSum(rt: GpuRuntime, a: ColumnSumArgs): void {
  const op = 'columnSum';
  const { M, n } = a;
  expectDims(op, { M, n });
  expectVector(op, 'out', a.out, n);
  expectMatrix(op, 'a', a.a, M, n);
  expectIndexable(op, 'a', M, n);
  expectNoAlias(op, 'out', a.out, { a: a.a });
  const workgroups: [number, number, number] = [ceilDiv(n, 16), 1, 1];
  expectGrid(op, workgroups);
  rt.dispatch({ name: op, shader, entryPoint: 'column_sum', constants: { ACCUMULATE: +(a.accumulate ?? true), PRODUCT: 0 }, uniforms: [M, n, f32(1)], bindings: [rw(a.out), ro(a.a), ro(a.a)], workgroups });
}
