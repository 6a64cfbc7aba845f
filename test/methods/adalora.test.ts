/**
 * AdaLoRA against float64 re-implementations of PEFT (peft/tuners/adalora): the SVDLinear forward/backward with
 * scaling lora_alpha / (init_r + 1e-5); the orthogonal regulariser's gradient (non-squared Frobenius norms
 * averaged over 2 × #layers matrices, checked against finite differences too); the RankAllocator over a whole
 * schedule (EMAs, triplet scores, cubic budget, masks, the final fixed mask); and the export: a fresh model with
 * the exported plain LoRA reproduces the AdaLoRA run's logits.
 */
import { describe, expect, it } from 'vitest';
import { AdamW } from '../../src/engine/optimizer';
import { Linear } from '../../src/engine/linear';
import { trainingPass } from '../../src/engine/pass';
import { Transformer } from '../../src/engine/transformer';
import { openAdapter, parseLoraAdapterConfig } from '../../src/formats/peft';
import type { GpuRuntime } from '../../src/gpu/runtime';
import { type GpuTensor, view } from '../../src/gpu/tensor';
import { attachAdalora } from '../../src/methods/adalora/attach';
import { type AdaloraConfig, adaloraConfigOf } from '../../src/methods/adalora/config';
import type { AdaloraRun } from '../../src/methods/adalora/run';
import { allocatorAction, budgetSchedule, keepMask } from '../../src/methods/adalora/schedule';
import { attachLora } from '../../src/methods/lora/attach';
import { loraConfigFromPeft, readLoraValues } from '../../src/methods/lora/peft';
import type { FactorName } from '../../src/methods/lowrank/factored';
import type { MethodSetup } from '../../src/methods/method';
import type { LinearSpec } from '../../src/model/spec';
import { METHOD_DEFAULTS, type LoraSettings, type MethodOptions } from '../../src/run/api';
import { Rng } from '../../src/util/rng';
import { gpuRuntime, maxRelError, randomArray, relNormError } from '../support/gpu';
import { loadFixtureModel } from '../support/reference';

function lora(o: Partial<LoraSettings>): LoraSettings {
  return { rank: 2, alpha: 3, useRslora: false, dropout: 0, targets: ['q_proj', 'v_proj', 'down_proj'], initLoraWeights: 'default', ...o };
}

function options(o: Partial<MethodOptions>): MethodOptions {
  return { ...METHOD_DEFAULTS, ...o };
}

function spec(name: string, block: number, inF: number, outF: number): LinearSpec {
  const modulePath = `model.layers.${block}.${name === 'down_proj' ? 'mlp' : 'self_attn'}.${name}`;
  return { name, modulePath, weightName: `${modulePath}.weight`, inFeatures: inF, outFeatures: outF, layout: 'out_in' };
}

/** Standalone linears (the adapters never read the base weight). */
function linears(rt: GpuRuntime, specs: LinearSpec[]): Linear[] {
  return specs.map((s) => new Linear(s, rt.tensor(`w ${s.modulePath}`, [s.outFeatures, s.inFeatures]), undefined));
}

function setupOf(rt: GpuRuntime, lins: Linear[], seed = 3): MethodSetup {
  return {
    rt,
    linears: lins,
    checkpoint: undefined as never,
    seed,
    calibrate: async () => undefined,
    progress: () => undefined,
  };
}

// ------------------------------------------------------------------------------------------- schedule

