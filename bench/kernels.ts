/**
 * Kernel benchmarks: the tiled matmul against the one-thread-per-output baseline, and the skinny LoRA kernels
 * (forward + backward) against the same six products done with matmulNaive and with the tiled matmul. Every
 * number is GFLOPS measured in this run on this device; compare ratios, not absolute values, across devices.
 */
import { type LoraDropout, loraDh, loraDown, loraDx, loraGradA, loraGradB, loraUp } from '../src/gpu/ops/lora';
import { type MatmulArgs, matmul, matmulNaive } from '../src/gpu/ops/matmul';
import type { GpuRuntime } from '../src/gpu/runtime';
import type { GpuTensor } from '../src/gpu/tensor';

export interface BenchKernelsOptions {
  /** Multiplies every dimension (not the LoRA rank): 1 suits SwiftShader, 4-8 a real GPU. */
  scale?: number;
  /** Wall-clock seconds to spend timing each variant after its warm-up (default 1). */
  seconds?: number;
}

type MatmulOp = (rt: GpuRuntime, args: MatmulArgs) => void;

/**
 * Runs `step` once to compile and warm up, then times it: a single step when the warm-up alone took longer than
 * `seconds` (the naive baseline on a CPU fallback), else as many steps as fit in `seconds`, all recorded before
 * one `rt.idle()`. Returns seconds per step.
 */
async function timeIt(rt: GpuRuntime, step: () => void, seconds: number): Promise<number> {
  let t0 = performance.now();
  step();
  await rt.idle();
  const warmup = (performance.now() - t0) / 1000;
  let reps = 1;
  if (warmup < seconds) {
    t0 = performance.now();
    step();
    await rt.idle();
    const estimate = (performance.now() - t0) / 1000;
    reps = Math.max(1, Math.min(200, Math.floor(seconds / Math.max(estimate, 1e-6))));
  }
  t0 = performance.now();
  for (let i = 0; i < reps; i++) step();
  await rt.idle();
  return (performance.now() - t0) / 1000 / reps;
}

function gflops(flops: number, secondsPerStep: number): string {
  return (flops / secondsPerStep / 1e9).toFixed(3).padStart(9);
}

