/**
 * LoRA-XS and LoRA-SB on the tiny fixture models (nn.Linear and Conv1D): frozen factors from the right SVD, r²
 * trainable parameters per layer, exact deltas, and LoRA-SB's B / A / R from the float64 SVD of the mean gradient
 * of the calibration batches, measured independently through a LoRA layer with A = I (its dB is dyᵀ x).
 */
import { describe, expect, it } from 'vitest';
import { trainingPass } from '../../src/engine/pass';
import { Transformer } from '../../src/engine/transformer';
import type { GpuRuntime } from '../../src/gpu/runtime';
import { LoraLayer } from '../../src/methods/lora/layer';
import { attachLoraSb, attachLoraXs } from '../../src/methods/loraxs';
import { latentKey } from '../../src/methods/loraxs/layer';
import type { FactoredLayer } from '../../src/methods/lowrank/factored';
import type { MethodRun, MethodSetup } from '../../src/methods/method';
import { type LoraSettings, METHOD_DEFAULTS } from '../../src/run/api';
import { Rng } from '../../src/util/rng';
import { gpuRuntime, maxRelError } from '../support/gpu';
import { type Svd64, matmul64, svd64, transpose64 } from '../support/linalg64';
import { attachDeltasAsLora, modelLogits } from '../support/methods';
import { loadFixtureModel } from '../support/reference';

const IDS = [[1, 403, 407, 261, 378, 290, 17], [5, 99, 12, 640, 3, 77, 901]];
const [CB, CT] = [2, 8];

const logits = (model: Transformer): Promise<Float32Array> => modelLogits(model, IDS);

/** Fixed seeded calibration batches: random ids, next-token targets, no loss at each row's last position. */
function calibrationBatches(count: number, vocab: number): { inputs: Int32Array; targets: Int32Array; lossTokens: number }[] {
  const rng = new Rng(77);
  return Array.from({ length: count }, () => {
    const inputs = Int32Array.from({ length: CB * CT }, () => rng.int(vocab));
    const targets = new Int32Array(CB * CT).fill(-100);
    for (let b = 0; b < CB; b++) for (let t = 0; t + 1 < CT; t++) targets[b * CT + t] = inputs[b * CT + t + 1];
    return { inputs, targets, lossTokens: CB * (CT - 1) };
  });
}

function setupOf(rt: GpuRuntime, model: Transformer, checkpoint: MethodSetup['checkpoint']): MethodSetup {
  const batches = calibrationBatches(4, model.spec.vocab);
  return {
    rt, linears: model.linears, checkpoint, seed: 21,
    // As the session does: each batch's mean token loss, forward (and backward), one submit per batch.
    calibrate: async (n, backward) => {
      const acc = rt.tensor('calibration loss', [1]);
      for (let i = 0; i < n; i++) {
        const b = batches[i];
        model.setInputs(b.inputs, b.targets);
        model.forwardLoss(trainingPass(CB, CT, false, 0), 1 / b.lossTokens, acc, 0, backward);
        rt.flush();
      }
      await rt.read(acc);
      rt.release(acc);
    },
    progress: () => undefined,
  };
}

const lora = (targets: readonly string[], rank: number): LoraSettings => ({ rank, alpha: 2 * rank, useRslora: false, dropout: 0, targets: [...targets], initLoraWeights: 'default' });

/** |cos| between column j of X [rows, k] (f32, or row j of Xᵀ when `rowsOf`) and column j of Y [rows, ky]. */
function absCos(x: ArrayLike<number>, y: ArrayLike<number>, rows: number, kx: number, ky: number, j: number): number {
  let d = 0;
  let nx = 0;
  let ny = 0;
  for (let i = 0; i < rows; i++) {
    const a = x[i * kx + j];
    const b = y[i * ky + j];
    d += a * b;
    nx += a * a;
    ny += b * b;
  }
  return Math.abs(d) / Math.sqrt(nx * ny);
}

const toOutIn = (w: ArrayLike<number>, spec: FactoredLayer['linear']): Float64Array =>
  spec.layout === 'out_in' ? Float64Array.from(w) : transpose64(w, spec.inFeatures, spec.outFeatures);

