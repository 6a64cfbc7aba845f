import { describe, expect, it } from 'vitest';
import { type LoraDropout, dropoutKeep, loraDh, loraDown, loraDx, loraGradA, loraGradB, loraUp } from '../../src/gpu/ops/lora';
import type { GpuRuntime } from '../../src/gpu/runtime';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';

interface Dims {
  M: number;
  N: number;
  K: number;
  r: number;
}

/** The float64 mask multiplier of x[m, k]: 0 or 1 / (1 - p), regenerated through the exported hash. */
function maskOf(d: Dims, drop: LoraDropout | undefined): (m: number, k: number) => number {
  if (!drop || drop.p === 0) return () => 1;
  return (m, k) => (dropoutKeep(drop.seed, m * d.K + k, drop.p) ? 1 / (1 - drop.p) : 0);
}

/** float64 reference of the whole LoRA forward + backward. */
function reference(d: Dims, t: Record<string, Float32Array>, scale: number, drop?: LoraDropout): Record<string, Float64Array> {
  const { M, N, K, r } = d;
  const mask = maskOf(d, drop);
  const h = new Float64Array(M * r);
  const y = Float64Array.from(t.y0);
  const dh = new Float64Array(M * r);
  const dB = Float64Array.from(t.dB0);
  const dA = Float64Array.from(t.dA0);
  const dx = Float64Array.from(t.dx0);
  for (let m = 0; m < M; m++) {
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += mask(m, k) * t.x[m * K + k] * t.A[j * K + k];
      h[m * r + j] = s;
      let g = 0;
      for (let n = 0; n < N; n++) g += t.dy[m * N + n] * t.B[n * r + j];
      dh[m * r + j] = scale * g;
    }
  }
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let j = 0; j < r; j++) s += t.h[m * r + j] * t.B[n * r + j];
      y[m * N + n] += scale * s;
    }
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let j = 0; j < r; j++) s += t.dh[m * r + j] * t.A[j * K + k];
      dx[m * K + k] += mask(m, k) * s;
    }
  }
  for (let j = 0; j < r; j++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += t.dy[m * N + n] * t.h[m * r + j];
      dB[n * r + j] += scale * s;
    }
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += t.dh[m * r + j] * mask(m, k) * t.x[m * K + k];
      dA[j * K + k] += s;
    }
  }
  return { h, y, dh, dB, dA, dx };
}

/**
 * Runs all six kernels on random inputs. Each kernel gets independent random inputs for h / dh (rather than the
 * previous kernel's output) so every check isolates one kernel; accumulating outputs start non-zero.
 */
async function runAll(d: Dims, seed: number, scale: number, dropout?: LoraDropout): Promise<Record<string, number>> {
  const rt = await gpuRuntime();
  const { M, N, K, r } = d;
  const shapes: Record<string, [number, number]> = {
    x: [M, K], A: [r, K], B: [N, r], h: [M, r], dh: [M, r], dy: [M, N], y0: [M, N], dB0: [N, r], dA0: [r, K], dx0: [M, K],
  };
  const host: Record<string, Float32Array> = {};
  const dev: Record<string, ReturnType<GpuRuntime['tensor']>> = {};
  Object.entries(shapes).forEach(([name, shape], i) => {
    host[name] = randomArray(shape[0] * shape[1], seed * 100 + i);
    dev[name] = rt.upload(name, shape, host[name]);
  });
  const hOut = rt.tensor('h_out', [M, r]);
  const dhOut = rt.tensor('dh_out', [M, r]);
  loraDown(rt, { h: hOut, x: dev.x, A: dev.A, M, K, r, dropout });
  loraUp(rt, { y: dev.y0, h: dev.h, B: dev.B, M, N, r, scale });
  loraDh(rt, { dh: dhOut, dy: dev.dy, B: dev.B, M, N, r, scale });
  loraGradB(rt, { dB: dev.dB0, dy: dev.dy, h: dev.h, M, N, r, scale });
  loraGradA(rt, { dA: dev.dA0, dh: dev.dh, x: dev.x, M, K, r, dropout });
  loraDx(rt, { dx: dev.dx0, dh: dev.dh, A: dev.A, M, K, r, dropout });
  const got = {
    h: await rt.read(hOut), y: await rt.read(dev.y0), dh: await rt.read(dhOut),
    dB: await rt.read(dev.dB0), dA: await rt.read(dev.dA0), dx: await rt.read(dev.dx0),
  };
  for (const t of [...Object.values(dev), hOut, dhOut]) rt.release(t);
  const want = reference(d, host, scale, dropout);
  const err: Record<string, number> = {};
  for (const k of Object.keys(got) as (keyof typeof got)[]) err[k] = maxRelError(got[k], want[k]);
  return err;
}

function expectAllBelow(err: Record<string, number>, tol: number): void {
  for (const [k, e] of Object.entries(err)) expect(e, `${k} error ${e}`).toBeLessThan(tol);
}

