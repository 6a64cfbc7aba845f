/**
 * Kernels of sparse fine-tuning: a layer W [N = out, K = in] (nn.Linear orientation, y = x Wᵀ) trains a sparse delta
 * Δ with nnz entries (index layout in ./sparseIndex.ts, values f32 [nnz] in entry order).
 *
 * Shapes: x, dx [M, K]; y, dy [M, N] (leading dimensions flatten, as in matmul); values, grad [nnz].
 *   sparseForward    y[m, o] += scale · Σ_{e in row o} values[e] · x[m, cols[e]]          (y already holds x Wᵀ)
 *   sparseDx         dx[m, i] += scale · Σ_{e in column i} values[e] · dy[m, rows[e]]
 *   sparseValueGrad  grad[e] (+)= f(scale · Σ_m dy[m, rows[e]] · x[m, cols[e]]), f = identity | abs | square
 *   scatterAdd       dense[indices[e]] += scale · values[e]     (unique u32 flat indices, e.g. merging Δ into W)
 *   gather           out[e] = dense[indices[e]]
 *   accumulateStat   acc[i] += |scale · g[i]| or (scale · g[i])²  (dense statistics while choosing entries)
 * Every op is deterministic (no float atomics) and a no-op without a dispatch when there is nothing to do (nnz = 0).
 * See shaders/sparse/*.wgsl for the thread mappings.
 */
import scatterShader from '../../../shaders/sparse/scatter.wgsl?raw';
import sddmmShader from '../../../shaders/sparse/sddmm.wgsl?raw';
import spmmShader from '../../../shaders/sparse/spmm.wgsl?raw';
import statsShader from '../../../shaders/sparse/stats.wgsl?raw';
import { ceilDiv, f32, grid1d, ro, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import { type DType, type GpuTensor, expectShape, numel } from '../tensor';
import { expectDims, expectGrid, expectIndexable, expectMatrix, expectNoAlias } from './matmul';
import type { SparseEntries, SparseIndex } from './sparseIndex';

/** Rows of x / dy each spmm thread handles (TM in shaders/sparse/spmm.wgsl). */
const SPMM_ROWS_PER_THREAD = 4;
/** sparseValueGrad splits the m loop over more lanes per entry until about this many threads run (see below). */
const SDDMM_TARGET_THREADS = 32768;
/** At most this many lanes per entry: a power of two dividing the workgroup of 256. */
const SDDMM_MAX_LANES = 64;

export type SparseGradMode = 'sum' | 'abs' | 'square';
const MODE_CODE: Record<SparseGradMode, number> = { sum: 0, abs: 1, square: 2 };

// ---------------------------------------------------------------- validation

function expectVector(op: string, arg: string, t: GpuTensor, n: number, dtype: DType): void {
  expectShape(op, arg, t, [n]);
  if (t.dtype !== dtype) throw new Error(`${op}: ${arg} (${t.label}) is ${t.dtype}, expected ${dtype}`);
}

function expectScale(op: string, scale: number): void {
  if (!Number.isFinite(scale)) throw new Error(`${op}: scale = ${scale} is not finite`);
}

function expectCount(op: string, name: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`${op}: ${name} = ${n} must be a non-negative 32-bit integer`);
}

function expectEntries(op: string, arg: string, idx: SparseEntries): void {
  expectCount(op, `${arg}.nnz`, idx.nnz);
  expectVector(op, `${arg}.rows`, idx.rows, idx.nnz, 'u32');
  expectVector(op, `${arg}.cols`, idx.cols, idx.nnz, 'u32');
}

function expectIndex(op: string, idx: SparseIndex, N: number, K: number): void {
  if (idx.N !== N || idx.K !== K) throw new Error(`${op}: index is for a ${idx.N} x ${idx.K} layer, expected N x K = ${N} x ${K}`);
  expectEntries(op, 'index', idx);
  expectVector(op, 'index.rowPtr', idx.rowPtr, N + 1, 'u32');
  expectVector(op, 'index.colPtr', idx.colPtr, K + 1, 'u32');
  expectVector(op, 'index.colOrder', idx.colOrder, idx.nnz, 'u32');
}