/** Top-r factors of a float64 SVD as U_r S_r V_rᵀ [out, in]. */
function truncated(s: Svd64, r: number, out: number, inF: number, scale: number): Float64Array {
  const US = new Float64Array(out * r);
  for (let i = 0; i < out; i++) for (let j = 0; j < r; j++) US[i * r + j] = s.U[i * s.k + j] * s.S[j] * scale;
  const V = new Float64Array(inF * r);
  for (let i = 0; i < inF; i++) for (let j = 0; j < r; j++) V[i * r + j] = s.V[i * s.k + j];
  return matmul64(US, V, out, r, inF, false, true);
}

/** Checks deltas() against s · B R A of the layers' current values and the forward against W + ΔW as a LoRA. */
async function checkDeltas(rt: GpuRuntime, model: Transformer, run: MethodRun, name: string): Promise<void> {
  const layers = [...run.adapters.values()] as FactoredLayer[];
  const rng = new Rng(9);
  for (const l of layers) rt.write(l.core as NonNullable<FactoredLayer['core']>, Float32Array.from({ length: l.k * l.k }, () => rng.uniform(-0.5, 0.5)));
  const deltas = await run.deltas(rt);
  for (const l of layers) {
    const { inFeatures: inF, outFeatures: outF, modulePath } = l.linear;
    const v = await l.values(rt);
    const want = matmul64(matmul64(v.B, v.core as Float32Array, outF, l.k, l.k), v.A, outF, l.k, inF).map((x) => x * l.scale);
    const d = deltas.find((x) => x.linear.modulePath === modulePath);
    if (!d) throw new Error(`no delta for ${modulePath}`);
    expect(d.k).toBe(l.k);
    expect(maxRelError(matmul64(d.B, d.A, outF, d.k, inF).map((x) => x * d.scaling), want)).toBeLessThan(1e-5);
  }
  const trained = await logits(model);
  await run.release(rt);
  for (const l of model.linears) expect(l.adapters).toHaveLength(0);
  const detach = attachDeltasAsLora(rt, model, deltas);
  const err = maxRelError(await logits(model), trained);
  console.log(`${name}: forward vs W + ΔW as LoRA: max rel error ${err.toExponential(2)}`);
  expect(err).toBeLessThan(1e-5);
  detach();
}

const MODELS = [
  ['llama-tiny', ['q_proj', 'v_proj']],
  ['gpt2-tiny', ['c_attn']],
] as const;

describe.each(MODELS)('LoRA-XS on %s %j', (name, targets) => {
  it('B = U_r, A = Σ_r V_rᵀ of W, small seeded R, r² parameters, exact deltas', async () => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, name);
    const model = new Transformer(rt, m.spec, m.weights, 32);
    for (const l of model.linears) l.adapters.length = 0;
    const base = await logits(model);
    const r = 4;
    const run = await attachLoraXs(setupOf(rt, model, m.checkpoint), lora(targets, r), METHOD_DEFAULTS);
    expect(run.method).toBe('loraxs');
    const layers = [...run.adapters.values()] as FactoredLayer[];
    expect(run.parameterCount()).toBe(layers.length * r * r);
    for (const l of layers) {
      const { inFeatures: inF, outFeatures: outF, modulePath } = l.linear;
      expect(l.params().map((p) => p.name)).toEqual([latentKey(modulePath)]);
      expect(l.scale).toBe(2);
      const v = await l.values(rt);
      expect([v.A.length, v.B.length, (v.core as Float32Array).length]).toEqual([r * inF, outF * r, r * r]);
      expect(Math.max(...Array.from(v.core as Float32Array, Math.abs))).toBeLessThan(1e-4);
      const ref = svd64(toOutIn(await m.checkpoint.read(l.linear.weightName), l.linear), outF, inF);
      const At = transpose64(v.A, r, inF); // [in, r] = V_r Σ_r
      for (let j = 0; j < r; j++) {
        expect(absCos(v.B, ref.U, outF, r, ref.k, j)).toBeGreaterThan(1 - 1e-4);
        expect(absCos(At, ref.V, inF, r, ref.k, j)).toBeGreaterThan(1 - 1e-4);
        let norm = 0;
        for (let i = 0; i < inF; i++) norm += At[i * r + j] ** 2;
        expect(Math.abs(Math.sqrt(norm) - ref.S[j]) / ref.S[j]).toBeLessThan(1e-4);
      }
    }
    expect(maxRelError(await logits(model), base)).toBeLessThan(1e-4);
    await checkDeltas(rt, model, run, `${name} LoRA-XS`);
  });
});

