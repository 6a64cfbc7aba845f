/**
 * Top-k selection over millions of scores without sorting them: which k weights to keep by |gradient|, the k
 * smallest |W| for SaRA, the smallest |Δ| to prune. Radix select finds the exact threshold in four 8-bit
 * histogram passes, then an order-preserving compaction writes the selected positions in ascending order.
 *
 * Shapes: keys f32 [≥ n]; exclude u32 [≥ n] (optional; non-zero = never selected); out u32 [≥ min(k, n)].
 * Each call records 11 dispatches into the current step and flushes once, reading back four u32 (the count).
 * See shaders/sparse/topk.wgsl for the passes.
 */
import shader from '../../../shaders/sparse/topk.wgsl?raw';
import { type KernelCall, ceilDiv, grid1d, ro, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import { type GpuTensor, expectAtLeast } from '../tensor';
import { expectGrid, expectNoAlias } from './matmul';

/** Positions per workgroup chunk (CHUNK in topk.wgsl). */
const CHUNK = 8192;
const RADIX_STEPS = 4;
const BINS = 256;
/** u32 slots of the state buffer, and where the op's readback starts (S_COUNT .. S_WRITTEN in topk.wgsl). */
const STATE_SLOTS = 8;
const S_COUNT = 3;
const READ_SLOTS = 4;

const FLAG_ABS = 1;
const FLAG_SMALLEST = 2;
const FLAG_EXCLUDE = 4;

export interface TopkArgs {
  /** f32 [≥ n] scores */
  keys: GpuTensor;
  n: number;
  k: number;
  /** 'largest' (default) or 'smallest' */
  order?: 'largest' | 'smallest';
  /** compare |key| (default true) or the signed value */
  abs?: boolean;
  /** optional u32 [≥ n] 0/1: positions with 1 are never selected (e.g. already-kept entries when regrowing) */
  exclude?: GpuTensor;
  /** u32 [≥ k] output: the selected positions, ascending */
  out: GpuTensor;
}

function expectDType(op: string, arg: string, t: GpuTensor, dtype: GpuTensor['dtype']): void {
  if (t.dtype !== dtype) throw new Error(`${op}: ${arg} (${t.label}) is ${t.dtype}, expected ${dtype}`);
}

function expectCount(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) throw new Error(`${op}: ${name} = ${v} must be a non-negative integer`);
}

/** Validates everything before any dispatch; `out` may be absent for topkIndices, which allocates it. */
function validate(op: string, a: Omit<TopkArgs, 'out'> & { out?: GpuTensor }): void {
  expectCount(op, 'n', a.n);
  expectCount(op, 'k', a.k);
  // Positions are u32 in the shader, and chunk arithmetic runs up to one chunk past n.
  if (a.n > 2 ** 32 - CHUNK) throw new Error(`${op}: n = ${a.n} is more than 32-bit positions allow`);
  if (a.order !== undefined && a.order !== 'largest' && a.order !== 'smallest') {
    throw new Error(`${op}: order = ${String(a.order)} must be 'largest' or 'smallest'`);
  }
  expectDType(op, 'keys', a.keys, 'f32');
  expectAtLeast(op, 'keys', a.keys, a.n);
  if (a.exclude) {
    expectDType(op, 'exclude', a.exclude, 'u32');
    expectAtLeast(op, 'exclude', a.exclude, a.n);
  }
  if (a.out) {
    expectDType(op, 'out', a.out, 'u32');
    expectAtLeast(op, 'out', a.out, Math.min(a.k, a.n));
    expectNoAlias(op, 'out', a.out, { keys: a.keys, exclude: a.exclude });
  }
  expectGrid(op, grid1d(ceilDiv(a.n, CHUNK)));
}

/**
 * Records the whole selection (no flush) and schedules the readback of state[S_COUNT ..]. The scratch tensors
 * are returned for release once that readback has resolved, i.e. once the GPU is done with them.
 */