function indexTensors(idx: SparseIndex): Record<string, GpuTensor> {
  return { 'index.rows': idx.rows, 'index.cols': idx.cols, 'index.rowPtr': idx.rowPtr, 'index.colPtr': idx.colPtr, 'index.colOrder': idx.colOrder };
}

// ---------------------------------------------------------------- sparse x dense

/**
 * Checks shared by the forward and dx products: dims, scale, the index against [N, K], the output [M, ·] and
 * input [M, ·] activations (named as the op calls them), the values, and that the output aliases nothing.
 */
function expectSpmm(
  op: string,
  a: { M: number; N: number; K: number; scale: number; index: SparseIndex; values: GpuTensor; out: [string, GpuTensor, number]; input: [string, GpuTensor, number] },
): void {
  const { M, N, K, index } = a;
  const [outName, out, outCols] = a.out;
  const [inName, input, inCols] = a.input;
  expectDims(op, { M, N, K });
  expectScale(op, a.scale);
  expectIndex(op, index, N, K);
  expectMatrix(op, outName, out, M, outCols);
  expectMatrix(op, inName, input, M, inCols);
  expectVector(op, 'values', a.values, index.nnz, 'f32');
  expectIndexable(op, outName, M, outCols);
  expectIndexable(op, inName, M, inCols);
  expectNoAlias(op, outName, out, { [inName]: input, values: a.values, ...indexTensors(index) });
}

export interface SparseForwardArgs {
  /** [M, N], accumulated: holds x Wᵀ (and bias) already */
  y: GpuTensor;
  /** [M, K] */
  x: GpuTensor;
  index: SparseIndex;
  /** f32 [nnz] */
  values: GpuTensor;
  M: number;
  N: number;
  K: number;
  /** default 1 */
  scale?: number;
}

/** y[m, o] += scale · Σ_{e in row o} values[e] · x[m, cols[e]], i.e. y += scale · x Δᵀ. */
export function sparseForward(rt: GpuRuntime, a: SparseForwardArgs): void {
  const op = 'sparseForward';
  const { M, N, K, index } = a;
  const scale = a.scale ?? 1;
  expectSpmm(op, { M, N, K, scale, index, values: a.values, out: ['y', a.y, N], input: ['x', a.x, K] });
  if (index.nnz === 0) return;
  const workgroups = grid1d(ceilDiv(N * ceilDiv(M, SPMM_ROWS_PER_THREAD), 256));
  expectGrid(op, workgroups);
  rt.dispatch({
    name: op,
    shader: spmmShader,
    entryPoint: 'spmm_rows',
    uniforms: [M, N, K, f32(scale)],
    bindings: [rw(a.y), ro(index.rowPtr), ro(index.cols), ro(a.values), ro(a.x)],
    workgroups,
  });
}

export interface SparseDxArgs {
  /** [M, K], accumulated: holds dy W already */
  dx: GpuTensor;
  /** [M, N] */
  dy: GpuTensor;
  index: SparseIndex;
  /** f32 [nnz] */
  values: GpuTensor;
  M: number;
  N: number;
  K: number;
  /** default 1 */
  scale?: number;
}

/** dx[m, i] += scale · Σ_{e in column i} values[e] · dy[m, rows[e]], i.e. dx += scale · dy Δ (through colPtr/colOrder). */
export function sparseDx(rt: GpuRuntime, a: SparseDxArgs): void {
  const op = 'sparseDx';
  const { M, N, K, index } = a;
  const scale = a.scale ?? 1;
  expectSpmm(op, { M, N, K, scale, index, values: a.values, out: ['dx', a.dx, K], input: ['dy', a.dy, N] });
  if (index.nnz === 0) return;
  const workgroups = grid1d(ceilDiv(K * ceilDiv(M, SPMM_ROWS_PER_THREAD), 256));
  expectGrid(op, workgroups);
  rt.dispatch({
    name: op,
    shader: spmmShader,
    entryPoint: 'spmm_cols',
    uniforms: [M, K, N, f32(scale)],
    bindings: [rw(a.dx), ro(index.colPtr), ro(index.rows), ro(a.values), ro(a.dy), ro(index.colOrder)],
    workgroups,
  });
}