describe.each(MODELS)('LoRA-SB on %s %j', (name, targets) => {
  it('B, A, R from the float64 SVD of minus the mean calibration gradient', async () => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, name);
    const model = new Transformer(rt, m.spec, m.weights, 32);
    for (const l of model.linears) l.adapters.length = 0;
    const setup = setupOf(rt, model, m.checkpoint);
    const batches = 2;
    const r = 3;
    // Reference gradients: a LoRA layer with A = I [in, in] and B = 0 leaves the model unchanged and its dB is Σ dyᵀ x.
    const refLayers = model.linears
      .filter((l) => targets.some((t) => l.spec.modulePath.endsWith(`.${t}`)))
      .map((lin) => {
        const { inFeatures: inF, outFeatures: outF } = lin.spec;
        const eye = new Float32Array(inF * inF);
        for (let i = 0; i < inF; i++) eye[i * inF + i] = 1;
        const layer = new LoraLayer(rt, lin.spec, inF, 1, 0, 0, { A: eye, B: new Float32Array(outF * inF) });
        lin.adapters.push(layer);
        return layer;
      });
    await setup.calibrate(batches, true);
    const grads = new Map<string, Float64Array>();
    for (const l of refLayers) grads.set(l.linear.modulePath, Float64Array.from(await rt.read(l.grads().B), (g) => -g / batches));
    for (const l of model.linears) l.adapters.length = 0;
    for (const l of refLayers) l.release(rt);

    const eta = 0.01;
    const run = await attachLoraSb(setup, lora(targets, r), { ...METHOD_DEFAULTS, lorasbBatches: batches }, eta);
    expect(run.method).toBe('lorasb');
    const layers = [...run.adapters.values()] as FactoredLayer[];
    expect(layers).toHaveLength(refLayers.length);
    expect(run.parameterCount()).toBe(layers.length * r * r);
    for (const l of layers) {
      const { inFeatures: inF, outFeatures: outF, modulePath } = l.linear;
      expect(l.params().map((p) => p.name)).toEqual([latentKey(modulePath)]);
      const negG = grads.get(modulePath) as Float64Array;
      const ref = svd64(negG, outF, inF);
      const v = await l.values(rt);
      const At = transpose64(v.A, r, inF);
      let worst = 0;
      for (let j = 0; j < r; j++) worst = Math.max(worst, 1 - absCos(v.B, ref.U, outF, r, ref.k, j), 1 - absCos(At, ref.V, inF, r, ref.k, j));
      // s · B R A must be η times the rank-r truncation of −Ḡ; R = (η / s) diag(S_r).
      const got = matmul64(matmul64(v.B, v.core as Float32Array, outF, r, r), v.A, outF, r, inF).map((x) => x * l.scale);
      const want = truncated(ref, r, outF, inF, eta);
      const err = maxRelError(got, want);
      const R = v.core as Float32Array;
      const wantR = Float64Array.from({ length: r * r }, (_, i) => (i % (r + 1) === 0 ? (eta / l.scale) * ref.S[i / (r + 1)] : 0));
      console.log(`${name} ${modulePath}: σ(−Ḡ) ${Array.from(ref.S.slice(0, r + 1), (x) => x.toExponential(3)).join(' ')}; 1 − |cos| ≤ ${worst.toExponential(2)}; s·BRA max rel error ${err.toExponential(2)}`);
      expect(worst).toBeLessThan(1e-3);
      expect(err).toBeLessThan(1e-3);
      expect(maxRelError(R, wantR)).toBeLessThan(1e-4);
    }
    await checkDeltas(rt, model, run, `${name} LoRA-SB`);
  });
});