describe('AdaLoRA budget schedule (PEFT budget_schedule / update_and_allocate)', () => {
  const cfg: AdaloraConfig = adaloraConfigOf(lora({}), options({ adaloraInitR: 5, adaloraTinit: 1, adaloraTfinal: 2, adaloraDeltaT: 2 }), 8);
  const b = { init: 15, target: 6 };

  it('keeps the full budget up to tinit, decreases cubically, then holds the target', () => {
    // Hand values: mul = 1 − (step − 1) / 5; budget = int(9 mul³ + 6).
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((s) => budgetSchedule(cfg, b, s))).toEqual([
      { budget: 15, mask: false },
      { budget: 15, mask: false },
      { budget: 10, mask: true }, // 9 · 0.512 + 6 = 10.608
      { budget: 7, mask: false }, // 9 · 0.216 + 6 = 7.944, odd step: no mask with deltaT 2
      { budget: 6, mask: true }, // 9 · 0.064 + 6 = 6.576
      { budget: 6, mask: false }, // 9 · 0.008 + 6
      { budget: 6, mask: true }, // step = total − tfinal: mul = 0
      { budget: 6, mask: true }, // final fine-tuning
    ]);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((s) => allocatorAction(cfg, b, s).kind)).toEqual(['update', 'update', 'update', 'update', 'update', 'update', 'final', 'fixed']);
  });

  it('prunes the (init − budget) lowest scores, ties included, and nothing when that is 0', () => {
    const scores = Float32Array.from([0.5, 0.1, 0.3, 0.1, 0.9]);
    expect(Array.from(keepMask(scores, { init: 5, target: 2 }, 3))).toEqual([1, 0, 1, 0, 1]);
    expect(Array.from(keepMask(scores, { init: 5, target: 2 }, 4))).toEqual([1, 0, 1, 0, 1]); // kth = 0.1, tie prunes both
    expect(Array.from(keepMask(scores, { init: 5, target: 2 }, 2))).toEqual([1, 0, 0, 0, 1]);
    expect(Array.from(keepMask(scores, { init: 5, target: 2 }, 5))).toEqual([1, 1, 1, 1, 1]); // PEFT's kthvalue(k=0) raises
  });

  it('refuses what PEFT refuses', () => {
    expect(() => adaloraConfigOf(lora({}), options({ adaloraTinit: 8 }), 8)).toThrow(/no budgeting phase/);
    expect(() => adaloraConfigOf(lora({}), options({ adaloraOrthReg: 0 }), 8)).toThrow(/orth_reg_weight must be greater than 0/);
    expect(() => adaloraConfigOf(lora({}), options({ adaloraBeta1: 1 }), 8)).toThrow(/beta1/);
    expect(() => adaloraConfigOf(lora({ rank: 13 }), options({}), 8)).toThrow(/exceeds the initial rank/);
    expect(() => adaloraConfigOf(lora({}), options({}), 0)).toThrow(/total_step/);
  });
});

// ------------------------------------------------------------------------------------------- the layer

it('forward and backward equal PEFT SVDLinear in float64, from PEFT init', async () => {
  const rt = await gpuRuntime();
  const [M, K, N, r] = [7, 13, 9, 5];
  const lins = linears(rt, [spec('q_proj', 0, K, N)]);
  const run = (await attachAdalora(setupOf(rt, lins), lora({ alpha: 3 }), options({ adaloraInitR: r }), 10)) as AdaloraRun;
  const layer = run.entries[0].layer;
  const A = await rt.read(layer.A);
  const B = await rt.read(layer.B);
  expect(Array.from(await rt.read(layer.core as GpuTensor))).toEqual(new Array(r).fill(0)); // lora_E = 0
  const std = (v: Float32Array): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
  expect(std(A)).toBeGreaterThan(0.015);
  expect(std(A)).toBeLessThan(0.025);
  expect(std(B)).toBeGreaterThan(0.015);
  expect(std(B)).toBeLessThan(0.025);
  expect(run.params().map((p) => p.name)).toEqual(['A', 'E', 'B'].map((f) => `base_model.model.model.layers.0.self_attn.q_proj.lora_${f}`));
  expect(run.parameterCount()).toBe(r * (K + N + 1));

  const E = randomArray(r, 5);
  rt.write(layer.core as GpuTensor, E);
  const x = randomArray(M * K, 6);
  const dy = randomArray(M * N, 7);
  const y = rt.tensor('y', [M, N]);
  const dx = rt.tensor('dx', [M, K]);
  const xt = rt.upload('x', [M, K], x);
  const ctx = { training: true, seed: 1 };
  layer.forward(rt, xt, y, M, ctx);
  layer.backward(rt, xt, rt.upload('dy', [M, N], dy), dx, M, ctx);

  const s = 3 / (r + 1e-5);
  const AE = Float64Array.from(A, (v, i) => v * E[Math.floor(i / K)]); // (A ⊙ E) [r, K]
  const y64 = new Float64Array(M * N);
  const dx64 = new Float64Array(M * K);
  const gW = new Float64Array(N * K); // s · dyᵀ x
  for (let m = 0; m < M; m++) {
    const h = Array.from({ length: r }, (_, j) => AE.subarray(j * K, (j + 1) * K).reduce((acc, v, i) => acc + v * x[m * K + i], 0));
    for (let n = 0; n < N; n++) y64[m * N + n] = s * h.reduce((acc, v, j) => acc + v * B[n * r + j], 0);
    for (let n = 0; n < N; n++) for (let i = 0; i < K; i++) gW[n * K + i] += s * dy[m * N + n] * x[m * K + i];
    for (let i = 0; i < K; i++) for (let j = 0; j < r; j++) for (let n = 0; n < N; n++) dx64[m * K + i] += s * dy[m * N + n] * B[n * r + j] * AE[j * K + i];
  }
  const dB64 = new Float64Array(N * r);
  const dAE = new Float64Array(r * K);
  for (let n = 0; n < N; n++) for (let j = 0; j < r; j++) for (let i = 0; i < K; i++) {
    dB64[n * r + j] += gW[n * K + i] * AE[j * K + i];
    dAE[j * K + i] += B[n * r + j] * gW[n * K + i];
  }
  const dA64 = dAE.map((v, i) => v * E[Math.floor(i / K)]);
  const dE64 = Array.from({ length: r }, (_, j) => dAE.subarray(j * K, (j + 1) * K).reduce((acc, v, i) => acc + v * A[j * K + i], 0));
  const grads = Object.fromEntries(run.params().map((p) => [p.name.slice(-1), p.grad]));
  const errs = {
    y: maxRelError(await rt.read(y), y64),
    dx: maxRelError(await rt.read(dx), dx64),
    dA: maxRelError(await rt.read(grads.A), dA64),
    dE: maxRelError(await rt.read(grads.E), dE64),
    dB: maxRelError(await rt.read(grads.B), dB64),
  };
  console.log('AdaLoRA layer vs float64:', JSON.stringify(Object.fromEntries(Object.entries(errs).map(([k, v]) => [k, v.toExponential(2)]))));
  for (const [k, v] of Object.entries(errs)) expect(v, k).toBeLessThan(1e-5);
  await run.release(rt);
});