describe('lora kernels', () => {
  const cases: [string, Dims][] = [
    ['odd shapes, r = 3', { M: 37, N: 29, K: 53, r: 3 }],
    ['one token, r = 8', { M: 1, N: 29, K: 53, r: 8 }],
    ['K = 1, r = 1', { M: 37, N: 29, K: 1, r: 1 }],
    ['several tiles in every dimension, r = 8', { M: 131, N: 70, K: 67, r: 8 }],
    ['r = 16 (four rank quads in one workgroup)', { M: 40, N: 33, K: 35, r: 16 }],
    ['r = 20 (two rank chunks of 12, the last quad past r)', { M: 23, N: 19, K: 41, r: 20 }],
    ['r = 64 (four rank chunks)', { M: 17, N: 21, K: 18, r: 64 }],
  ];
  for (const [name, d] of cases) {
    it(`match float64 on ${name} (M=${d.M} N=${d.N} K=${d.K})`, async () => {
      expectAllBelow(await runAll(d, d.M + d.r, 0.625), 1e-5);
    });
  }

  it('long reductions over M (gradients) and K (down) take the 256-thread variant', async () => {
    expectAllBelow(await runAll({ M: 2100, N: 9, K: 2050, r: 5 }, 7, 2), 1e-5);
  });

  it('dropout: down, gradA and dx all use the mask dropoutKeep regenerates', async () => {
    expectAllBelow(await runAll({ M: 37, N: 29, K: 53, r: 3 }, 3, 0.5, { p: 0.3, seed: 12345 }), 1e-5);
    expectAllBelow(await runAll({ M: 70, N: 9, K: 66, r: 8 }, 4, 1, { p: 0.9, seed: 0xfffffff0 }), 1e-5);
  });

  it('dropout p = 0 is exactly no dropout', async () => {
    expectAllBelow(await runAll({ M: 19, N: 11, K: 23, r: 2 }, 5, 1, { p: 0, seed: 99 }), 1e-5);
  });

  it('the GPU mask equals dropoutKeep element for element', async () => {
    const rt = await gpuRuntime();
    const [M, K, p, seed] = [45, 77, 0.25, 2024];
    const dx = rt.tensor('dx', [M, K]);
    // dh = 1, A = 1 with r = 1: dx[m, k] becomes exactly keep(m*K + k) / (1 - p).
    loraDx(rt, { dx, dh: rt.upload('dh', [M, 1], new Float32Array(M).fill(1)), A: rt.upload('A', [1, K], new Float32Array(K).fill(1)), M, K, r: 1, dropout: { p, seed } });
    const got = await rt.read(dx);
    const want = Float32Array.from({ length: M * K }, (_, i) => (dropoutKeep(seed, i, p) ? Math.fround(1 / (1 - p)) : 0));
    expect(Array.from(got)).toEqual(Array.from(want));
    const dropped = want.filter((v) => v === 0).length / want.length;
    expect(dropped).toBeGreaterThan(0.2);
    expect(dropped).toBeLessThan(0.3);
  });

  it('dropoutKeep keeps about 1 - p, and different seeds give different masks', () => {
    const n = 100_000;
    let kept = 0;
    let same = 0;
    for (let i = 0; i < n; i++) {
      const a = dropoutKeep(1, i, 0.1);
      if (a) kept++;
      if (a === dropoutKeep(2, i, 0.1)) same++;
    }
    expect(kept / n).toBeGreaterThan(0.895);
    expect(kept / n).toBeLessThan(0.905);
    // Independent masks agree on 0.9² + 0.1² = 82% of elements.
    expect(same / n).toBeGreaterThan(0.81);
    expect(same / n).toBeLessThan(0.83);
  });
});

describe('lora validation', () => {
  it('rejects inconsistent shapes, aliasing and bad dropout', async () => {
    const rt = await gpuRuntime();
    const [M, N, K, r] = [4, 5, 6, 2];
    const x = rt.tensor('x', [M, K]);
    const A = rt.tensor('A', [r, K]);
    const B = rt.tensor('B', [N, r]);
    const h = rt.tensor('h', [M, r]);
    const y = rt.tensor('y', [M, N]);
    expect(() => loraDown(rt, { h, x, A: B, M, K, r })).toThrow(/loraDown: A \(B\) has shape \[5, 2\], expected \[2, 6\]/);
    expect(() => loraDown(rt, { h, x, A, M, K: 7, r })).toThrow(/loraDown: x \(x\) has shape \[4, 6\], expected \[4, 7\]/);
    expect(() => loraUp(rt, { y, h, B: A, M, N, r, scale: 1 })).toThrow(/loraUp: B \(A\) has shape \[2, 6\], expected \[5, 2\]/);
    expect(() => loraUp(rt, { y, h, B, M, N, r, scale: Number.POSITIVE_INFINITY })).toThrow(/loraUp: scale/);
    expect(() => loraDh(rt, { dh: y, dy: y, B, M, N, r, scale: 1 })).toThrow(/loraDh: dh \(y\) has shape \[4, 5\], expected \[4, 2\]/);
    expect(() => loraGradB(rt, { dB: rt.tensor('dB', [r, N]), dy: y, h, M, N, r, scale: 1 })).toThrow(/loraGradB: dB \(dB\) has shape \[2, 5\], expected \[5, 2\]/);
    expect(() => loraGradA(rt, { dA: rt.tensor('dA', [K, r]), dh: h, x, M, K, r })).toThrow(/loraGradA: dA \(dA\) has shape \[6, 2\], expected \[2, 6\]/);
    expect(() => loraDx(rt, { dx: x, dh: h, A, M, K, r: 0 })).toThrow(/loraDx: r = 0 must be a positive integer/);
    expect(() => loraDx(rt, { dx: x, dh: h, A, M, K, r, dropout: { p: 1, seed: 1 } })).toThrow(/loraDx: dropout p = 1 must be in \[0, 1\)/);
    expect(() => loraDown(rt, { h, x, A, M, K, r, dropout: { p: 0.1, seed: -1 } })).toThrow(/seed = -1 must be a u32/);
    const sq = rt.tensor('sq', [M, M]);
    expect(() => loraUp(rt, { y: sq, h: sq, B: rt.tensor('B4', [M, M]), M, N: M, r: M, scale: 1 })).toThrow(/loraUp: y \(sq\) must not be the same buffer as h/);
    await rt.idle();
  });
});
