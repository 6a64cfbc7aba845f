/**
 * Kernel wrappers of the GPU linear algebra (shaders/linalg/*.wgsl): validate, then dispatch. The algorithms
 * that sequence them live in jacobi.ts, exact.ts, qr.ts, randomized.ts and lowrank.ts.
 */
import jacobiShader from '../../shaders/linalg/jacobi.wgsl?raw';
import layoutShader from '../../shaders/linalg/layout.wgsl?raw';
import { MAX_WORKGROUPS_PER_DIM, ceilDiv, f32, grid1d, ro, rw } from '../gpu/kernel';
import { expectDims, expectIndexable, expectMatrix, expectNoAlias } from '../gpu/ops/matmul';
import type { GpuRuntime } from '../gpu/runtime';
import { type GpuTensor, expectAtLeast } from '../gpu/tensor';

/**
 * On a GPU, columns longer than this get a workgroup per pair (jacobi_round_groups), shorter ones an invocation
 * per pair (jacobi_round_threads: no barriers, and still only a few µs of sequential work a pair).
 */
const THREAD_PER_PAIR_MAX_L = 4096;

/**
 * A CPU implementation of WebGPU (SwiftShader: CI, machines without a GPU) runs a workgroup's barriers as
 * coroutine switches; there an invocation per pair measured 20-30x faster (150-long columns) and still several
 * times faster at 5000, so CPU adapters always use it.
 */