function randomData(n: number, seed: number): Float32Array {
  // A cheap LCG: the values only need to be finite and varied, and generating them must not dominate the bench.
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

interface MatmulShape {
  name: string;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
}

async function benchMatmul(rt: GpuRuntime, log: (line: string) => void, s: MatmulShape, seconds: number): Promise<void> {
  const { M, N, K } = s;
  const a = rt.upload('bench a', s.transA ? [K, M] : [M, K], randomData(M * K, 1));
  const b = rt.upload('bench b', s.transB ? [N, K] : [K, N], randomData(K * N, 2));
  const out = rt.tensor('bench out', [M, N]);
  const args: MatmulArgs = { out, a, b, M, N, K, transA: s.transA, transB: s.transB };
  const flops = 2 * M * N * K;
  const time = async (op: MatmulOp): Promise<number> => timeIt(rt, () => op(rt, args), seconds);
  const tiled = await time(matmul);
  const naive = await time(matmulNaive);
  log(`matmul ${s.name.padEnd(34)} tiled ${gflops(flops, tiled)} GFLOPS  naive ${gflops(flops, naive)} GFLOPS  tiled/naive ${(naive / tiled).toFixed(2)}x`);
  for (const t of [a, b, out]) rt.release(t);
}

interface LoraShape {
  M: number;
  N: number;
  K: number;
  r: number;
}

async function benchLora(rt: GpuRuntime, log: (line: string) => void, d: LoraShape, seconds: number): Promise<void> {
  const { M, N, K, r } = d;
  const scale = 2;
  const dropout: LoraDropout | undefined = undefined; // matmul has no mask; keep the work identical
  const t: Record<string, GpuTensor> = {};
  const shapes: Record<string, [number, number]> = {
    x: [M, K], A: [r, K], B: [N, r], h: [M, r], y: [M, N], dy: [M, N], dh: [M, r], dB: [N, r], dA: [r, K], dx: [M, K],
  };
  Object.entries(shapes).forEach(([name, shape], i) => {
    t[name] = rt.upload(`bench ${name}`, shape, randomData(shape[0] * shape[1], 10 + i));
  });
  const skinny = (): void => {
    loraDown(rt, { h: t.h, x: t.x, A: t.A, M, K, r, dropout });
    loraUp(rt, { y: t.y, h: t.h, B: t.B, M, N, r, scale });
    loraDh(rt, { dh: t.dh, dy: t.dy, B: t.B, M, N, r, scale });
    loraGradB(rt, { dB: t.dB, dy: t.dy, h: t.h, M, N, r, scale });
    loraGradA(rt, { dA: t.dA, dh: t.dh, x: t.x, M, K, r, dropout });
    loraDx(rt, { dx: t.dx, dh: t.dh, A: t.A, M, K, r, dropout });
  };
  // The same six products through a general matmul.
  const viaMatmul = (op: MatmulOp) => (): void => {
    op(rt, { out: t.h, a: t.x, b: t.A, M, N: r, K, transB: true });
    op(rt, { out: t.y, a: t.h, b: t.B, M, N, K: r, transB: true, accumulate: true, alpha: scale });
    op(rt, { out: t.dh, a: t.dy, b: t.B, M, N: r, K: N, alpha: scale });
    op(rt, { out: t.dB, a: t.dy, b: t.h, M: N, N: r, K: M, transA: true, accumulate: true, alpha: scale });
    op(rt, { out: t.dA, a: t.dh, b: t.x, M: r, N: K, K: M, transA: true, accumulate: true });
    op(rt, { out: t.dx, a: t.dh, b: t.A, M, N: K, K: r, accumulate: true });
  };
  const flops = 6 * M * r * (K + N);
  const lora = await timeIt(rt, skinny, seconds);
  const naive = await timeIt(rt, viaMatmul(matmulNaive), seconds);
  const tiled = await timeIt(rt, viaMatmul(matmul), seconds);
  const name = `M=${M} K=${K} N=${N} r=${r}`;
  log(`lora fwd+bwd ${name.padEnd(28)} skinny ${gflops(flops, lora)} GFLOPS  naive ${gflops(flops, naive)} GFLOPS  tiled/naive ${(naive / lora).toFixed(2)}x`);
  log(`lora fwd+bwd ${name.padEnd(28)} (same six products with the tiled matmul: ${gflops(flops, tiled).trim()} GFLOPS, skinny/tiled-matmul ${(tiled / lora).toFixed(2)}x)`);
  for (const v of Object.values(t)) rt.release(v);
}

export async function benchKernels(rt: GpuRuntime, log: (line: string) => void, options: BenchKernelsOptions = {}): Promise<void> {
  const s = options.scale ?? 1;
  const seconds = options.seconds ?? 1;
  if (!(s > 0)) throw new Error(`benchKernels: scale = ${s} must be positive`);
  const d = (n: number): number => Math.max(1, Math.round(n * s));
  const shapes: MatmulShape[] = [
    { name: `${d(256)}x${d(256)}x${d(256)}`, M: d(256), N: d(256), K: d(256) },
    { name: `${d(512)}x${d(768)}x${d(768)} x Wt (Linear fwd)`, M: d(512), N: d(768), K: d(768), transB: true },
    { name: `${d(384)}x${d(384)}x${d(512)} dyt x (weight grad)`, M: d(384), N: d(384), K: d(512), transA: true },
    { name: `1x${d(8192)}x${d(768)} LM head, one token`, M: 1, N: d(8192), K: d(768), transB: true },
  ];
  for (const shape of shapes) await benchMatmul(rt, log, shape, seconds);
  await benchLora(rt, log, { M: d(512), N: d(768), K: d(768), r: 8 }, seconds);
}