// ---------------------------------------------------------------- sampled gradient

export interface SparseValueGradArgs {
  /** f32 [nnz], accumulated unless accumulate is false */
  grad: GpuTensor;
  /** [M, N] the gradient at the layer's output */
  dy: GpuTensor;
  /** [M, K] the layer's saved input */
  x: GpuTensor;
  /** The trained index, or any set of entries (e.g. candidates whose gradient statistics are collected). */
  index: SparseEntries;
  M: number;
  N: number;
  K: number;
  /** default 1 */
  scale?: number;
  /** default true: gradients and statistics accumulate over micro-batches */
  accumulate?: boolean;
  /** default 'sum': the gradient itself; 'abs' / 'square' add |scale · g| / (scale · g)² */
  mode?: SparseGradMode;
}

/**
 * Lanes (threads per entry) of the value-gradient kernel: 1 selects the barrier-free one-thread-per-entry kernel.
 * Small entry counts split the m loop so that a few entries over many tokens still occupy the GPU. It depends on
 * nnz and M only, so a given shape always sums in the same order.
 */
export function sparseValueGradLanes(nnz: number, M: number): number {
  let lanes = 1;
  while (lanes < SDDMM_MAX_LANES && nnz * lanes < SDDMM_TARGET_THREADS && lanes * 2 <= M) lanes *= 2;
  return lanes;
}

/** grad[e] (+)= f(scale · Σ_m dy[m, rows[e]] · x[m, cols[e]]) with f from `mode`. */
export function sparseValueGrad(rt: GpuRuntime, a: SparseValueGradArgs): void {
  const op = 'sparseValueGrad';
  const { M, N, K, index } = a;
  const scale = a.scale ?? 1;
  const mode = a.mode ?? 'sum';
  expectDims(op, { M, N, K });
  expectScale(op, scale);
  if (!Object.hasOwn(MODE_CODE, mode)) throw new Error(`${op}: mode = ${String(mode)} must be one of ${Object.keys(MODE_CODE).join(', ')}`);
  expectEntries(op, 'index', index);
  expectVector(op, 'grad', a.grad, index.nnz, 'f32');
  expectMatrix(op, 'dy', a.dy, M, N);
  expectMatrix(op, 'x', a.x, M, K);
  expectIndexable(op, 'dy', M, N);
  expectIndexable(op, 'x', M, K);
  expectNoAlias(op, 'grad', a.grad, { dy: a.dy, x: a.x, 'index.rows': index.rows, 'index.cols': index.cols });
  if (index.nnz === 0) return;
  const lanes = sparseValueGradLanes(index.nnz, M);
  const workgroups = grid1d(ceilDiv(index.nnz, 256 / lanes));
  expectGrid(op, workgroups);
  rt.dispatch({
    name: op,
    shader: sddmmShader,
    entryPoint: lanes === 1 ? 'sddmm_serial' : 'sddmm',
    uniforms: [M, N, K, index.nnz, f32(scale), MODE_CODE[mode], +(a.accumulate ?? true), lanes],
    bindings: [rw(a.grad), ro(index.rows), ro(index.cols), ro(a.dy), ro(a.x)],
    workgroups,
  });
}

// ---------------------------------------------------------------- dense <-> entries

export interface ScatterAddArgs {
  /** f32, any shape, addressed flat (e.g. W [N, K] with indices row · K + col) */
  dense: GpuTensor;
  /** u32 [nnz] flat indices into dense; must be unique (one writer per element, no atomics) and < numel(dense) */
  indices: GpuTensor;
  /** f32 [nnz] */
  values: GpuTensor;
  nnz: number;
  /** default 1 */
  scale?: number;
}

/**
 * dense[indices[e]] += scale · values[e]. Duplicate indices would race (one of the additions is lost), so callers
 * pass the sorted unique indices buildSparseIndex checks; an index past the end of dense is skipped on the GPU.
 */