export function isCpuAdapter(rt: GpuRuntime): boolean {
  const info = (rt.device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  return info?.isFallbackAdapter === true || info?.architecture === 'swiftshader';
}

export type JacobiVariant = 'threads' | 'groups';

/** The round kernel for columns of length L on this device (see THREAD_PER_PAIR_MAX_L, isCpuAdapter). */
export function jacobiVariant(rt: GpuRuntime, L: number): JacobiVariant {
  return L <= THREAD_PER_PAIR_MAX_L || isCpuAdapter(rt) ? 'threads' : 'groups';
}

function expectWorkgroups(op: string, count: number): void {
  if (count > MAX_WORKGROUPS_PER_DIM) throw new Error(`${op}: needs ${count} workgroups in x, over the ${MAX_WORKGROUPS_PER_DIM} limit`);
}

/** out [cols, rows] = src [rows, cols]ᵀ. */
export function transpose(rt: GpuRuntime, out: GpuTensor, src: GpuTensor, rows: number, cols: number): void {
  const op = 'transpose';
  expectDims(op, { rows, cols });
  expectMatrix(op, 'src', src, rows, cols);
  expectMatrix(op, 'out', out, cols, rows);
  expectIndexable(op, 'src', rows, cols);
  expectNoAlias(op, 'out', out, { src });
  const workgroups: [number, number, number] = [ceilDiv(cols, 16), ceilDiv(rows, 16), 1];
  expectWorkgroups(op, Math.max(workgroups[0], workgroups[1]));
  rt.dispatch({ name: op, shader: layoutShader, entryPoint: 'transpose', uniforms: [rows, cols], bindings: [rw(out), ro(src)], workgroups });
}

/**
 * out [len, k]: column j = row index[j] of src [*, len] times scale[j]. Sorts singular vectors into place and
 * turns the rows σ_j u_j of the Jacobi working matrix into unit columns.
 */
export function gatherColumns(rt: GpuRuntime, out: GpuTensor, src: GpuTensor, len: number, index: readonly number[], scale: readonly number[]): void {
  const op = 'gatherColumns';
  const k = index.length;
  if (scale.length !== k) throw new Error(`${op}: ${k} indices but ${scale.length} scales`);
  if (k === 0) return;
  expectDims(op, { len, k });
  expectMatrix(op, 'out', out, len, k);
  const rowsOfSrc = Math.max(...index) + 1;
  if (index.some((i) => !Number.isInteger(i) || i < 0)) throw new Error(`${op}: indices must be non-negative integers`);
  expectAtLeast(op, 'src', src, rowsOfSrc * len);
  expectIndexable(op, 'src', rowsOfSrc, len);
  expectNoAlias(op, 'out', out, { src });
  const table = new Uint32Array(2 * k);
  table.set(index);
  new Float32Array(table.buffer, 4 * k, k).set(scale);
  const t = rt.upload(`${op} table`, [2 * k], table);
  rt.dispatch({
    name: op, shader: layoutShader, entryPoint: 'gather_columns',
    uniforms: [len, k], bindings: [rw(out), ro(src), ro(t)], workgroups: grid1d(ceilDiv(len * k, 256)),
  });
  // A buffer destroyed before the submit that uses it fails validation; after the submit, WebGPU defers the
  // destruction until that work is done.
  rt.flush();
  rt.release(t);
}

export interface JacobiRoundArgs {
  /** [C, L]: the columns being orthogonalised, as rows */
  X: GpuTensor;
  /** [C, C] rotations accumulated (row j = column j of V), or null to skip them */
  Vt: GpuTensor | null;
  /** u32 [≥ sweep + 1]: atomicMax of the sweep's off-diagonal measure, as f32 bits */
  conv: GpuTensor;
  C: number;
  L: number;
  round: number;
  sweep: number;
  /** Pairs whose |γ| / (‖x_i‖‖x_j‖) is at most this are left as they are. */
  tol: number;
  /** Which round kernel (default: jacobiVariant); both give the same rotations up to rounding. */
  variant?: JacobiVariant;
}

/** Players in the round-robin tournament: C rounded up to even (odd C gets a padding player that sits out). */
export function jacobiPlayers(C: number): number {
  return C + (C % 2);
}

/** One round: P/2 disjoint pairs rotated in one dispatch (see shaders/linalg/jacobi.wgsl). */
export function jacobiRound(rt: GpuRuntime, a: JacobiRoundArgs): void {
  const op = 'jacobiRound';
  const { C, L } = a;
  const P = jacobiPlayers(C);
  if (!Number.isInteger(a.round) || a.round < 0 || a.round >= Math.max(1, P - 1)) throw new Error(`${op}: round ${a.round} outside 0..${P - 2}`);
  expectDims(op, { C, L });
  expectMatrix(op, 'X', a.X, C, L);
  if (a.Vt) expectMatrix(op, 'Vt', a.Vt, C, C);
  expectAtLeast(op, 'conv', a.conv, a.sweep + 1);
  if (a.conv.dtype !== 'u32') throw new Error(`${op}: conv (${a.conv.label}) must be u32`);
  const threads = (a.variant ?? jacobiVariant(rt, L)) === 'threads';
  const workgroups: [number, number, number] = [threads ? ceilDiv(P / 2, 64) : P / 2, 1, 1];
  expectWorkgroups(op, workgroups[0]);
  rt.dispatch({
    name: op, shader: jacobiShader,
    entryPoint: threads ? 'jacobi_round_threads' : 'jacobi_round_groups',
    // 256 threads from 16Ki elements up: each pair's reduction and rotation then has enough to share.
    constants: threads ? { VECTORS: a.Vt ? 1 : 0 } : { WG: L >= 16384 ? 256 : 64, VECTORS: a.Vt ? 1 : 0 },
    uniforms: [C, L, P, a.round, a.sweep, f32(a.tol)],
    // Without vectors a small shared stand-in fills Vt's slot: VECTORS = false never touches it, and no bound
    // buffer can take its place (a buffer bound writable twice is a validation error).
    bindings: [rw(a.X), rw(a.Vt ?? standIn(rt)), rw(a.conv)],
    workgroups,
  });
}

const standIns = new WeakMap<GpuRuntime, GpuTensor>();

/** A 4-element buffer bound where a kernel's VECTORS = false branch needs a binding it never touches. */
function standIn(rt: GpuRuntime): GpuTensor {
  let t = standIns.get(rt);
  if (!t) {
    t = rt.tensor('linalg stand-in', [4]);
    standIns.set(rt, t);
  }
  return t;
}

/** out[offset + j] = Σ_t X[j, t]² for the C rows of X [C, L]. */
export function columnSumSquares(rt: GpuRuntime, out: GpuTensor, X: GpuTensor, C: number, L: number, offset = 0): void {
  const op = 'columnSumSquares';
  expectDims(op, { C, L });
  expectMatrix(op, 'X', X, C, L);
  if (!Number.isInteger(offset) || offset < 0) throw new Error(`${op}: offset = ${offset} must be a non-negative integer`);
  expectAtLeast(op, 'out', out, offset + C);
  expectWorkgroups(op, ceilDiv(C, 64));
  rt.dispatch({
    name: op, shader: jacobiShader, entryPoint: 'column_sumsq',
    uniforms: [C, L, 0, 0, offset, f32(0)], bindings: [rw(out), ro(X)], workgroups: [ceilDiv(C, 64), 1, 1],
  });
}

/** out [C, C] = I. */
export function setIdentity(rt: GpuRuntime, out: GpuTensor, C: number): void {
  const op = 'setIdentity';
  expectDims(op, { C });
  expectMatrix(op, 'out', out, C, C);
  rt.dispatch({
    name: op, shader: jacobiShader, entryPoint: 'set_identity',
    uniforms: [C, 0, 0, 0, 0, f32(0)], bindings: [rw(out)], workgroups: grid1d(ceilDiv(C * C, 256)),
  });
}
