/**
 * EVA: the Gram probe against float64 on odd shapes; PEFT's rank redistribution on constructed explained-variance
 * inputs; and on a fixture model, A's rows equal the top right singular vectors of each layer's stacked, centred
 * inputs computed in float64, the ranks follow PEFT's rule on the float64 ratios, logits at init equal the base's,
 * and the export carries the ranks as rank_pattern.
 */
import { SVD, Matrix } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { Transformer } from '../../src/engine/transformer';
import { trainingPass } from '../../src/engine/pass';
import { isTargetModule, parseLoraAdapterConfig, rankFor, scalingFor } from '../../src/formats/peft';
import type { GpuRuntime } from '../../src/gpu/runtime';
import { view } from '../../src/gpu/tensor';
import { attachEva } from '../../src/methods/eva/attach';
import { evaScaling, evaConfigOf, maxComponents, roundHalfEven } from '../../src/methods/eva/config';
import { GramProbe, totalVariance } from '../../src/methods/eva/probe';
import { evaRankDistribution, explainedVarianceRatios, flipComponentSigns, type EvaLayerVariance } from '../../src/methods/eva/ranks';
import type { LoraLayer } from '../../src/methods/lora/layer';
import type { MethodSetup } from '../../src/methods/method';
import type { LinearAdapter } from '../../src/methods/types';
import { METHOD_DEFAULTS, type LoraSettings } from '../../src/run/api';
import { Rng } from '../../src/util/rng';
import { gpuRuntime, maxAbsError, maxRelError, randomArray } from '../support/gpu';
import { loadFixtureModel } from '../support/reference';

describe('EVA rank redistribution (PEFT _get_rank_distribution)', () => {
  const a = [0.5, 0.2, 0.1, 0.05];
  const b = [0.3, 0.25, 0.02, 0.01];

  it('gives each layer its share of the globally largest ratios', () => {
    // Pool: .5a .5c .3b .25b .2a .2c .1a .1c .05a .05c .02b .01b (c shares a's PCA and comes after own-PCA layers).
    const layers: EvaLayerVariance[] = [
      { name: 'a', ratios: a },
      { name: 'c', ratios: a, sharesWith: 'a' },
      { name: 'b', ratios: b },
    ];
    expect(Object.fromEntries(evaRankDistribution(layers, 5))).toEqual({ a: 2, c: 1, b: 2 });
    expect(Object.fromEntries(evaRankDistribution(layers, 6))).toEqual({ a: 2, c: 2, b: 2 });
    expect(Object.fromEntries(evaRankDistribution(layers, 3))).toEqual({ a: 1, c: 1, b: 1 });
    expect(Object.fromEntries(evaRankDistribution(layers, 1))).toEqual({ a: 1, c: 0, b: 0 });
    // A layer may end with rank 0 (PEFT then leaves it without LoRA).
    expect(Object.fromEntries(evaRankDistribution([{ name: 'a', ratios: a }, { name: 'b', ratios: [0.01, 0.001] }], 4))).toEqual({ a: 4, b: 0 });
  });

  it('gives the owning layer the larger count when a sharing layer got more (PEFT swap)', () => {
    const layers: EvaLayerVariance[] = [
      { name: 'owner', ratios: [0.1] },
      { name: 'sharer', ratios: [0.6, 0.4], sharesWith: 'owner' },
    ];
    expect(Object.fromEntries(evaRankDistribution(layers, 2))).toEqual({ owner: 2, sharer: 0 });
  });

  it('rounds max_components like Python and adjusts scaling like adjust_scaling_factors', () => {
    expect([0.5, 1.5, 2.5, 3.5, 4.5, 7.5, 7.49, 7.51].map(roundHalfEven)).toEqual([0, 2, 2, 4, 4, 8, 7, 8]);
    const cfg = evaConfigOf(settings({ rank: 3, alpha: 6 }), { evaBatches: 1, evaRho: 1.5 });
    expect(maxComponents(cfg)).toBe(4); // round(4.5) = 4
    expect(evaScaling(cfg, 5)).toEqual({ alpha: 10, scaling: 2 }); // alpha · r_l / r, so alpha_l / r_l = alpha / r
    expect(evaScaling(cfg, 3)).toEqual({ alpha: 6, scaling: 2 });
    expect(() => evaConfigOf(settings({}), { evaBatches: 1, evaRho: 0.5 })).toThrow(/rho must be >= 1/);
  });

  it('flips each component so its largest entry is positive (svd_flip, u_based_decision=False)', () => {
    const rows = Float64Array.from([0.1, -0.9, 0.2, 0.5, 0.4, -0.3]);
    flipComponentSigns(rows, 2, 3);
    expect(Array.from(rows)).toEqual([-0.1, 0.9, -0.2, 0.5, 0.4, -0.3]);
  });
});

