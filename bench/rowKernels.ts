/**
 * Row-kernel benchmarks at the shapes a LoRA step on stories260K uses (hidden 64, 8 heads of 8, MLP 172,
 * vocabulary 512, 128 tokens per micro-batch): norms, cross-entropy, SwiGLU, RoPE, AdamW and the gradient-norm
 * reduction. On SwiftShader these launch-bound kernels, not the matmuls, dominate a tiny model's step. Prints
 * milliseconds per call: each op is warmed up, then timed over `reps` calls recorded between two `rt.idle()`s
 * (best of `trials` such runs, to shed noise from other processes on the machine).
 */
import { swigluBackward, swigluForward } from '../src/gpu/ops/activation';
import { crossEntropy } from '../src/gpu/ops/cross_entropy';
import { layernormBackward, layernormForward, rmsnormBackward, rmsnormForward } from '../src/gpu/ops/norm';
import { adamw, clipScale } from '../src/gpu/ops/optimizer';
import { sumInto, sumSquaresInto } from '../src/gpu/ops/reduce';
import { ropeApply, ropeTables } from '../src/gpu/ops/rope';
import type { GpuRuntime } from '../src/gpu/runtime';
import type { GpuTensor } from '../src/gpu/tensor';

/** The ops timed; a different implementation (e.g. an older copy) can be passed in to compare in one process. */
export interface RowKernelOps {
  rmsnormForward: typeof rmsnormForward;
  rmsnormBackward: typeof rmsnormBackward;
  layernormForward: typeof layernormForward;
  layernormBackward: typeof layernormBackward;
  crossEntropy: typeof crossEntropy;
  swigluForward: typeof swigluForward;
  swigluBackward: typeof swigluBackward;
  ropeApply: typeof ropeApply;
  adamw: typeof adamw;
  clipScale: typeof clipScale;
  sumInto: typeof sumInto;
  sumSquaresInto: typeof sumSquaresInto;
}

export const rowKernelOps: RowKernelOps = {
  rmsnormForward, rmsnormBackward, layernormForward, layernormBackward, crossEntropy, swigluForward, swigluBackward,
  ropeApply, adamw, clipScale, sumInto, sumSquaresInto,
};

export interface RowKernelTiming {
  name: string;
  /** Milliseconds per call (best of the trials). */
  ms: number;
}

export interface RowKernelBenchOptions {
  ops?: RowKernelOps;
  /** Calls per timed run (default 20). */
  reps?: number;
  /** Timed runs per op; the fastest counts (default 3). */
  trials?: number;
}

function randomData(n: number, seed: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296 - 0.5) * 2 * scale;
  }
  return a;
}

async function timeOp(rt: GpuRuntime, step: () => void, reps: number, trials: number): Promise<number> {
  step();
  step();
  await rt.idle();
  let best = Infinity;
  for (let t = 0; t < trials; t++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) step();
    await rt.idle();
    best = Math.min(best, (performance.now() - t0) / reps);
  }
  return best;
}

