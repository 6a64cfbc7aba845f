/**
 * Causal multi-head attention with grouped-query attention (GQA), forward and backward (shaders/attention.wgsl).
 *
 * q, out, dout, dq: [B*Tq, nHeads*headDim]; k, v, dk, dv: [B*kvStride, nKvHeads*headDim]; lse: [B*nHeads*Tq].
 * Query head h uses kv head h / (nHeads / nKvHeads). Query i (absolute position i + qPosOffset) attends keys
 * j <= i + qPosOffset, j < Tk; rows Tk..kvStride-1 of a KV cache are never read. Only element counts are
 * checked, so callers may shape tensors [B, T, C] or [B*T, C] as they like.
 */
import shader from '../../../shaders/attention.wgsl?raw';
import { type KernelCall, MAX_WORKGROUPS_PER_DIM, ceilDiv, f32, grid1d, ro, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import { type GpuTensor, numel, shapeString } from '../tensor';

export interface AttentionShape {
  B: number;
  Tq: number;
  Tk: number;
  kvStride: number;
  qPosOffset: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  scale: number;
}

export interface AttentionForwardArgs extends AttentionShape {
  out: GpuTensor;
  lse: GpuTensor;
  q: GpuTensor;
  k: GpuTensor;
  v: GpuTensor;
}

export interface AttentionBackwardArgs extends AttentionShape {
  dq: GpuTensor;
  dk: GpuTensor;
  dv: GpuTensor;
  dout: GpuTensor;
  out: GpuTensor;
  lse: GpuTensor;
  q: GpuTensor;
  k: GpuTensor;
  v: GpuTensor;
}

/** Largest head dim the kernels take: beyond it the tiles below no longer fit 16 KiB of workgroup memory. */
export const ATTENTION_MAX_HEAD_DIM = 128;

/** WG is passed to the shader as a pipeline constant; MAX_ACC must equal the shader's `const MAX_ACC`. */
const WG = 128;
const MAX_ACC = 16;
/**
 * Workgroup memory budget. 16 KiB is the WebGPU default every adapter grants; the runtime asks for the adapter's
 * maximum (often 32 KiB), but capping here keeps the tile choice, and so the tested code path, the same on
 * every device. Raising it (bigger tiles for large head dims) is a tuning step for later.
 */
const WG_STORAGE_BYTES = 16384;

type Kernel = 'forward' | 'dq' | 'dkv';

interface Tiles {
  BQ: number;
  BK: number;
}

/**
 * Preferred tiles first; every entry is reached by some head dim <= 128 and covered by the tests (forward:
 * always 16 x 8; dq and dkv: the first entry up to head dim about 74, the second above). dkv streams queries past
 * resident keys, so it wants more keys than queries.
 */
const CANDIDATES: Record<Kernel, Tiles[]> = {
  forward: [{ BQ: 16, BK: 8 }],
  dq: [{ BQ: 16, BK: 8 }, { BQ: 8, BK: 4 }],
  dkv: [{ BQ: 8, BK: 16 }, { BQ: 4, BK: 8 }],
};

/** Workgroup floats each kernel declares (mirrors the var<workgroup> arrays its entry point touches). */
function footprint(kernel: Kernel, hd: number, t: Tiles): number {
  const hdp = hd | 1;
  const ns = t.BQ * t.BK;
  if (kernel === 'forward') return t.BQ * hdp + t.BK * hdp + ns + WG + 2 * t.BQ;
  return 2 * t.BQ * hdp + 2 * t.BK * hdp + (kernel === 'dkv' ? 2 : 1) * ns + 2 * WG + 2 * t.BQ;
}

function pickTiles(kernel: Kernel, hd: number): Tiles {
  const rowsOf = (t: Tiles): number => (kernel === 'dkv' ? t.BK : t.BQ);
  for (const t of CANDIDATES[kernel]) {
    const ns = t.BQ * t.BK;
    if (ns > WG || WG % ns !== 0) continue;
    if (Math.ceil(hd / (WG / rowsOf(t))) > MAX_ACC) continue;
    if (footprint(kernel, hd, t) * 4 > WG_STORAGE_BYTES) continue;
    return t;
  }
  throw new Error(`attention: no ${kernel} tiling fits head dim ${hd} (max ${ATTENTION_MAX_HEAD_DIM})`);
}

function constants(hd: number, t: Tiles): Record<string, number> {
  return { HD: hd, BQ: t.BQ, BK: t.BK, WG };
}

function uniforms(s: AttentionShape): KernelCall['uniforms'] {
  return [s.B, s.Tq, s.Tk, s.kvStride, s.qPosOffset, s.nHeads, s.nKvHeads, f32(s.scale)];
}

function validateShape(op: string, s: AttentionShape): void {
  const dims = `B=${s.B} Tq=${s.Tq} Tk=${s.Tk} kvStride=${s.kvStride} qPosOffset=${s.qPosOffset} nHeads=${s.nHeads} nKvHeads=${s.nKvHeads} headDim=${s.headDim}`;
  for (const [name, value] of Object.entries({ B: s.B, Tq: s.Tq, Tk: s.Tk, kvStride: s.kvStride, nHeads: s.nHeads, nKvHeads: s.nKvHeads, headDim: s.headDim })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`${op}: ${name} must be a positive integer (${dims})`);
  }
  if (!Number.isInteger(s.qPosOffset) || s.qPosOffset < 0) throw new Error(`${op}: qPosOffset must be a non-negative integer (${dims})`);
  if (s.Tk > s.kvStride) throw new Error(`${op}: Tk ${s.Tk} exceeds kvStride ${s.kvStride} (${dims})`);
  if (s.nHeads % s.nKvHeads !== 0) throw new Error(`${op}: nHeads ${s.nHeads} is not divisible by nKvHeads ${s.nKvHeads}`);
  if (s.headDim > ATTENTION_MAX_HEAD_DIM) {
    throw new Error(`${op}: headDim ${s.headDim} exceeds the kernel's maximum ${ATTENTION_MAX_HEAD_DIM} (tiles must fit 16 KiB of workgroup memory)`);
  }
  if (!Number.isFinite(s.scale)) throw new Error(`${op}: scale ${s.scale} is not finite`);
  if (s.nHeads > MAX_WORKGROUPS_PER_DIM || s.B > MAX_WORKGROUPS_PER_DIM) {
    throw new Error(`${op}: B ${s.B} and nHeads ${s.nHeads} must each be at most ${MAX_WORKGROUPS_PER_DIM} (one workgroup row per head and sequence)`);
  }
  // Flat indices are u32 in the shader.
  if (s.B * Math.max(s.Tq, s.kvStride) * s.nHeads * s.headDim >= 2 ** 32) throw new Error(`${op}: tensors too large for 32-bit indexing (${dims})`);
}