export function scatterAdd(rt: GpuRuntime, a: ScatterAddArgs): void {
  const op = 'scatterAdd';
  const { nnz } = a;
  const scale = a.scale ?? 1;
  expectCount(op, 'nnz', nnz);
  expectScale(op, scale);
  const size = expectDense(op, 'dense', a.dense);
  expectVector(op, 'indices', a.indices, nnz, 'u32');
  expectVector(op, 'values', a.values, nnz, 'f32');
  expectNoAlias(op, 'dense', a.dense, { indices: a.indices, values: a.values });
  if (nnz === 0) return;
  const workgroups = grid1d(ceilDiv(nnz, 256));
  expectGrid(op, workgroups);
  rt.dispatch({
    name: op,
    shader: scatterShader,
    entryPoint: 'scatter_add',
    uniforms: [nnz, size, f32(scale)],
    bindings: [rw(a.dense), ro(a.indices), ro(a.values)],
    workgroups,
  });
}

export interface GatherArgs {
  /** f32 [nnz], written */
  out: GpuTensor;
  /** f32, any shape, addressed flat */
  dense: GpuTensor;
  /** u32 [nnz] flat indices into dense; an index past its end reads 0 */
  indices: GpuTensor;
  nnz: number;
}

/** out[e] = dense[indices[e]]. */
export function gather(rt: GpuRuntime, a: GatherArgs): void {
  const op = 'gather';
  const { nnz } = a;
  expectCount(op, 'nnz', nnz);
  const size = expectDense(op, 'dense', a.dense);
  expectVector(op, 'out', a.out, nnz, 'f32');
  expectVector(op, 'indices', a.indices, nnz, 'u32');
  expectNoAlias(op, 'out', a.out, { dense: a.dense, indices: a.indices });
  if (nnz === 0) return;
  const workgroups = grid1d(ceilDiv(nnz, 256));
  expectGrid(op, workgroups);
  rt.dispatch({
    name: op,
    shader: scatterShader,
    entryPoint: 'gather',
    uniforms: [nnz, size, f32(1)],
    bindings: [rw(a.out), ro(a.indices), ro(a.dense)],
    workgroups,
  });
}

/** A non-empty f32 tensor addressable with u32 flat indices; returns its element count. */
function expectDense(op: string, arg: string, t: GpuTensor): number {
  const size = numel(t.shape);
  if (t.dtype !== 'f32') throw new Error(`${op}: ${arg} (${t.label}) is ${t.dtype}, expected f32`);
  if (size < 1 || size > 0xffffffff) throw new Error(`${op}: ${arg} (${t.label}) holds ${size} elements, expected 1 .. 2³² - 1`);
  return size;
}

// ---------------------------------------------------------------- dense statistics

export interface AccumulateStatArgs {
  /** f32 with n elements (any shape), accumulated */
  acc: GpuTensor;
  /** f32 with n elements (any shape), e.g. a layer's dense weight gradient */
  g: GpuTensor;
  n: number;
  mode: 'abs' | 'square';
  /** default 1 */
  scale?: number;
}

/** acc[i] += |scale · g[i]| ('abs') or (scale · g[i])² ('square'). */
export function accumulateStat(rt: GpuRuntime, a: AccumulateStatArgs): void {
  const op = 'accumulateStat';
  const { n, mode } = a;
  const scale = a.scale ?? 1;
  expectCount(op, 'n', n);
  expectScale(op, scale);
  if (mode !== 'abs' && mode !== 'square') throw new Error(`${op}: mode = ${String(mode)} must be abs or square`);
  for (const [arg, t] of [['acc', a.acc], ['g', a.g]] as const) {
    if (t.dtype !== 'f32') throw new Error(`${op}: ${arg} (${t.label}) is ${t.dtype}, expected f32`);
    if (numel(t.shape) !== n) throw new Error(`${op}: ${arg} (${t.label}) holds ${numel(t.shape)} elements, expected n = ${n}`);
  }
  expectNoAlias(op, 'acc', a.acc, { g: a.g });
  if (n === 0) return;
  const workgroups = grid1d(ceilDiv(n, 256));
  expectGrid(op, workgroups);
  rt.dispatch({
    name: op,
    shader: statsShader,
    entryPoint: 'accumulate_stat',
    uniforms: [n, f32(scale), MODE_CODE[mode]],
    bindings: [rw(a.acc), ro(a.g)],
    workgroups,
  });
}