/** Times every op and returns ms per call, without logging. */
export async function measureRowKernels(rt: GpuRuntime, options: RowKernelBenchOptions = {}): Promise<RowKernelTiming[]> {
  const ops = options.ops ?? rowKernelOps;
  const reps = options.reps ?? 20;
  const trials = options.trials ?? 3;
  const owned: GpuTensor[] = [];
  const up = (label: string, shape: number[], seed: number, scale = 1): GpuTensor => {
    const t = rt.upload(label, shape, randomData(shape.reduce((a, b) => a * b, 1), seed, scale));
    owned.push(t);
    return t;
  };
  const zeros = (label: string, shape: number[]): GpuTensor => {
    const t = rt.tensor(label, shape);
    owned.push(t);
    return t;
  };
  const results: RowKernelTiming[] = [];
  const time = async (name: string, step: () => void): Promise<void> => {
    results.push({ name, ms: await timeOp(rt, step, reps, trials) });
  };

  // Norms: M = 128 tokens, C = 64 hidden.
  {
    const [M, C] = [128, 64];
    const x = up('x', [M, C], 1, 2);
    const w = up('w', [C], 2);
    const b = up('b', [C], 3);
    const dout = up('dout', [M, C], 4);
    const out = zeros('out', [M, C]);
    const dx = zeros('dx', [M, C]);
    const dw = zeros('dw', [C]);
    const db = zeros('db', [C]);
    const mean = zeros('mean', [M]);
    const rstd = zeros('rstd', [M]);
    ops.rmsnormForward(rt, { out, rstd, x, weight: w, M, C, eps: 1e-5 });
    await time(`rmsnorm fwd M=${M} C=${C}`, () => ops.rmsnormForward(rt, { out, rstd, x, weight: w, M, C, eps: 1e-5 }));
    await time(`rmsnorm bwd M=${M} C=${C}`, () => ops.rmsnormBackward(rt, { dx, dout, x, rstd, weight: w, M, C }));
    await time(`rmsnorm bwd+dweight M=${M} C=${C}`, () => ops.rmsnormBackward(rt, { dx, dweight: dw, dout, x, rstd, weight: w, M, C }));
    ops.layernormForward(rt, { out, mean, rstd, x, weight: w, bias: b, M, C, eps: 1e-5 });
    await time(`layernorm fwd M=${M} C=${C}`, () => ops.layernormForward(rt, { out, mean, rstd, x, weight: w, bias: b, M, C, eps: 1e-5 }));
    await time(`layernorm bwd M=${M} C=${C}`, () => ops.layernormBackward(rt, { dx, dout, x, mean, rstd, weight: w, M, C }));
    await time(`layernorm bwd+dw+db M=${M} C=${C}`, () => ops.layernormBackward(rt, { dx, dweight: dw, dbias: db, dout, x, mean, rstd, weight: w, M, C }));
  }

  // Cross-entropy with the fused gradient (separate dlogits, as the engine runs it).
  for (const V of [512, 32000]) {
    const M = 128;
    const logits = up(`logits ${V}`, [M, V], 5, 4);
    const dlogits = zeros(`dlogits ${V}`, [M, V]);
    const losses = zeros('losses', [M]);
    const tg = new Int32Array(M);
    for (let m = 0; m < M; m++) tg[m] = m % 17 === 3 ? -100 : (m * 7919) % V;
    const targets = rt.upload('targets', [M], tg);
    owned.push(targets);
    await time(`crossEntropy M=${M} V=${V}`, () => ops.crossEntropy(rt, { losses, dlogits, logits, targets, M, V, gradScale: 1 / M }));
    if (V === 512) {
      const total = zeros('loss total', [2]);
      await time(`sumInto n=${M}`, () => ops.sumInto(rt, { out: total, index: 0, x: losses, n: M, scale: 1 / M, accumulate: true }));
    }
  }

  // SwiGLU: M = 128 rows x 172 intermediate.
  {
    const n = 128 * 172;
    const gate = up('gate', [n], 6, 3);
    const upT = up('up', [n], 7);
    const dout = up('dact', [n], 8);
    const out = zeros('act', [n]);
    const dgate = zeros('dgate', [n]);
    const dup = zeros('dup', [n]);
    await time(`swiglu fwd n=${n}`, () => ops.swigluForward(rt, { out, gate, up: upT, n }));
    await time(`swiglu bwd n=${n}`, () => ops.swigluBackward(rt, { dgate, dup, dout, gate, up: upT, n }));
  }

  // RoPE: 128 rows (batch 2 x T 64), 8 heads of 8.
  {
    const [rows, T, nHeads, headDim] = [128, 64, 8, 8];
    const tables = ropeTables(10000, headDim, T);
    const cos = rt.upload('cos', [T, headDim / 2], tables.cos);
    const sin = rt.upload('sin', [T, headDim / 2], tables.sin);
    owned.push(cos, sin);
    const x = up('q', [rows, nHeads * headDim], 9);
    await time(`rope rows=${rows} heads=${nHeads} hd=${headDim}`, () => ops.ropeApply(rt, { x, cos, sin, rows, T, nHeads, headDim, positionOffset: 0 }));
  }

  // Optimizer: sum of squared grads, clip factor, AdamW with the clip factor.
  {
    const n = 5000;
    const param = up('param', [n], 10);
    const grad = up('grad', [n], 11, 0.01);
    const m = zeros('m', [n]);
    const v = zeros('v', [n]);
    const stats = zeros('stats', [2]);
    let step = 0;
    await time(`sumSquaresInto n=${n}`, () => ops.sumSquaresInto(rt, { out: stats, index: 0, x: grad, n, accumulate: false }));
    await time(`adamw(scaled) n=${n}`, () =>
      ops.adamw(rt, { param, grad, m, v, n, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: ++step, gradScale: stats }),
    );
    // What the engine's optimizer records for 40 LoRA tensors of 512 elements (r 8 x 64): the launch-bound case.
    const grads = Array.from({ length: 40 }, (_, i) => up(`g${i}`, [8, 64], 100 + i, 0.01));
    await time('optimizer 40 x sumSquaresInto(n=512) + clipScale', () => {
      grads.forEach((g, i) => ops.sumSquaresInto(rt, { out: stats, index: 0, x: g, n: 512, accumulate: i > 0 }));
      ops.clipScale(rt, { stats, maxNorm: 1 });
    });
  }

  for (const t of owned) rt.release(t);
  return results;
}

export async function benchRowKernels(rt: GpuRuntime, log: (s: string) => void, options: RowKernelBenchOptions = {}): Promise<void> {
  for (const r of await measureRowKernels(rt, options)) log(`${r.name.padEnd(52)} ${r.ms.toFixed(3).padStart(9)} ms`);
}