// ------------------------------------------------------------------------------------------- regulariser

/** PEFT: w / num_param · Σ ‖P Pᵀ − I‖_F (lora_A [k, n]) and ‖PᵀP − I‖_F (lora_B [n, k]), in float64. */
function orthValue(P: ArrayLike<number>, k: number, n: number, rows: boolean): number {
  let f = 0;
  for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) {
    let g = 0;
    for (let i = 0; i < n; i++) g += rows ? P[a * n + i] * P[b * n + i] : P[i * k + a] * P[i * k + b];
    f += (g - (a === b ? 1 : 0)) ** 2;
  }
  return Math.sqrt(f);
}

function orthGrad(P: ArrayLike<number>, k: number, n: number, rows: boolean, gamma: number): Float64Array {
  const G = new Float64Array(k * k);
  for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) {
    for (let i = 0; i < n; i++) G[a * k + b] += rows ? P[a * n + i] * P[b * n + i] : P[i * k + a] * P[i * k + b];
    if (a === b) G[a * k + b] -= 1;
  }
  const norm = Math.sqrt(G.reduce((s, v) => s + v * v, 0));
  const out = new Float64Array(k * n);
  for (let a = 0; a < k; a++) for (let i = 0; i < n; i++) for (let b = 0; b < k; b++) {
    // rows: ∂/∂P[a, i] = 2 Σ_b G[a, b] P[b, i] / ‖G‖; cols: ∂/∂P[i, a] = 2 Σ_b P[i, b] G[b, a] / ‖G‖
    if (rows) out[a * n + i] += (gamma * 2 * G[a * k + b] * P[b * n + i]) / norm;
    else out[i * k + a] += (gamma * 2 * P[i * k + b] * G[b * k + a]) / norm;
  }
  return out;
}