it('the Gram probe accumulates xᵀx, Σx, Σx² and centres like float64', async () => {
  const rt = await gpuRuntime();
  const K = 23;
  const Ms = [37, 5];
  const spec = { name: 'p', modulePath: 'm.p', weightName: 'm.p.weight', inFeatures: K, outFeatures: 3, layout: 'out_in' as const };
  const probe = new GramProbe(rt, spec);
  const xs = Ms.map((M, i) => randomArray(M * K, 11 + i));
  const y = rt.tensor('y', [40, 3]);
  for (const [i, M] of Ms.entries()) {
    const x = rt.upload(`x${i}`, [M, K], xs[i].map((v, j) => v + 0.3 * (j % K) / K)); // a non-zero mean per feature
    probe.forward(rt, x, y, M, { training: false, seed: 0 });
  }
  const X = xs.flatMap((x) => Array.from(x.map((v, j) => v + 0.3 * (j % K) / K)));
  const n = X.length / K;
  const s = new Float64Array(K);
  let sq = 0;
  for (let t = 0; t < n; t++) for (let j = 0; j < K; j++) {
    s[j] += X[t * K + j];
    sq += X[t * K + j] ** 2;
  }
  const C = new Float64Array(K * K);
  for (let t = 0; t < n; t++) for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) C[i * K + j] += (X[t * K + i] - s[i] / n) * (X[t * K + j] - s[j] / n);
  const stats = await probe.stats(rt);
  expect(stats.rows).toBe(n);
  expect(maxRelError(stats.colSum, s)).toBeLessThan(1e-5);
  expect(Math.abs(stats.sumSq - sq) / sq).toBeLessThan(1e-5);
  let trace = 0;
  for (let i = 0; i < K; i++) trace += C[i * K + i];
  expect(Math.abs(totalVariance(stats) - trace) / trace).toBeLessThan(1e-5);
  probe.centre(rt);
  expect(maxRelError(await rt.read(probe.gram), C)).toBeLessThan(1e-5);
  probe.release(rt);
});

// ------------------------------------------------------------------------------------------- on a model

function settings(o: Partial<LoraSettings>): LoraSettings {
  return { rank: 2, alpha: 4, useRslora: false, dropout: 0, targets: ['q_proj', 'v_proj', 'o_proj', 'down_proj'], initLoraWeights: 'default', ...o };
}

const B = 2;
const T = 8;

function randomBatches(count: number, vocab: number, seed: number): Array<{ inputs: Int32Array; targets: Int32Array; lossTokens: number }> {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const inputs = Int32Array.from({ length: B * T }, () => rng.int(vocab));
    const targets = Int32Array.from({ length: B * T }, (_, i) => ((i + 1) % T === 0 ? -100 : inputs[i + 1]));
    return { inputs, targets, lossTokens: B * (T - 1) };
  });
}

/** Copies each targeted layer's input rows to the host as the calibration passes run. */
class CaptureProbe implements LinearAdapter {
  readonly reads: Array<Promise<ArrayBuffer>> = [];
  constructor(private readonly K: number) {}
  forward(rt: GpuRuntime, x: { buffer: GPUBuffer; shape: readonly number[]; dtype: 'f32' | 'i32' | 'u32'; label: string }, _y: unknown, M: number): void {
    this.reads.push(rt.readback(x, 0, M * this.K));
  }
  backward(): void {}
  params(): [] {
    return [];
  }
}

