import { describe, expect, it } from 'vitest';
import { dropoutKeep } from '../../src/gpu/ops/lora';
import { type CoreKind, FactoredLayer, foldCore } from '../../src/methods/lowrank/factored';
import { view } from '../../src/gpu/tensor';
import type { LinearSpec } from '../../src/model/spec';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';

interface Case {
  name: string;
  M: number;
  K: number;
  N: number;
  k: number;
  core: CoreKind;
  trainable: { A: boolean; core: boolean; B: boolean };
  dropout: number;
  /** Run a smaller forward first, so the main pass grows the layer's scratch buffers. */
  warmRows?: number;
}

const spec = (K: number, N: number): LinearSpec => ({
  name: 'q_proj',
  modulePath: 'model.layers.0.self_attn.q_proj',
  weightName: 'model.layers.0.self_attn.q_proj.weight',
  inFeatures: K,
  outFeatures: N,
  layout: 'out_in',
});

/** The core as a dense [k, k] matrix C with ΔW = s · B C A. */
function denseCore(kind: CoreKind, core: Float32Array | undefined, k: number): Float64Array {
  const C = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      if (kind === 'square' && core) C[i * k + j] = core[i * k + j];
      else if (i === j) C[i * k + j] = kind === 'diag' && core ? core[i] : 1;
    }
  }
  return C;
}

/**
 * float64 reference of y += s · drop(x) Aᵀ Cᵀ Bᵀ and its backward, written with the dense core:
 * u = drop(x) Aᵀ, v = u Cᵀ, y += s v Bᵀ; g = s dy B; dB += s dyᵀ v; dC += gᵀ u; gu = g C; dA += guᵀ drop(x);
 * dx += drop'(gu A).
 */
function reference(c: Case, t: Record<string, Float32Array>, scale: number, mask: (m: number, q: number) => number): Record<string, Float64Array> {
  const { M, K, N, k } = c;
  const C = denseCore(c.core, t.core, k);
  const xd = (m: number, q: number): number => mask(m, q) * t.x[m * K + q];
  const u = new Float64Array(M * k);
  const v = new Float64Array(M * k);
  const g = new Float64Array(M * k);
  const gu = new Float64Array(M * k);
  for (let m = 0; m < M; m++) {
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let q = 0; q < K; q++) s += xd(m, q) * t.A[j * K + q];
      u[m * k + j] = s;
      let gs = 0;
      for (let n = 0; n < N; n++) gs += t.dy[m * N + n] * t.B[n * k + j];
      g[m * k + j] = scale * gs;
    }
    for (let a = 0; a < k; a++) {
      let s = 0;
      let sg = 0;
      for (let b = 0; b < k; b++) {
        s += u[m * k + b] * C[a * k + b];
        sg += g[m * k + b] * C[b * k + a];
      }
      v[m * k + a] = s;
      gu[m * k + a] = sg;
    }
  }
  const y = Float64Array.from(t.y0);
  const dx = Float64Array.from(t.dx0);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += v[m * k + j] * t.B[n * k + j];
      y[m * N + n] += scale * s;
    }
    for (let q = 0; q < K; q++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += gu[m * k + j] * t.A[j * K + q];
      dx[m * K + q] += mask(m, q) * s;
    }
  }
  const dB = new Float64Array(N * k);
  const dA = new Float64Array(k * K);
  const dC = new Float64Array(k * k);
  for (let j = 0; j < k; j++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += t.dy[m * N + n] * v[m * k + j];
      dB[n * k + j] = scale * s;
    }
    for (let q = 0; q < K; q++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += gu[m * k + j] * xd(m, q);
      dA[j * K + q] = s;
    }
    for (let b = 0; b < k; b++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += g[m * k + j] * u[m * k + b];
      dC[j * k + b] = s;
    }
  }
  const dCore = c.core === 'diag' ? Float64Array.from({ length: k }, (_, j) => dC[j * k + j]) : dC;
  return { y, dx, dA, dB, dCore };
}