it('orthogonal regulariser gradient equals PEFT formula (and its finite differences) in float64', async () => {
  const rt = await gpuRuntime();
  const r = 4;
  const lins = linears(rt, [spec('q_proj', 0, 11, 7), spec('v_proj', 0, 11, 5)]);
  const w = 0.3;
  const run = (await attachAdalora(setupOf(rt, lins), lora({}), options({ adaloraInitR: r, adaloraOrthReg: w }), 10)) as AdaloraRun;
  const gamma = w / 4; // num_param = lora_A and lora_B of 2 layers
  let worst = 0;
  for (const [li, { layer }] of run.entries.entries()) {
    // Larger values than the init so that P Pᵀ − I is far from 0 in every entry.
    const A = randomArray(r * 11, 20 + li, 0.4);
    const B = randomArray(layer.linear.outFeatures * r, 30 + li, 0.5);
    rt.write(layer.A, A);
    rt.write(layer.B, B);
    for (const f of ['A', 'core', 'B'] as FactorName[]) rt.write(layer.grad(f) as GpuTensor, new Float32Array(f === 'A' ? A.length : f === 'B' ? B.length : r));
  }
  run.beforeOptimizerStep(rt);
  for (const [li, { layer }] of run.entries.entries()) {
    const n = layer.linear.outFeatures;
    const A = randomArray(r * 11, 20 + li, 0.4);
    const B = randomArray(n * r, 30 + li, 0.5);
    const gA = orthGrad(A, r, 11, true, gamma);
    const gB = orthGrad(B, r, n, false, gamma);
    worst = Math.max(worst, relNormError(await rt.read(layer.grad('A') as GpuTensor), gA), relNormError(await rt.read(layer.grad('B') as GpuTensor), gB));
    expect(Array.from(await rt.read(layer.grad('core') as GpuTensor))).toEqual(new Array(r).fill(0));
    // The float64 formula is the derivative of PEFT's value: central differences on a few entries.
    const h = 1e-6;
    for (const [P, g, k, len, rows] of [[A, gA, r, 11, true], [B, gB, r, n, false]] as const) {
      for (const i of [0, 7, P.length - 1]) {
        const plus = Float64Array.from(P);
        const minus = Float64Array.from(P);
        plus[i] += h;
        minus[i] -= h;
        const fd = (gamma * (orthValue(plus, k, len, rows) - orthValue(minus, k, len, rows))) / (2 * h);
        expect(Math.abs(fd - g[i])).toBeLessThan(1e-7 + 1e-5 * Math.abs(g[i]));
      }
    }
  }
  console.log(`AdaLoRA orth-reg gradient vs float64: worst relative norm error ${worst.toExponential(2)}`);
  expect(worst).toBeLessThan(1e-5);
  await run.release(rt);
});

// ------------------------------------------------------------------------------------------- RankAllocator

type Factor = 'A' | 'E' | 'B';

/** PEFT's RankAllocator + AdaLoraModel.update_and_allocate, re-implemented in float64 from the Python. */
class PeftAllocator64 {
  ipt = new Map<string, Float64Array>();
  unc = new Map<string, Float64Array>();
  rankPattern: Map<string, boolean[]> | null = null;
  constructor(
    private readonly c: AdaloraConfig,
    private readonly shapes: Map<string, { inF: number; outF: number }>,
  ) {}
  private get initBgt(): number {
    return this.c.initR * this.shapes.size;
  }
  private budget(step: number): [number, boolean] {
    const { tinit, tfinal, totalStep } = this.c;
    if (step <= tinit) return [this.initBgt, false];
    if (step > totalStep - tfinal) return [this.c.targetR * this.shapes.size, true];
    const mul = 1 - (step - tinit) / (totalStep - tfinal - tinit);
    return [Math.floor((this.initBgt - this.c.targetR * this.shapes.size) * mul ** 3 + this.c.targetR * this.shapes.size), step % this.c.deltaT === 0];
  }
  private updateIpt(p: Map<string, Record<Factor, Float32Array>>, g: Map<string, Record<Factor, Float32Array>>): void {
    for (const [name, f] of p) for (const key of ['A', 'E', 'B'] as Factor[]) {
      const id = `${name}.${key}`;
      const th = f[key];
      const gr = (g.get(name) as Record<Factor, Float32Array>)[key];
      const e = this.ipt.get(id) ?? new Float64Array(th.length);
      const u = this.unc.get(id) ?? new Float64Array(th.length);
      for (let i = 0; i < th.length; i++) {
        const ipt = Math.abs(th[i] * gr[i]);
        e[i] = this.c.beta1 * e[i] + (1 - this.c.beta1) * ipt;
        u[i] = this.c.beta2 * u[i] + (1 - this.c.beta2) * Math.abs(ipt - e[i]);
      }
      this.ipt.set(id, e);
      this.unc.set(id, u);
    }
  }
  scores(): Map<string, number[]> {
    const k = this.c.initR;
    const out = new Map<string, number[]>();
    for (const [name, { inF, outF }] of this.shapes) {
      const s = (key: Factor, i: number): number => (this.ipt.get(`${name}.${key}`) as Float64Array)[i] * (this.unc.get(`${name}.${key}`) as Float64Array)[i];
      out.set(name, Array.from({ length: k }, (_, j) => {
        let a = 0;
        for (let i = 0; i < inF; i++) a += s('A', j * inF + i);
        let b = 0;
        for (let o = 0; o < outF; o++) b += s('B', o * k + j);
        return s('E', j) + (a / inF + b / outF);
      }));
    }
    return out;
  }
  private maskToBudget(p: Map<string, Record<Factor, Float32Array>>, budget: number): Map<string, boolean[]> {
    const scores = this.scores();
    const all = [...scores.values()].flat().sort((a, b) => a - b);
    const threshold = all[this.initBgt - budget - 1];
    const pattern = new Map<string, boolean[]>();
    for (const [name, sc] of scores) {
      const E = (p.get(name) as Record<Factor, Float32Array>).E;
      sc.forEach((v, j) => v <= threshold && (E[j] = 0));
      pattern.set(name, sc.map((v) => !(v <= threshold)));
    }
    return pattern;
  }
  /** Mutates the E of `p` like PEFT's masked_fill_. */
  step(p: Map<string, Record<Factor, Float32Array>>, g: Map<string, Record<Factor, Float32Array>>, step: number): void {
    const end = this.c.totalStep - this.c.tfinal;
    if (step < end) {
      this.updateIpt(p, g);
      const [budget, mask] = this.budget(step);
      if (mask) this.rankPattern = this.maskToBudget(p, budget);
    } else if (step === end) {
      this.rankPattern = this.maskToBudget(p, this.budget(step)[0]);
      this.ipt.clear();
      this.unc.clear();
    } else {
      for (const [name, keep] of this.rankPattern as Map<string, boolean[]>) keep.forEach((k, j) => !k && ((p.get(name) as Record<Factor, Float32Array>).E[j] = 0));
    }
  }
}

