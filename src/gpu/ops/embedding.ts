/**
 * Token embedding lookup (optionally plus GPT-2's learned position embedding) and its gradient into the table.
 * The gradient is deterministic (no float atomics): see shaders/embedding.wgsl for the ownership scheme.
 */
import shader from '../../../shaders/embedding.wgsl?raw';
import { ceilDiv, grid1d, ro, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import { type GpuTensor, expectShape } from '../tensor';

/** Threads the backward pass aims for: C columns x S vocabulary slices (more slices only while C is small). */
const BACKWARD_TARGET_THREADS = 16384;
const BACKWARD_MAX_SLICES = 64;

export interface EmbeddingPositions {
  /** [P, C] learned position embeddings. */
  table: GpuTensor;
  /** Sequence length: row m has position (m % T) + offset. */
  T: number;
  offset: number;
}

export interface EmbeddingForwardArgs {
  /** [M, C], written. Rows whose id is outside [0, V) are all zeros. */
  out: GpuTensor;
  /** i32 [M] */
  ids: GpuTensor;
  /** [V, C] */
  table: GpuTensor;
  M: number;
  C: number;
  V: number;
  positions?: EmbeddingPositions;
}

export interface EmbeddingBackwardArgs {
  /** [V, C], accumulated (+=). Rows of out-of-range ids receive nothing. */
  dtable: GpuTensor;
  /** [M, C] */
  dout: GpuTensor;
  /** i32 [M] */
  ids: GpuTensor;
  M: number;
  C: number;
  V: number;
}

/**
 * Host-side check of token ids before upload: the GPU cannot report a bad id synchronously (it writes a zero
 * row instead), so callers that hold the ids on the CPU should run this.
 */
export function validateTokenIds(ids: ArrayLike<number>, V: number, what = 'token ids'): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new Error(`${what}: id ${id} at index ${i} is outside the vocabulary [0, ${V})`);
  }
}

function checkDims(op: string, dims: Record<string, number>): void {
  for (const [name, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`${op}: ${name} = ${v} must be a non-negative integer`);
  }
}

function checkIds(op: string, ids: GpuTensor, M: number): void {
  expectShape(op, 'ids', ids, [M]);
  if (ids.dtype !== 'i32') throw new Error(`${op}: ids (${ids.label}) has dtype ${ids.dtype}, expected i32`);
}

export function embeddingForward(rt: GpuRuntime, a: EmbeddingForwardArgs): void {
  const op = 'embeddingForward';
  const { M, C, V } = a;
  checkDims(op, { M, C, V });
  checkIds(op, a.ids, M);
  expectShape(op, 'out', a.out, [M, C]);
  expectShape(op, 'table', a.table, [V, C]);
  const total = M * C;
  if (a.positions) {
    const { table: pos, T, offset } = a.positions;
    checkDims(op, { 'positions.T': T, 'positions.offset': offset });
    if (T < 1) throw new Error(`${op}: positions.T = ${T} must be at least 1`);
    const P = pos.shape[0] ?? 0;
    expectShape(op, 'positions.table', pos, [P, C]);
    const last = Math.min(T, M) - 1 + offset;
    if (M > 0 && last >= P) throw new Error(`${op}: position ${last} (T = ${T}, offset = ${offset}) is past the ${P} rows of positions.table (${pos.label})`);
    if (total === 0) return;
    rt.dispatch({
      name: 'embedding_forward_pos', shader, entryPoint: 'embedding_forward_pos',
      uniforms: [total, C, V, T, offset, 0],
      bindings: [rw(a.out), ro(a.ids), ro(a.table), ro(pos)],
      workgroups: grid1d(ceilDiv(total, 256)),
    });
    return;
  }
  if (total === 0) return;
  rt.dispatch({
    name: 'embedding_forward', shader, entryPoint: 'embedding_forward',
    uniforms: [total, C, V, 1, 0, 0],
    bindings: [rw(a.out), ro(a.ids), ro(a.table)],
    workgroups: grid1d(ceilDiv(total, 256)),
  });
}

export function embeddingBackward(rt: GpuRuntime, a: EmbeddingBackwardArgs): void {
  const op = 'embeddingBackward';
  const { M, C, V } = a;
  checkDims(op, { M, C, V });
  checkIds(op, a.ids, M);
  expectShape(op, 'dtable', a.dtable, [V, C]);
  expectShape(op, 'dout', a.dout, [M, C]);
  if (M === 0 || C === 0 || V === 0) return;
  const wanted = Math.min(BACKWARD_MAX_SLICES, V, Math.max(1, Math.ceil(BACKWARD_TARGET_THREADS / C)));
  const slice = Math.ceil(V / wanted);
  const slices = Math.ceil(V / slice);
  rt.dispatch({
    name: 'embedding_backward', shader, entryPoint: 'embedding_backward',
    uniforms: [M, C, V, 1, 0, slice],
    bindings: [rw(a.dtable), ro(a.dout), ro(a.ids)],
    workgroups: [ceilDiv(C, 64), slices, 1],
  });
}