/** Float64 PCA of the centred rows: right singular vectors as rows [k, n] (PEFT signs) and ratios σ²/Σ‖x−μ‖². */
function pca64(X: Float64Array, n: number, k: number): { rows: Float64Array; ratios: number[]; eig: number[] } {
  const m = X.length / n;
  const mean = new Float64Array(n);
  for (let t = 0; t < m; t++) for (let j = 0; j < n; j++) mean[j] += X[t * n + j] / m;
  const Xc = new Matrix(m, n);
  let total = 0;
  for (let t = 0; t < m; t++) for (let j = 0; j < n; j++) {
    const v = X[t * n + j] - mean[j];
    Xc.set(t, j, v);
    total += v * v;
  }
  const svd = new SVD(Xc, { autoTranspose: true });
  const V = svd.rightSingularVectors;
  const order = svd.diagonal.map((s, i) => [s, i]).sort((p, q) => q[0] - p[0]).slice(0, k);
  const rows = new Float64Array(k * n);
  order.forEach(([, c], i) => {
    for (let j = 0; j < n; j++) rows[i * n + j] = V.get(j, c);
  });
  flipComponentSigns(rows, k, n);
  const eig = order.map(([s]) => s * s);
  return { rows, ratios: eig.map((e) => e / total), eig };
}