it('the RankAllocator follows PEFT over a whole schedule (EMAs, scores, budgets, masks, final mask)', async () => {
  const rt = await gpuRuntime();
  const r = 5;
  const specs = [spec('q_proj', 0, 13, 7), spec('v_proj', 0, 13, 11), spec('down_proj', 1, 9, 13)];
  const lins = linears(rt, specs);
  const opts = options({ adaloraInitR: r, adaloraTinit: 1, adaloraTfinal: 2, adaloraDeltaT: 2, adaloraBeta1: 0.85, adaloraBeta2: 0.7 });
  const run = (await attachAdalora(setupOf(rt, lins), lora({ rank: 2 }), opts, 8)) as AdaloraRun;
  const ref = new PeftAllocator64(run.config, new Map(specs.map((s) => [s.modulePath, { inF: s.inFeatures, outF: s.outFeatures }])));
  const factorOf: Record<Factor, FactorName> = { A: 'A', E: 'core', B: 'B' };
  const rng = new Rng(99);
  const kept: number[] = [];
  let worstEma = 0;
  for (let step = 0; step < 8; step++) {
    const p = new Map<string, Record<Factor, Float32Array>>();
    const g = new Map<string, Record<Factor, Float32Array>>();
    for (const { layer } of run.entries) {
      const sizes: Record<Factor, number> = { A: r * layer.linear.inFeatures, E: r, B: layer.linear.outFeatures * r };
      const vals = {} as Record<Factor, Float32Array>;
      const grads = {} as Record<Factor, Float32Array>;
      for (const f of ['A', 'E', 'B'] as Factor[]) {
        vals[f] = randomArray(sizes[f], rng.nextU32(), 0.5);
        grads[f] = randomArray(sizes[f], rng.nextU32(), 2);
        const value = f === 'A' ? layer.A : f === 'B' ? layer.B : (layer.core as GpuTensor);
        rt.write(value, vals[f]);
        rt.write(layer.grad(factorOf[f]) as GpuTensor, grads[f]);
      }
      p.set(layer.linear.modulePath, vals);
      g.set(layer.linear.modulePath, grads);
    }
    await run.afterOptimizerStep(rt, step);
    ref.step(p, g, step);
    for (const { layer } of run.entries) {
      const path = layer.linear.modulePath;
      const E = await rt.read(layer.core as GpuTensor);
      expect(Array.from(E), `E of ${path} at step ${step}`).toEqual(Array.from((p.get(path) as Record<Factor, Float32Array>).E));
      const state = run.allocator.stateOf(path) as Record<FactorName, GpuTensor>;
      for (const f of ['A', 'E', 'B'] as Factor[]) {
        const got = await rt.read(state[factorOf[f]]);
        const e = ref.ipt.get(`${path}.${f}`);
        const u = ref.unc.get(`${path}.${f}`);
        const expected = e && u ? [...e, ...u] : new Array(got.length).fill(0);
        if (e) worstEma = Math.max(worstEma, maxRelError(got, expected));
        else expect(Array.from(got)).toEqual(expected);
      }
    }
    if (ref.rankPattern) expect(Object.fromEntries(run.allocator.rankPattern())).toEqual(Object.fromEntries(ref.rankPattern));
    kept.push([...run.allocator.rankPattern().values()].flat().filter((v) => v).length);
  }
  console.log(`AdaLoRA allocator: kept triplets per step ${kept.join(' ')}, worst EMA error ${worstEma.toExponential(2)}`);
  expect(kept).toEqual([15, 15, 10, 10, 6, 6, 6, 6]);
  expect(worstEma).toBeLessThan(1e-5);
  await run.release(rt);
});

