/**
 * SORSA on the tiny fixture models: residual + principal part reconstructs W, the model starts at the base, the
 * orthonormal regulariser adds its float64 gradient, deltas() is W_now − W_original exactly, and release puts
 * the checkpoint's weight back bit for bit.
 */
import { describe, expect, it } from 'vitest';
import { Transformer } from '../../src/engine/transformer';
import type { GpuRuntime } from '../../src/gpu/runtime';
import type { FactoredLayer } from '../../src/methods/lowrank/factored';
import type { MethodSetup } from '../../src/methods/method';
import { attachSorsa, sorsaKeys } from '../../src/methods/sorsa';
import { type LoraSettings, METHOD_DEFAULTS } from '../../src/run/api';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';
import { matmul64, svd64, transpose64 } from '../support/linalg64';
import { attachDeltasAsLora, modelLogits, weightOnlySetup } from '../support/methods';
import { loadFixtureModel } from '../support/reference';

const IDS = [[1, 403, 407, 261, 378, 290, 17], [5, 99, 12, 640, 3, 77, 901]];

const logits = (model: Transformer): Promise<Float32Array> => modelLogits(model, IDS);

const setupOf = (rt: GpuRuntime, model: Transformer, checkpoint: MethodSetup['checkpoint']): MethodSetup => weightOnlySetup(rt, model, checkpoint, 3, 'SORSA');

const lora = (targets: string[], rank: number): LoraSettings => ({ rank, alpha: 2 * rank, useRslora: false, dropout: 0, targets, initLoraWeights: 'default' });

const toOutIn = (w: ArrayLike<number>, spec: FactoredLayer['linear']): Float64Array =>
  spec.layout === 'out_in' ? Float64Array.from(w) : transpose64(w, spec.inFeatures, spec.outFeatures);

/** B diag(d) A in float64, [out, in]. */
function principal(B: ArrayLike<number>, d: ArrayLike<number>, A: ArrayLike<number>, out: number, r: number, inF: number): Float64Array {
  const Bd = new Float64Array(out * r);
  for (let i = 0; i < out; i++) for (let j = 0; j < r; j++) Bd[i * r + j] = B[i * r + j] * d[j];
  return matmul64(Bd, A, out, r, inF);
}

/** γ-weighted gradient of ‖XXᵀ − I‖²_F (rows) or ‖XᵀX − I‖²_F (cols), float64: 4γ (G − I) X or 4γ X (G − I). */
function orthGrad(X: ArrayLike<number>, rows: number, cols: number, axis: 'rows' | 'cols', gamma: number): Float64Array {
  const k = axis === 'rows' ? rows : cols;
  const G = axis === 'rows' ? matmul64(X, X, rows, cols, rows, false, true) : matmul64(X, X, cols, rows, cols, true, false);
  for (let i = 0; i < k; i++) G[i * k + i] -= 1;
  const g = axis === 'rows' ? matmul64(G, X, rows, rows, cols) : matmul64(X, G, rows, cols, cols);
  return g.map((v) => 4 * gamma * v);
}