async function runCase(c: Case, seed: number): Promise<void> {
  const rt = await gpuRuntime();
  const { M, K, N, k } = c;
  const scale = 0.8;
  const coreLen = c.core === 'diag' ? k : c.core === 'square' ? k * k : 0;
  const t: Record<string, Float32Array> = {
    x: randomArray(M * K, seed),
    A: randomArray(k * K, seed + 1),
    B: randomArray(N * k, seed + 2),
    dy: randomArray(M * N, seed + 3),
    y0: randomArray(M * N, seed + 4),
    dx0: randomArray(M * K, seed + 5),
  };
  if (coreLen > 0) t.core = randomArray(coreLen, seed + 6, 1.5);
  const salt = 7;
  const layer = new FactoredLayer(rt, {
    linear: spec(K, N), k, core: c.core, scale, dropout: c.dropout, salt,
    init: { A: t.A, B: t.B, core: t.core },
    trainable: c.trainable,
    names: { A: 'a.key', B: 'b.key', core: 'core.key' },
    decay: { core: false },
  });
  const ctx = { training: true, seed: 4242 };
  const x = rt.upload('x', [M, K], t.x);
  const y = rt.upload('y', [M, N], t.y0);
  const dy = rt.upload('dy', [M, N], t.dy);
  const dx = rt.upload('dx', [M, K], t.dx0);
  if (c.warmRows) {
    const junk = rt.tensor('junk y', [c.warmRows, N]);
    layer.forward(rt, view(x, [c.warmRows, K]), junk, c.warmRows, ctx);
    await rt.read(junk);
  }
  layer.forward(rt, x, y, M, ctx);
  layer.backward(rt, x, dy, dx, M, ctx);
  const maskSeed = (ctx.seed ^ Math.imul(salt, 0x9e3779b1)) >>> 0;
  const mask = (m: number, q: number): number => (c.dropout > 0 ? (dropoutKeep(maskSeed, m * K + q, c.dropout) ? 1 / (1 - c.dropout) : 0) : 1);
  const want = reference(c, t, scale, mask);
  const check = (what: string, got: Float32Array, exp: Float64Array): void => {
    const e = maxRelError(got, exp);
    expect(e, `${c.name}: ${what} error ${e}`).toBeLessThan(2e-5);
  };
  check('y', await rt.read(y), want.y);
  check('dx', await rt.read(dx), want.dx);
  const params = layer.params();
  const expected = (['A', 'core', 'B'] as const).filter((f) => c.trainable[f] && (f !== 'core' || c.core !== 'none'));
  expect(params.map((p) => p.name)).toEqual(expected.map((f) => `${f === 'core' ? 'core' : f.toLowerCase()}.key`));
  for (const p of params) expect(p.decay).toBe(p.name !== 'core.key');
  for (const f of ['A', 'core', 'B'] as const) {
    const grad = layer.grad(f);
    expect(grad !== undefined, `${c.name}: grad ${f}`).toBe(expected.includes(f));
    if (grad) check(`d${f}`, await rt.read(grad), f === 'A' ? want.dA : f === 'B' ? want.dB : want.dCore);
  }
  const counts = { A: k * K, core: coreLen, B: N * k };
  expect(layer.parameterCount()).toBe(expected.reduce((s, f) => s + counts[f], 0));
  // product(): s · B core as [out, k] and A, i.e. ΔW = s · B core A.
  const prod = await layer.product(rt);
  const C = denseCore(c.core, t.core, k);
  const Bc = new Float64Array(N * k);
  for (let n = 0; n < N; n++) for (let j = 0; j < k; j++) for (let i = 0; i < k; i++) Bc[n * k + j] += scale * t.B[n * k + i] * C[i * k + j];
  check('product B', prod.B, Bc);
  expect(Array.from(prod.A)).toEqual(Array.from(t.A));
  layer.release(rt);
  for (const tensor of [x, y, dy, dx]) rt.release(tensor);
  expect(() => layer.forward(rt, x, y, M, ctx)).toThrow(/after release/);
}

describe('FactoredLayer vs float64', () => {
  const all = { A: true, core: true, B: true };
  const cases: Case[] = [
    { name: 'no core, A and B trainable', M: 23, K: 19, N: 13, k: 3, core: 'none', trainable: all, dropout: 0 },
    { name: 'diag core only trainable (SVFit)', M: 37, K: 21, N: 17, k: 5, core: 'diag', trainable: { A: false, core: true, B: false }, dropout: 0 },
    { name: 'all trainable diag (SORSA) with dropout', M: 29, K: 25, N: 11, k: 6, core: 'diag', trainable: all, dropout: 0.3, warmRows: 5 },
    { name: 'square core only trainable (LoRA-XS) with dropout', M: 31, K: 27, N: 15, k: 4, core: 'square', trainable: { A: false, core: true, B: false }, dropout: 0.2, warmRows: 3 },
    { name: 'square core, B trainable, A and core frozen', M: 9, K: 13, N: 21, k: 7, core: 'square', trainable: { A: false, core: false, B: true }, dropout: 0 },
    { name: 'square core, A trainable only, one token', M: 1, K: 17, N: 9, k: 3, core: 'square', trainable: { A: true, core: false, B: false }, dropout: 0 },
  ];
  cases.forEach((c, i) => {
    it(c.name, async () => {
      await runCase(c, 100 * (i + 1));
    });
  });

  it('foldCore matches s · B core for each kind', () => {
    const B = new Float32Array([1, 2, 3, 4]);
    expect(Array.from(foldCore(B, undefined, 'none', 2, 2, 2))).toEqual([2, 4, 6, 8]);
    expect(Array.from(foldCore(B, new Float32Array([10, 100]), 'diag', 2, 2, 1))).toEqual([10, 200, 30, 400]);
    expect(Array.from(foldCore(B, new Float32Array([0, 1, 1, 0]), 'square', 2, 2, 1))).toEqual([2, 1, 4, 3]);
  });

  it('rejects wrong initial shapes', async () => {
    const rt = await gpuRuntime();
    const base = { linear: spec(5, 4), k: 2, scale: 1, dropout: 0, salt: 1, trainable: { A: true, core: true, B: true }, names: { A: 'a', B: 'b', core: 'c' } };
    expect(() => new FactoredLayer(rt, { ...base, core: 'none', init: { A: new Float32Array(9), B: new Float32Array(8) } })).toThrow(/initial A has 9 values, expected \[2, 5\]/);
    expect(() => new FactoredLayer(rt, { ...base, core: 'square', init: { A: new Float32Array(10), B: new Float32Array(8), core: new Float32Array(2) } })).toThrow(/initial core has 2 values, expected \[2, 2\]/);
  });
});