// ------------------------------------------------------------------------------------------- export

describe('AdaLoRA export', () => {
  it('a fresh model with the exported LoRA gives the AdaLoRA run its logits', async () => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, 'llama-tiny');
    const [Bsz, T] = [2, 8];
    const model = new Transformer(rt, m.spec, m.weights, Bsz * T);
    for (const l of model.linears) l.adapters.length = 0;
    const settings = lora({ rank: 2, alpha: 4, targets: ['q_proj', 'v_proj'] });
    const steps = 5;
    const opts = options({ adaloraInitR: 4, adaloraTinit: 0, adaloraTfinal: 1, adaloraDeltaT: 1 });
    const run = (await attachAdalora(setupOf(rt, model.linears, 11), settings, opts, steps)) as AdaloraRun;
    const opt = new AdamW(rt, run.params(), { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 });
    const acc = rt.tensor('loss', [1]);
    const rng = new Rng(5);
    const ids = Int32Array.from({ length: Bsz * T }, () => rng.int(m.spec.vocab));
    const targets = Int32Array.from({ length: Bsz * T }, (_, i) => ((i + 1) % T === 0 ? -100 : ids[i + 1]));
    for (let step = 0; step < steps; step++) {
      opt.zeroGrad();
      model.setInputs(ids, targets);
      model.forwardLoss(trainingPass(Bsz, T, true, step), 1 / (Bsz * (T - 1)), acc, 0, true);
      rt.flush();
      run.beforeOptimizerStep(rt);
      opt.step(2e-2);
      rt.flush();
      await run.afterOptimizerStep(rt, step);
    }
    opt.release();
    const keptPerLayer = (await run.deltas(rt)).map((d) => d.k);
    expect(keptPerLayer.reduce((a, b) => a + b, 0)).toBe(settings.rank * run.entries.length); // the final mask holds the target budget

    const logits = async (t: Transformer): Promise<Float32Array> => {
      t.setInputs(ids.slice(0, T));
      const hidden = t.forwardHidden(trainingPass(1, T, false, 0));
      const out = t.arena.get('logits', m.spec.vocab);
      t.logits(hidden, T, out);
      return rt.read(view(out, [T, m.spec.vocab]));
    };
    const adapted = await logits(model);
    for (const l of model.linears) l.adaptersEnabled = false;
    const base = await logits(model);
    for (const l of model.linears) l.adaptersEnabled = true;

    const files = await run.exportAdapter(rt, m.checkpoint, 'models/llama-tiny');
    const cfg = parseLoraAdapterConfig(files.config, 'adalora');
    expect(cfg.peft_type).toBe('LORA');
    const opened = await openAdapter([
      { name: 'adapter_config.json', blob: new Blob([files.config]) },
      { name: 'adapter_model.safetensors', blob: new Blob([files.weights]) },
    ]);
    expect(opened.modules.length).toBe(keptPerLayer.filter((k) => k > 0).length);
    await run.release(rt);
    for (const l of model.linears) expect(l.adapters.length).toBe(0);
    const fresh = new Transformer(rt, m.spec, m.weights, T);
    for (const l of fresh.linears) l.adapters.length = 0;
    attachLora(rt, fresh.linears, loraConfigFromPeft(opened), 0, await readLoraValues(opened));
    const exported = await logits(fresh);
    const change = maxRelError(adapted, base);
    const err = maxRelError(exported, adapted);
    console.log(`AdaLoRA export: kept ${keptPerLayer.join(' ')}, logits vs run ${err.toExponential(2)} (adapter moved them by ${change.toExponential(2)})`);
    expect(change).toBeGreaterThan(1e-4);
    expect(err).toBeLessThan(1e-4);
    rt.release(acc);
  });
});