function expectElements(op: string, arg: string, t: GpuTensor, rows: [string, number], cols: [string, number]): void {
  const want = rows[1] * cols[1];
  if (t.dtype !== 'f32') throw new Error(`${op}: ${arg} (${t.label}) has dtype ${t.dtype}, expected f32`);
  if (numel(t.shape) !== want) {
    throw new Error(
      `${op}: ${arg} (${t.label}) has shape ${shapeString(t.shape)} = ${numel(t.shape)} elements, expected ${want} = [${rows[0]}=${rows[1]}, ${cols[0]}=${cols[1]}]`,
    );
  }
}

/** Outputs must not share a buffer with any other argument: the kernels read inputs while writing outputs. */
function expectDistinct(op: string, outputs: Record<string, GpuTensor>, all: Record<string, GpuTensor>): void {
  for (const [oName, o] of Object.entries(outputs)) {
    for (const [name, t] of Object.entries(all)) {
      if (name !== oName && t.buffer === o.buffer) throw new Error(`${op}: output ${oName} (${o.label}) shares its buffer with ${name} (${t.label})`);
    }
  }
}

function checkGrid(op: string, what: string, n: number): void {
  if (n > MAX_WORKGROUPS_PER_DIM) throw new Error(`${op}: ${what} needs ${n} workgroups in x, more than ${MAX_WORKGROUPS_PER_DIM}`);
}

/** out = softmax(scale·QKᵀ + causal mask)·V per head, and lse = logsumexp of the scaled, masked scores per row. */
export function attentionForward(rt: GpuRuntime, a: AttentionForwardArgs): void {
  const op = 'attentionForward';
  validateShape(op, a);
  const qRows: [string, number] = ['B*Tq', a.B * a.Tq];
  const kvRows: [string, number] = ['B*kvStride', a.B * a.kvStride];
  const qCols: [string, number] = ['nHeads*headDim', a.nHeads * a.headDim];
  const kvCols: [string, number] = ['nKvHeads*headDim', a.nKvHeads * a.headDim];
  expectElements(op, 'q', a.q, qRows, qCols);
  expectElements(op, 'k', a.k, kvRows, kvCols);
  expectElements(op, 'v', a.v, kvRows, kvCols);
  expectElements(op, 'out', a.out, qRows, qCols);
  expectElements(op, 'lse', a.lse, ['B*nHeads', a.B * a.nHeads], ['Tq', a.Tq]);
  expectDistinct(op, { out: a.out, lse: a.lse }, { out: a.out, lse: a.lse, q: a.q, k: a.k, v: a.v });
  const t = pickTiles('forward', a.headDim);
  checkGrid(op, `Tq=${a.Tq} in query tiles of ${t.BQ}`, ceilDiv(a.Tq, t.BQ));
  rt.dispatch({
    name: 'attention_forward',
    shader,
    entryPoint: 'attention_forward',
    constants: constants(a.headDim, t),
    uniforms: uniforms(a),
    bindings: [ro(a.q), ro(a.k), ro(a.v), rw(a.out), rw(a.lse)],
    workgroups: [ceilDiv(a.Tq, t.BQ), a.nHeads, a.B],
  });
}

