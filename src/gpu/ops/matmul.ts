/**
 * Matrix multiply: out = (accumulate ? out : 0) + alpha * op(a) op(b) + bias, on flat row-major f32 tensors.
 *
 * Engine usage: nn.Linear forward y = x Wᵀ (a = x [M, K], b = W [N, K], transB); backward dx = dy W (transB
 * false, often accumulate); GPT-2 Conv1D keeps W as [K, N] so the flags flip; weight gradients use transA.
 * `matmul` is the tiled, register-blocked production kernel; `matmulNaive` (one thread per output) exists as
 * a baseline for tests and benchmarks.
 */
import shader from '../../../shaders/matmul.wgsl?raw';
import { MAX_WORKGROUPS_PER_DIM, ceilDiv, f32, ro, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import { type GpuTensor, expectShape, numel } from '../tensor';

export interface MatmulArgs {
  /** [M, N] */
  out: GpuTensor;
  /** [M, K], or [K, M] when transA */
  a: GpuTensor;
  /** [K, N], or [N, K] when transB */
  b: GpuTensor;
  /** [N], added to every row */
  bias?: GpuTensor;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  /** out += result instead of out = result */
  accumulate?: boolean;
  /** result scaled by alpha (default 1) before bias/accumulate */
  alpha?: number;
}

/** Output tile of matmul_tiled (see shaders/matmul.wgsl). */
const TILE = 64;
/** Up to this many rows matmul_rows (columns x k-lanes) replaces the 64-row tile, e.g. the LM head while decoding. */
const ROWS_MAX = 8;

/**
 * Checks that `t` holds a rows x cols row-major matrix. Leading dimensions are flattened, so activations kept as
 * [B, T, C] pass as [B*T, C]; anything else throws expectShape's message (op, argument, both shapes).
 */
export function expectMatrix(op: string, arg: string, t: GpuTensor, rows: number, cols: number): void {
  const s = t.shape;
  const flattened = s.length >= 2 && s[s.length - 1] === cols && numel(s.slice(0, -1)) === rows;
  if (!flattened) expectShape(op, arg, t, [rows, cols]);
  if (t.dtype !== 'f32') throw new Error(`${op}: ${arg} (${t.label}) is ${t.dtype}, expected f32`);
}

/** Matrix dimensions must be positive integers that fit the kernels' u32 indices. */
export function expectDims(op: string, dims: Record<string, number>): void {
  for (const [name, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${op}: ${name} = ${v} must be a positive integer`);
  }
}

export function expectIndexable(op: string, what: string, rows: number, cols: number): void {
  if (rows * cols > 0xffffffff) throw new Error(`${op}: ${what} has ${rows} x ${cols} elements, more than 32-bit indexing allows`);
}

export function expectGrid(op: string, workgroups: [number, number, number]): void {
  if (workgroups.some((w) => w > MAX_WORKGROUPS_PER_DIM)) {
    throw new Error(`${op}: needs ${workgroups.join(' x ')} workgroups, over the ${MAX_WORKGROUPS_PER_DIM} per dimension limit`);
  }
}

export function expectNoAlias(op: string, outArg: string, out: GpuTensor, inputs: Record<string, GpuTensor | undefined>): void {
  for (const [name, t] of Object.entries(inputs)) {
    if (t && t.buffer === out.buffer) throw new Error(`${op}: ${outArg} (${out.label}) must not be the same buffer as ${name}`);
  }
}

function validate(op: string, args: MatmulArgs): void {
  const { M, N, K } = args;
  expectDims(op, { M, N, K });
  if (args.alpha !== undefined && !Number.isFinite(args.alpha)) throw new Error(`${op}: alpha = ${args.alpha} is not finite`);
  expectMatrix(op, 'out', args.out, M, N);
  if (args.transA) expectMatrix(op, 'a (transA)', args.a, K, M);
  else expectMatrix(op, 'a', args.a, M, K);
  if (args.transB) expectMatrix(op, 'b (transB)', args.b, N, K);
  else expectMatrix(op, 'b', args.b, K, N);
  if (args.bias) {
    expectShape(op, 'bias', args.bias, [N]);
    if (args.bias.dtype !== 'f32') throw new Error(`${op}: bias (${args.bias.label}) is ${args.bias.dtype}, expected f32`);
  }
  expectIndexable(op, 'out', M, N);
  expectIndexable(op, 'a', M, K);
  expectIndexable(op, 'b', K, N);
  expectNoAlias(op, 'out', args.out, { a: args.a, b: args.b, bias: args.bias });
}

function dispatchMatmul(rt: GpuRuntime, op: string, entryPoint: string, args: MatmulArgs, workgroups: [number, number, number], extra: Record<string, number> = {}): void {
  validate(op, args);
  expectGrid(op, workgroups);
  rt.dispatch({
    name: op,
    shader,
    entryPoint,
    constants: {
      TRANS_A: args.transA ? 1 : 0,
      TRANS_B: args.transB ? 1 : 0,
      HAS_BIAS: args.bias ? 1 : 0,
      ACCUMULATE: args.accumulate ? 1 : 0,
      ...extra,
    },
    uniforms: [args.M, args.N, args.K, f32(args.alpha ?? 1)],
    // Without a bias, b sits in the bias slot as a never-read stand-in (read-only aliases are allowed).
    bindings: [rw(args.out), ro(args.a), ro(args.b), ro(args.bias ?? args.b)],
    workgroups,
  });
}

/**
 * The production matmul: 64 x 64 output tiles with 4 x 4 register blocks; for M <= 8 a columns x k-lanes kernel
 * that does not pad M to 64.
 */
export function matmul(rt: GpuRuntime, args: MatmulArgs): void {
  if (args.M <= ROWS_MAX) {
    dispatchMatmul(rt, 'matmul', 'matmul_rows', args, [ceilDiv(args.N, 256), 1, 1], { MR: args.M });
  } else {
    dispatchMatmul(rt, 'matmul', 'matmul_tiled', args, [ceilDiv(args.N, TILE), ceilDiv(args.M, TILE), 1]);
  }
}

/** One thread per output element; a baseline for tests and benchmarks, not for the engine. */
export function matmulNaive(rt: GpuRuntime, args: MatmulArgs): void {
  dispatchMatmul(rt, 'matmulNaive', 'matmul_naive', args, [ceilDiv(args.N, 16), ceilDiv(args.M, 16), 1]);
}
