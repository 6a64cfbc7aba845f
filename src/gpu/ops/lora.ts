/**
 * Skinny kernels for the LoRA path y += s · drop(x) Aᵀ Bᵀ and its backward. The rank r (1..64, typically 4-16)
 * is never padded to a matmul tile: reductions over a long dimension (K, N or M) split it over 16 or 64 lanes per
 * output and sum them with a deterministic shared-memory tree (no atomics, identical results run to run), and
 * the rank-r expansions loop over exactly r (see shaders/lora.wgsl).
 *
 * Shapes: x [M, K], A [r, K], h [M, r], B [N, r], y/dy [M, N]. h and dh are written; y, dx and the parameter
 * gradients dA, dB accumulate, so the base path's contributions already there are kept.
 *
 * Dropout is PEFT's nn.Dropout on x before lora_A, inverted (kept values scaled by 1 / (1 - p)). The mask is a
 * hash of (seed, m*K + k), so loraDown, loraGradA and loraDx regenerate the identical mask without storing it;
 * `dropoutKeep` is the same function on the host.
 */
import shader from '../../../shaders/lora.wgsl?raw';
import { ceilDiv, f32, ro, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import type { GpuTensor } from '../tensor';
import { expectDims, expectGrid, expectIndexable, expectMatrix, expectNoAlias } from './matmul';

export interface LoraDropout {
  /** Drop probability, 0 <= p < 1; 0 disables the mask entirely. */
  p: number;
  /** Any u32; use a fresh one per step and the same one for a step's forward and backward. */
  seed: number;
}

// ------------------------------------------------------------------------------------------- dropout mask

function lowbias32(v: number): number {
  let x = v >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/** The u32 hash behind the mask; identical to dropout_hash in shaders/lora.wgsl. */
export function dropoutHash(seed: number, index: number): number {
  const seedMix = lowbias32((seed ^ 0x9e3779b9) >>> 0);
  return lowbias32((lowbias32((index ^ seedMix) >>> 0) + (seed >>> 0)) >>> 0);
}

/** Hashes below this are dropped: P(drop) = threshold / 2^32 ≈ p. */
export function dropoutThreshold(p: number): number {
  return Math.min(0xffffffff, Math.floor(p * 4294967296));
}

/** Whether element `index` (= m*K + k of x) survives dropout with probability p under `seed`. */
export function dropoutKeep(seed: number, index: number, p: number): boolean {
  return dropoutHash(seed, index) >= dropoutThreshold(p);
}

interface MaskUniforms {
  enabled: boolean;
  threshold: number;
  seed: number;
  keepScale: number;
}

function maskUniforms(op: string, d: LoraDropout | undefined): MaskUniforms {
  if (!d) return { enabled: false, threshold: 0, seed: 0, keepScale: 1 };
  if (!(Number.isFinite(d.p) && d.p >= 0 && d.p < 1)) throw new Error(`${op}: dropout p = ${d.p} must be in [0, 1)`);
  if (!Number.isInteger(d.seed) || d.seed < 0 || d.seed > 0xffffffff) throw new Error(`${op}: dropout seed = ${d.seed} must be a u32`);
  if (d.p === 0) return { enabled: false, threshold: 0, seed: 0, keepScale: 1 };
  return { enabled: true, threshold: dropoutThreshold(d.p), seed: d.seed, keepScale: 1 / (1 - d.p) };
}

// ------------------------------------------------------------------------------------------- dispatch

function expectScale(op: string, scale: number): void {
  if (!Number.isFinite(scale)) throw new Error(`${op}: scale = ${scale} is not finite`);
}

/** out[p, j] (+)= scale · Σ_q drop(X)[p, q] W[q, j]; the layout flags are lora_reduce's overrides. */
interface ReduceCall {
  out: GpuTensor;
  X: GpuTensor;
  W: GpuTensor;
  P: number;
  Q: number;
  R: number;
  scale: number;
  xPQ: boolean;
  wJQ: boolean;
  outJP: boolean;
  accumulate: boolean;
  mask: MaskUniforms;
}

/** Rank quads per workgroup (NV): all of r up to 16, else r split evenly into chunks of at most 16. */
function rankQuads(r: number): number {
  return Math.ceil(Math.ceil(r / Math.ceil(r / 16)) / 4);
}

/** From this reduction length on, lora_reduce uses 256 threads (64 lanes) per workgroup instead of 64 (16). */
const LONG_REDUCTION = 2048;

function reduce(rt: GpuRuntime, op: string, c: ReduceCall): void {
  const nv = rankQuads(c.R);
  const workgroups: [number, number, number] = [ceilDiv(c.P, 16), ceilDiv(c.R, 4 * nv), 1];
  expectGrid(op, workgroups);
  rt.dispatch({
    name: op,
    shader,
    entryPoint: 'lora_reduce',
    constants: {
      X_PQ: +c.xPQ,
      W_JQ: +c.wJQ,
      OUT_JP: +c.outJP,
      ACCUMULATE: +c.accumulate,
      DROPOUT: +c.mask.enabled,
      NV: nv,
      WG: c.Q >= LONG_REDUCTION ? 256 : 64,
    },
    uniforms: [c.P, c.Q, c.R, f32(c.scale), c.mask.threshold, c.mask.seed, f32(c.mask.keepScale)],
    bindings: [rw(c.out), ro(c.X), ro(c.W)],
    workgroups,
  });
}

/** out[m, n] += scale · keep · Σ_j H[m, j] W(j, n), W = [N, r] (wJN false) or [r, N] (wJN true). */
function expand(rt: GpuRuntime, op: string, out: GpuTensor, H: GpuTensor, W: GpuTensor, M: number, N: number, R: number, scale: number, wJN: boolean, mask: MaskUniforms): void {
  const workgroups: [number, number, number] = [ceilDiv(N, 64), ceilDiv(M, 64), 1];
  expectGrid(op, workgroups);
  rt.dispatch({
    name: op,
    shader,
    entryPoint: 'lora_expand',
    constants: { W_JN: +wJN, DROPOUT: +mask.enabled },
    uniforms: [M, N, R, f32(scale), mask.threshold, mask.seed, f32(mask.keepScale)],
    bindings: [rw(out), ro(H), ro(W)],
    workgroups,
  });
}

// ------------------------------------------------------------------------------------------- ops

/** h = drop(x) Aᵀ: h [M, r] written. */
export function loraDown(rt: GpuRuntime, a: { h: GpuTensor; x: GpuTensor; A: GpuTensor; M: number; K: number; r: number; dropout?: LoraDropout }): void {
  const op = 'loraDown';
  const { M, K, r } = a;
  expectDims(op, { M, K, r });
  expectMatrix(op, 'h', a.h, M, r);
  expectMatrix(op, 'x', a.x, M, K);
  expectMatrix(op, 'A', a.A, r, K);
  expectIndexable(op, 'x', M, K);
  expectNoAlias(op, 'h', a.h, { x: a.x, A: a.A });
  const mask = maskUniforms(op, a.dropout);
  reduce(rt, op, { out: a.h, X: a.x, W: a.A, P: M, Q: K, R: r, scale: 1, xPQ: true, wJQ: true, outJP: false, accumulate: false, mask });
}

/** y += scale · h Bᵀ: y [M, N] accumulated. */
export function loraUp(rt: GpuRuntime, a: { y: GpuTensor; h: GpuTensor; B: GpuTensor; M: number; N: number; r: number; scale: number }): void {
  const op = 'loraUp';
  const { M, N, r } = a;
  expectDims(op, { M, N, r });
  expectScale(op, a.scale);
  expectMatrix(op, 'y', a.y, M, N);
  expectMatrix(op, 'h', a.h, M, r);
  expectMatrix(op, 'B', a.B, N, r);
  expectIndexable(op, 'y', M, N);
  expectNoAlias(op, 'y', a.y, { h: a.h, B: a.B });
  expand(rt, op, a.y, a.h, a.B, M, N, r, a.scale, false, maskUniforms(op, undefined));
}

/** dh = scale · dy B: dh [M, r] written. */
export function loraDh(rt: GpuRuntime, a: { dh: GpuTensor; dy: GpuTensor; B: GpuTensor; M: number; N: number; r: number; scale: number }): void {
  const op = 'loraDh';
  const { M, N, r } = a;
  expectDims(op, { M, N, r });
  expectScale(op, a.scale);
  expectMatrix(op, 'dh', a.dh, M, r);
  expectMatrix(op, 'dy', a.dy, M, N);
  expectMatrix(op, 'B', a.B, N, r);
  expectIndexable(op, 'dy', M, N);
  expectNoAlias(op, 'dh', a.dh, { dy: a.dy, B: a.B });
  reduce(rt, op, { out: a.dh, X: a.dy, W: a.B, P: M, Q: N, R: r, scale: a.scale, xPQ: true, wJQ: false, outJP: false, accumulate: false, mask: maskUniforms(op, undefined) });
}

/** dB += scale · dyᵀ h: dB [N, r] accumulated, reduced over M. */
export function loraGradB(rt: GpuRuntime, a: { dB: GpuTensor; dy: GpuTensor; h: GpuTensor; M: number; N: number; r: number; scale: number }): void {
  const op = 'loraGradB';
  const { M, N, r } = a;
  expectDims(op, { M, N, r });
  expectScale(op, a.scale);
  expectMatrix(op, 'dB', a.dB, N, r);
  expectMatrix(op, 'dy', a.dy, M, N);
  expectMatrix(op, 'h', a.h, M, r);
  expectIndexable(op, 'dy', M, N);
  expectNoAlias(op, 'dB', a.dB, { dy: a.dy, h: a.h });
  reduce(rt, op, { out: a.dB, X: a.dy, W: a.h, P: N, Q: M, R: r, scale: a.scale, xPQ: false, wJQ: false, outJP: false, accumulate: true, mask: maskUniforms(op, undefined) });
}

/** dA += dhᵀ drop(x): dA [r, K] accumulated, reduced over M, with loraDown's mask. */
export function loraGradA(rt: GpuRuntime, a: { dA: GpuTensor; dh: GpuTensor; x: GpuTensor; M: number; K: number; r: number; dropout?: LoraDropout }): void {
  const op = 'loraGradA';
  const { M, K, r } = a;
  expectDims(op, { M, K, r });
  expectMatrix(op, 'dA', a.dA, r, K);
  expectMatrix(op, 'dh', a.dh, M, r);
  expectMatrix(op, 'x', a.x, M, K);
  expectIndexable(op, 'x', M, K);
  expectNoAlias(op, 'dA', a.dA, { dh: a.dh, x: a.x });
  const mask = maskUniforms(op, a.dropout);
  reduce(rt, op, { out: a.dA, X: a.x, W: a.dh, P: K, Q: M, R: r, scale: 1, xPQ: false, wJQ: false, outJP: true, accumulate: true, mask });
}

/** dx += drop'(dh A), i.e. dx[m, k] += keep(m*K+k) / (1 - p) · Σ_j dh[m, j] A[j, k]: dx [M, K] accumulated. */
export function loraDx(rt: GpuRuntime, a: { dx: GpuTensor; dh: GpuTensor; A: GpuTensor; M: number; K: number; r: number; dropout?: LoraDropout }): void {
  const op = 'loraDx';
  const { M, K, r } = a;
  expectDims(op, { M, K, r });
  expectMatrix(op, 'dx', a.dx, M, K);
  expectMatrix(op, 'dh', a.dh, M, r);
  expectMatrix(op, 'A', a.A, r, K);
  expectIndexable(op, 'dx', M, K);
  expectNoAlias(op, 'dx', a.dx, { dh: a.dh, A: a.A });
  expand(rt, op, a.dx, a.dh, a.A, M, K, r, 1, true, maskUniforms(op, a.dropout));
}