describe.each([
  ['llama-tiny', ['q_proj', 'v_proj'], 4],
  ['gpt2-tiny', ['c_fc'], 3],
] as const)('SORSA on %s %j, r = %d', (name, targets, rank) => {
  it('residual + principal = W, base logits, regulariser, deltas, release', async () => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, name);
    const model = new Transformer(rt, m.spec, m.weights, 32);
    for (const l of model.linears) l.adapters.length = 0;
    const base = await logits(model);
    const gamma = 0.05;
    const run = await attachSorsa(setupOf(rt, model, m.checkpoint), lora([...targets], rank), { ...METHOD_DEFAULTS, sorsaGamma: gamma });
    const initErr = maxRelError(await logits(model), base);
    console.log(`${name}: logits at init vs base: max rel error ${initErr.toExponential(2)}`);
    expect(initErr).toBeLessThan(1e-4);

    let count = 0;
    const layers = [...run.adapters.values()] as FactoredLayer[];
    for (const layer of layers) {
      const spec = layer.linear;
      const { inFeatures: inF, outFeatures: outF, modulePath } = spec;
      const lin = model.linears.find((l) => l.spec.modulePath === modulePath) as (typeof model.linears)[number];
      const W = toOutIn(await m.checkpoint.read(spec.weightName), spec);
      const ref = svd64(W, outF, inF);
      const v = await layer.values(rt);
      const sv = v.core as Float32Array;
      expect(maxRelError(sv, ref.S.slice(0, rank))).toBeLessThan(1e-4);
      const residual = toOutIn(await rt.read(lin.weight), spec);
      const P = principal(v.B, sv, v.A, outF, rank, inF);
      const recon = maxRelError(residual.map((x, i) => x + P[i]), W);
      console.log(`${modulePath}: σ ${Array.from(sv, (x) => x.toFixed(4)).join(' ')}; residual + principal vs W ${recon.toExponential(2)}`);
      expect(recon).toBeLessThan(1e-5);
      expect(layer.params().map((p) => p.name)).toEqual([sorsaKeys(modulePath).A, sorsaKeys(modulePath).core, sorsaKeys(modulePath).B]);
      expect(layer.params().every((p) => !p.decay)).toBe(true);
      count += rank * (inF + outF + 1);
    }
    expect(run.parameterCount()).toBe(count);
    const change = run.baseChange?.() ?? [];
    expect(change).toHaveLength(layers.length);

    // Move the factors off orthonormality (as training would), then check the regulariser and the deltas.
    const moved = new Map<string, { A: Float32Array; B: Float32Array; core: Float32Array; gA: Float32Array; gB: Float32Array }>();
    layers.forEach((layer, i) => {
      const { inFeatures: inF, outFeatures: outF, modulePath } = layer.linear;
      const noise = (n: number, s: number): Float32Array => randomArray(n, 100 * i + s, 0.05);
      moved.set(modulePath, { A: noise(rank * inF, 1), B: noise(outF * rank, 2), core: noise(rank, 3), gA: noise(rank * inF, 4), gB: noise(outF * rank, 5) });
    });
    const before = new Map<string, { A: Float32Array; B: Float32Array; core: Float32Array }>();
    for (const layer of layers) {
      const v = await layer.values(rt);
      const x = moved.get(layer.linear.modulePath) as NonNullable<ReturnType<typeof moved.get>>;
      x.A = v.A.map((a, i) => a + x.A[i]);
      x.B = v.B.map((b, i) => b + x.B[i]);
      x.core = (v.core as Float32Array).map((c, i) => c * (1 + x.core[i]));
      before.set(layer.linear.modulePath, { A: v.A, B: v.B, core: v.core as Float32Array });
      rt.write(layer.A, x.A);
      rt.write(layer.B, x.B);
      rt.write(layer.core as NonNullable<FactoredLayer['core']>, x.core);
      rt.write(layer.grad('A') as NonNullable<ReturnType<FactoredLayer['grad']>>, x.gA);
      rt.write(layer.grad('B') as NonNullable<ReturnType<FactoredLayer['grad']>>, x.gB);
    }
    run.beforeOptimizerStep?.(rt, 0, 1);
    for (const layer of layers) {
      const { inFeatures: inF, outFeatures: outF, modulePath } = layer.linear;
      const x = moved.get(modulePath) as NonNullable<ReturnType<typeof moved.get>>;
      const wantA = orthGrad(x.A, rank, inF, 'rows', gamma).map((g, i) => g + x.gA[i]);
      const wantB = orthGrad(x.B, outF, rank, 'cols', gamma).map((g, i) => g + x.gB[i]);
      const eA = maxRelError(await rt.read(layer.grad('A') as NonNullable<ReturnType<FactoredLayer['grad']>>), wantA);
      const eB = maxRelError(await rt.read(layer.grad('B') as NonNullable<ReturnType<FactoredLayer['grad']>>), wantB);
      console.log(`${modulePath}: regulariser gradient max rel error A ${eA.toExponential(2)}, B ${eB.toExponential(2)}`);
      expect(eA).toBeLessThan(1e-4);
      expect(eB).toBeLessThan(1e-4);
    }
    const deltas = await run.deltas(rt);
    for (const d of deltas) {
      const { inFeatures: inF, outFeatures: outF, modulePath } = d.linear;
      const x = moved.get(modulePath) as NonNullable<ReturnType<typeof moved.get>>;
      const b = before.get(modulePath) as NonNullable<ReturnType<typeof before.get>>;
      expect(d.k).toBe(2 * rank);
      const now = principal(x.B, x.core, x.A, outF, rank, inF);
      const was = principal(b.B, b.core, b.A, outF, rank, inF);
      const want = now.map((v, i) => v - was[i]);
      const got = matmul64(d.B, d.A, outF, d.k, inF).map((v) => v * d.scaling);
      expect(maxRelError(got, want)).toBeLessThan(1e-5);
    }
    const trained = await logits(model);
    await run.release(rt);
    for (const l of model.linears) expect(l.adapters).toHaveLength(0);
    // Release restores the checkpoint's weights exactly.
    for (const layer of layers) {
      const lin = model.linears.find((l) => l.spec.modulePath === layer.linear.modulePath) as (typeof model.linears)[number];
      expect(Array.from(await rt.read(lin.weight))).toEqual(Array.from(await m.checkpoint.read(layer.linear.weightName)));
    }
    expect(maxRelError(await logits(model), base)).toBe(0);
    // Original base + ΔW as a plain rank-2r LoRA gives the SORSA model's logits (what the export promises).
    const detach = attachDeltasAsLora(rt, model, deltas);
    const err = maxRelError(await logits(model), trained);
    console.log(`${name}: SORSA forward vs W + ΔW as LoRA: max rel error ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
    detach();
  });
});