function record(rt: GpuRuntime, op: string, a: TopkArgs): { state: Promise<ArrayBuffer>; scratch: GpuTensor[] } {
  const { n } = a;
  const k = Math.min(a.k, n);
  const nchunks = ceilDiv(n, CHUNK);
  // Fresh tensors start zeroed, which the histogram atomics rely on; they are small next to the keys
  // (2 u32 per 8192 positions), and a selection runs once per mask update, not per step.
  const state = rt.tensor(`${op} state`, [STATE_SLOTS], 'u32');
  const hist = rt.tensor(`${op} hist`, [RADIX_STEPS * BINS], 'u32');
  const chunks = rt.tensor(`${op} chunks`, [2 * nchunks], 'u32');
  // The shader always declares exclude; without a mask a stand-in buffer is bound, which flag bit 2 (off) keeps unread.
  const exclude = a.exclude ?? rt.tensor(`${op} no exclude`, [1], 'u32');
  const scratch = a.exclude ? [state, hist, chunks] : [state, hist, chunks, exclude];

  const flags = ((a.abs ?? true) ? FLAG_ABS : 0) | (a.order === 'smallest' ? FLAG_SMALLEST : 0) | (a.exclude ? FLAG_EXCLUDE : 0);
  const chunkGrid = grid1d(nchunks);
  const call = (entryPoint: string, step: number, workgroups: [number, number, number]): KernelCall => ({
    name: `${op}:${entryPoint}`,
    shader,
    entryPoint,
    uniforms: [n, k, step, flags, nchunks],
    bindings: [ro(a.keys), ro(exclude), rw(state), rw(hist), rw(chunks), rw(a.out)],
    workgroups,
  });
  for (let step = 0; step < RADIX_STEPS; step++) {
    rt.dispatch(call('topk_histogram', step, chunkGrid));
    rt.dispatch(call('topk_select', step, [1, 1, 1]));
  }
  rt.dispatch(call('topk_count', 0, chunkGrid));
  rt.dispatch(call('topk_scan', 0, [1, 1, 1]));
  rt.dispatch(call('topk_write', 0, chunkGrid));
  return { state: rt.readback(state, S_COUNT, READ_SLOTS), scratch };
}

/** Checks the shader's own bookkeeping: what the compaction wrote must be what the radix select asked for. */
function countFrom(op: string, data: ArrayBuffer): number {
  const [count, , eligible, written] = new Uint32Array(data);
  if (written !== count || count > eligible) {
    throw new Error(`${op}: internal error: selected ${count} of ${eligible} eligible but the compaction wrote ${written}`);
  }
  return count;
}

/**
 * Selects exactly min(k, eligible) positions into out[0 .. count) in ascending order, and returns count. Eligible
 * means below n, not NaN and not excluded. Ties at the threshold go to the lowest positions, so the result is
 * deterministic; -0 and +0 compare equal. Flushes the runtime's step (like rt.read): not for inside a step.
 */
export async function topkSelect(rt: GpuRuntime, a: TopkArgs): Promise<number> {
  const op = 'topkSelect';
  validate(op, a);
  if (a.n === 0 || a.k === 0) return 0;
  const { state, scratch } = record(rt, op, a);
  rt.flush();
  try {
    return countFrom(op, await state);
  } finally {
    for (const t of scratch) rt.release(t);
  }
}

/** Convenience: same, reading the positions back (one flush: the positions are read along with the count). */
export async function topkIndices(rt: GpuRuntime, a: Omit<TopkArgs, 'out'>): Promise<Uint32Array> {
  const op = 'topkIndices';
  validate(op, a);
  const k = Math.min(a.k, a.n);
  if (k === 0) return new Uint32Array(0);
  const out = rt.tensor(`${op} out`, [k], 'u32');
  const { state, scratch } = record(rt, op, { ...a, out });
  const positions = rt.readback(out);
  rt.flush();
  try {
    const [stateData, positionData] = await Promise.all([state, positions]);
    return new Uint32Array(positionData, 0, countFrom(op, stateData));
  } finally {
    for (const t of [...scratch, out]) rt.release(t);
  }
}