describe('EVA on llama-tiny', () => {
  it('initialises A with the float64 top right singular vectors (exact and randomized SVD), ranks by PEFT rule, base logits at init, exports rank_pattern', async () => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, 'llama-tiny');
    const model = new Transformer(rt, m.spec, m.weights, B * T);
    for (const l of model.linears) l.adapters.length = 0;
    const lora = settings({});
    const options = { ...METHOD_DEFAULTS, evaBatches: 3, evaRho: 2 };
    const batches = randomBatches(options.evaBatches, m.spec.vocab, 7);
    const targets = model.linears.filter((l) => lora.targets.includes(l.spec.name));
    const captures = new Map(targets.map((l) => [l.spec.modulePath, new CaptureProbe(l.spec.inFeatures)]));
    const acc = rt.tensor('loss', [1]);
    const progress: number[] = [];
    const setup: MethodSetup = {
      rt,
      linears: model.linears,
      checkpoint: m.checkpoint,
      seed: 1,
      progress: (_msg, f) => progress.push(f),
      async calibrate(count, backward) {
        for (const l of targets) l.adapters.push(captures.get(l.spec.modulePath) as CaptureProbe);
        for (let i = 0; i < count; i++) {
          const b = batches[i % batches.length];
          model.setInputs(b.inputs, b.targets);
          model.forwardLoss(trainingPass(B, T, false, 0), 1 / b.lossTokens, acc, 0, backward);
          rt.flush();
        }
        await rt.idle();
        for (const l of targets) l.adapters.pop();
      },
    };
    const run = await attachEva(setup, lora, options);
    expect(progress[progress.length - 1]).toBe(1);
    for (const l of model.linears) expect(l.adapters.every((a) => !(a instanceof CaptureProbe) && a.params().length > 0)).toBe(true);

    // Float64 reference per layer, with PEFT's equal-input sharing found by comparing the captured inputs.
    const k = 4; // round(r · rho)
    const inputs = new Map<string, Float64Array>();
    for (const l of targets) {
      const parts = await Promise.all((captures.get(l.spec.modulePath) as CaptureProbe).reads);
      inputs.set(l.spec.modulePath, Float64Array.from(parts.flatMap((p) => Array.from(new Float32Array(p)))));
    }
    const refs = new Map<string, ReturnType<typeof pca64>>();
    const variances: EvaLayerVariance[] = [];
    for (const l of targets) {
      const X = inputs.get(l.spec.modulePath) as Float64Array;
      const owner = targets.find((o) => (inputs.get(o.spec.modulePath) as Float64Array).every((v, i) => v === X[i]));
      const ref = refs.get(owner?.spec.modulePath ?? '') ?? pca64(X, l.spec.inFeatures, k);
      refs.set(l.spec.modulePath, ref);
      variances.push({ name: l.spec.modulePath, ratios: ref.ratios, sharesWith: owner && owner !== l ? owner.spec.modulePath : undefined });
    }
    expect(variances.filter((v) => v.sharesWith !== undefined).length).toBe(2); // v_proj shares q_proj's input in both blocks
    const expected = evaRankDistribution(variances, lora.rank * targets.length);
    /** Ranks and A of a run against the float64 reference; returns the worst |A − V64|. */
    const check = async (r: typeof run, label: string): Promise<number> => {
      let worst = 0;
      let total = 0;
      for (const l of targets) {
        const path = l.spec.modulePath;
        const rank = expected.get(path) ?? 0;
        total += rank;
        const layer = r.adapters.get(path) as LoraLayer | undefined;
        expect(layer?.r ?? 0, `${label} ${path}`).toBe(rank);
        if (!layer) continue;
        const ref = refs.get(path) as ReturnType<typeof pca64>;
        worst = Math.max(worst, maxAbsError(await rt.read(layer.A), ref.rows.subarray(0, rank * l.spec.inFeatures)));
        expect(maxAbsError(await rt.read(layer.B), new Float32Array(layer.B.shape[0] * rank))).toBe(0);
        expect(layer.scale).toBeCloseTo(lora.alpha / lora.rank, 12);
      }
      console.log(`EVA (${label}): ranks ${JSON.stringify(Object.fromEntries(expected))}, worst |A − V64| = ${worst.toExponential(2)}`);
      expect(total).toBe(lora.rank * targets.length);
      return worst;
    };
    expect(await check(run, 'exact SVD')).toBeLessThan(2e-3);

    // At init (B = 0) the adapted model is the base model.
    const ids = batches[0].inputs.slice(0, T);
    const logits = async (enabled: boolean): Promise<Float32Array> => {
      for (const l of model.linears) l.adaptersEnabled = enabled;
      model.setInputs(ids);
      const p = trainingPass(1, T, false, 0);
      const hidden = model.forwardHidden(p);
      const out = model.arena.get('logits', m.spec.vocab);
      model.logits(hidden, T, out);
      return rt.read(view(out, [T, m.spec.vocab]));
    };
    const base = await logits(false);
    expect(maxAbsError(await logits(true), base)).toBe(0);

    const files = await run.exportAdapter(rt, m.checkpoint, 'models/llama-tiny');
    const cfg = parseLoraAdapterConfig(files.config, 'eva');
    for (const l of targets) {
      const rank = expected.get(l.spec.modulePath) ?? 0;
      // A layer EVA gave rank 0 has no LoRA module in PEFT either.
      expect(isTargetModule(cfg, l.spec.modulePath), l.spec.modulePath).toBe(rank > 0);
      if (rank > 0) {
        expect(rankFor(cfg, l.spec.modulePath), l.spec.modulePath).toBe(rank);
        expect(scalingFor(cfg, l.spec.modulePath)).toBeCloseTo(lora.alpha / lora.rank, 6);
      }
    }
    await run.release(rt);
    for (const l of model.linears) expect(l.adapters.length).toBe(0);

    // PEFT's own PCA is a randomized low-rank SVD; ours on request gives the same init.
    const randomized = await attachEva(setup, lora, { ...options, svd: 'randomized', powerIters: 4 });
    expect(await check(randomized, 'randomized SVD')).toBeLessThan(2e-3);
    await randomized.release(rt);
    rt.release(acc);
  });
});

it('explained-variance ratios divide by the total variance', () => {
  expect(explainedVarianceRatios([4, 1, -1e-9], 10)).toEqual([0.4, 0.1, 0]);
  expect(() => explainedVarianceRatios([1], 0)).toThrow(/no variance/);
});