/**
 * Training backward (Tq = Tk = kvStride, qPosOffset = 0). dq, dk, dv are overwritten; dk/dv sum over the query
 * heads sharing a kv head. Three dispatches: D_i = dO_i·O_i into dq (used as scratch, so no extra buffer is
 * needed), then dK/dV (one workgroup per kv head and key tile, reading D from dq), then dQ (which recomputes D
 * for its own rows and overwrites the scratch). Every output element has one writer: deterministic.
 */
export function attentionBackward(rt: GpuRuntime, a: AttentionBackwardArgs): void {
  const op = 'attentionBackward';
  validateShape(op, a);
  if (a.Tq !== a.Tk || a.Tk !== a.kvStride || a.qPosOffset !== 0) {
    throw new Error(`${op}: training only, needs Tq = Tk = kvStride and qPosOffset = 0 (got Tq=${a.Tq} Tk=${a.Tk} kvStride=${a.kvStride} qPosOffset=${a.qPosOffset})`);
  }
  const qRows: [string, number] = ['B*T', a.B * a.Tq];
  const qCols: [string, number] = ['nHeads*headDim', a.nHeads * a.headDim];
  const kvCols: [string, number] = ['nKvHeads*headDim', a.nKvHeads * a.headDim];
  for (const [name, t] of [['q', a.q], ['out', a.out], ['dout', a.dout], ['dq', a.dq]] as const) expectElements(op, name, t, qRows, qCols);
  for (const [name, t] of [['k', a.k], ['v', a.v], ['dk', a.dk], ['dv', a.dv]] as const) expectElements(op, name, t, qRows, kvCols);
  expectElements(op, 'lse', a.lse, ['B*nHeads', a.B * a.nHeads], ['T', a.Tq]);
  const all = { dq: a.dq, dk: a.dk, dv: a.dv, dout: a.dout, out: a.out, lse: a.lse, q: a.q, k: a.k, v: a.v };
  expectDistinct(op, { dq: a.dq, dk: a.dk, dv: a.dv }, all);
  const tq = pickTiles('dq', a.headDim);
  const tkv = pickTiles('dkv', a.headDim);
  checkGrid(op, `T=${a.Tq} in query tiles of ${tq.BQ}`, ceilDiv(a.Tq, tq.BQ));
  checkGrid(op, `T=${a.Tk} in key tiles of ${tkv.BK}`, ceilDiv(a.Tk, tkv.BK));
  const u = uniforms(a);
  const rows = a.B * a.nHeads * a.Tq;
  rt.dispatch({
    name: 'attention_backward_delta',
    shader,
    entryPoint: 'attention_backward_delta',
    constants: { HD: a.headDim },
    uniforms: u,
    bindings: [ro(a.dout), ro(a.out), rw(a.dq)],
    workgroups: grid1d(ceilDiv(rows, 256)),
  });
  rt.dispatch({
    name: 'attention_backward_dkv',
    shader,
    entryPoint: 'attention_backward_dkv',
    constants: constants(a.headDim, tkv),
    uniforms: u,
    bindings: [ro(a.q), ro(a.k), ro(a.v), ro(a.lse), ro(a.dout), ro(a.dq), rw(a.dk), rw(a.dv)],
    workgroups: [ceilDiv(a.Tk, tkv.BK), a.nKvHeads, a.B],
  });
  rt.dispatch({
    name: 'attention_backward_dq',
    shader,
    entryPoint: 'attention_backward_dq',
    constants: constants(a.headDim, tq),
    uniforms: u,
    bindings: [ro(a.q), ro(a.k), ro(a.v), ro(a.lse), ro(a.dout), ro(a.out), rw(a.dq)],
    workgroups: [ceilDiv(a.Tq, tq.BQ), a.nHeads, a.B],
  });
}
