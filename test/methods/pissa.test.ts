/**
 * PiSSA and MiLoRA against PEFT 0.14 (fixtures/reference/<model>/pissa, see its README): the initial factors
 * (sign-free s·B A, and A, B after sign alignment), the residual base, logits and gradients at init, and PEFT's
 * conversion to a plain rank-2r LoRA on the original base. Tolerances are the README's where it gives them.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Linear } from '../../src/engine/linear';
import { Transformer } from '../../src/engine/transformer';
import type { Checkpoint } from '../../src/formats/checkpoint';
import { namedBlobsFromDir } from '../../src/formats/nodeFiles';
import { loraKey, openAdapter } from '../../src/formats/peft';
import type { GpuRuntime } from '../../src/gpu/runtime';
import type { MethodSetup } from '../../src/methods/method';
import { readOriginalOutIn } from '../../src/methods/lowrank/baseWeights';
import { attachPissa, loadTrainedAdapter } from '../../src/methods/pissa';
import type { LinearSpec } from '../../src/model/spec';
import { type AdapterFiles, type LoraSettings, METHOD_DEFAULTS } from '../../src/run/api';
import { gpuRuntime, maxRelError, relNormError } from '../support/gpu';
import { matmul64, svd64, transpose64 } from '../support/linalg64';
import { loadFixtureModel, readJson, readSafetensor, refDir, withAdapter } from '../support/reference';
import { lossAndBackward, modelLogits } from '../support/methods';

interface PissaJson {
  ids: number[][];
  lora_config: { r: number; lora_alpha: number; target_modules: string[] };
  scaling: number;
  loss_at_pissa_init: number;
}

// ---------------------------------------------------------------- helpers

const logitsOf = modelLogits;

function setupFor(rt: GpuRuntime, linears: Linear[], checkpoint: Checkpoint, seed = 1): MethodSetup {
  return {
    rt,
    linears,
    checkpoint,
    seed,
    calibrate: () => Promise.reject(new Error('no calibration in these tests')),
    progress: () => undefined,
  };
}

function settings(cfg: PissaJson['lora_config']): LoraSettings {
  return { rank: cfg.r, alpha: cfg.lora_alpha, useRslora: false, dropout: 0, targets: cfg.target_modules, initLoraWeights: 'default' };
}

/** s · B [out, r] A [r, in] in float64. */
function product(B: ArrayLike<number>, A: ArrayLike<number>, outF: number, r: number, inF: number, s: number): Float64Array {
  return matmul64(B, A, outF, r, inF).map((x) => s * x);
}

/** ±1 per component: the sign that makes our row i of A agree with the reference's. */
function componentSigns(A: ArrayLike<number>, Aref: ArrayLike<number>, r: number, inF: number): number[] {
  return Array.from({ length: r }, (_, i) => {
    let d = 0;
    for (let j = 0; j < inF; j++) d += A[i * inF + j] * Aref[i * inF + j];
    return d < 0 ? -1 : 1;
  });
}

function flipRows(x: Float32Array, signs: number[], cols: number): Float32Array {
  return x.map((v, idx) => v * signs[Math.floor(idx / cols)]);
}

function flipCols(x: Float32Array, signs: number[], cols: number): Float32Array {
  return x.map((v, idx) => v * signs[idx % cols]);
}

async function saveAdapter(files: AdapterFiles): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'webpeft-pissa-'));
  await writeFile(join(dir, 'adapter_config.json'), files.config);
  await writeFile(join(dir, 'adapter_model.safetensors'), files.weights);
  return dir;
}

/** W − (top-r part of W) in float64, in the checkpoint's layout: the exact PiSSA residual. */
async function residual64(ckpt: Checkpoint, s: LinearSpec, r: number): Promise<Float64Array> {
  const W = await readOriginalOutIn(ckpt, s);
  const svd = svd64(W, s.outFeatures, s.inFeatures);
  const k = svd.k;
  const res = Float64Array.from(W);
  for (let o = 0; o < s.outFeatures; o++) {
    for (let j = 0; j < s.inFeatures; j++) {
      for (let c = 0; c < r; c++) res[o * s.inFeatures + j] -= svd.S[c] * svd.U[o * k + c] * svd.V[j * k + c];
    }
  }
  return s.layout === 'out_in' ? res : transpose64(res, s.outFeatures, s.inFeatures);
}

// ---------------------------------------------------------------- PiSSA vs PEFT

describe.each(['llama-tiny', 'gpt2-tiny', 'stories260K', 'qwen2-tiny-bias'])('PiSSA on %s against PEFT', (name) => {
  it('init, residual, logits and gradients at init, and the rank-2r conversion', async () => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, name);
    const ref = await readJson<PissaJson>(refDir(name, 'pissa', 'pissa.json'));
    const model = new Transformer(rt, m.spec, m.weights, 32);
    const baseLogits = await logitsOf(model, ref.ids);

    const run = await attachPissa(setupFor(rt, model.linears, m.checkpoint), settings(ref.lora_config), { ...METHOD_DEFAULTS, svd: 'exact' }, 'pissa');
    expect(run.layers.length).toBeGreaterThan(0);
    const initial = refDir(name, 'pissa', 'initial', 'adapter_model.safetensors');
    const worst = { sBA: 0, A: 0, B: 0, residual: 0, residual64: 0, grad: 0 };
    const signs = new Map<string, number[]>();
    for (const l of run.layers) {
      const s = l.linear.spec;
      const { r, scale } = l.lora;
      expect(scale).toBe(ref.scaling);
      const Aref = await readSafetensor(initial, loraKey(s.modulePath, 'A'));
      const Bref = await readSafetensor(initial, loraKey(s.modulePath, 'B'));
      // Sign-free: s·B A is the top-r part of W.
      worst.sBA = Math.max(worst.sBA, maxRelError(product(l.B0, l.A0, s.outFeatures, r, s.inFeatures, scale), product(Bref, Aref, s.outFeatures, r, s.inFeatures, scale)));
      // A and B themselves, after flipping row i of A and column i of B together.
      const sg = componentSigns(l.A0, Aref, r, s.inFeatures);
      signs.set(s.modulePath, sg);
      worst.A = Math.max(worst.A, maxRelError(flipRows(l.A0, sg, s.inFeatures), Aref));
      worst.B = Math.max(worst.B, maxRelError(flipCols(l.B0, sg, r), Bref));
      // The residual in the base buffer, in the checkpoint's layout, against PEFT's.
      const residual = await rt.read(l.linear.weight);
      worst.residual = Math.max(worst.residual, maxRelError(residual, await readSafetensor(refDir(name, 'pissa', 'residual.safetensors'), s.weightName)));
      const truth = await residual64(m.checkpoint, s, r);
      worst.residual64 = Math.max(worst.residual64, maxRelError(residual, truth));
    }
    console.log(
      `${name} PiSSA init vs PEFT (max rel errors): s·BA ${worst.sBA.toExponential(2)}, A ${worst.A.toExponential(2)}, B ${worst.B.toExponential(2)}, ` +
        `residual ${worst.residual.toExponential(2)}; residual vs float64 ${worst.residual64.toExponential(2)}`,
    );
    expect(worst.sBA).toBeLessThan(1e-4);
    expect(worst.A).toBeLessThan(1e-3);
    expect(worst.B).toBeLessThan(1e-3);
    // Two float32 SVDs meet here. PEFT's own (LAPACK) residual is up to 3.8e-5 (relative to max |W_res|) from the
    // float64 one on gpt2-tiny (σ4/σ5 = 1.0017); ours, a float32 Jacobi accurate to ~1e-6 σ₁, is up to 1.9e-5 from
    // it (1.3e-5 on stories260K, whose σ₁ is 20x its largest residual entry). Hence 2e-5 against float64 and
    // 5e-5 against PEFT, rather than the 1e-5 a single float32 error would suggest.
    expect(worst.residual64).toBeLessThan(2e-5);
    expect(worst.residual).toBeLessThan(5e-5);

    const initLogits = await logitsOf(model, ref.ids);
    const initErr = maxRelError(initLogits, baseLogits);
    expect(initErr).toBeLessThan(1e-4);

    const loss = await lossAndBackward(model, ref.ids);
    expect(Math.abs(loss - ref.loss_at_pissa_init)).toBeLessThan(2e-5);
    for (const l of run.layers) {
      const sg = signs.get(l.linear.spec.modulePath) as number[];
      const g = l.lora.grads();
      const gA = flipRows(await rt.read(g.A), sg, l.linear.spec.inFeatures);
      const gB = flipCols(await rt.read(g.B), sg, l.lora.r);
      for (const [which, got] of [['A', gA], ['B', gB]] as const) {
        const err = relNormError(got, await readSafetensor(refDir(name, 'pissa', 'grads.safetensors'), loraKey(l.linear.spec.modulePath, which)));
        worst.grad = Math.max(worst.grad, err);
      }
    }
    console.log(`${name} PiSSA at init: logits vs base ${initErr.toExponential(2)}, loss ${loss} vs ${ref.loss_at_pissa_init}, worst gradient rel norm error ${worst.grad.toExponential(2)}`);
    expect(worst.grad).toBeLessThan(1e-3);

    // PEFT's trained adapter (one SGD step) loaded into our run: our SVD, PEFT's trained A and B.
    await loadTrainedAdapter(rt, run, await openAdapter(await namedBlobsFromDir(refDir(name, 'pissa', 'after_step'))));
    const trained = maxRelError(await logitsOf(model, ref.ids), await readSafetensor(refDir(name, 'pissa', 'after_step', 'logits.safetensors'), 'logits'));
    expect(trained).toBeLessThan(1e-4);
    const files = await run.exportAdapter(rt, m.checkpoint, `models/${name}`);
    // The config PEFT's conversion wrote (r 2r, alpha 2α, init_lora_weights true), field for field; only the
    // order of target_modules differs (PEFT keeps a Python set: hash order).
    const sorted = (text: string): Record<string, unknown> => {
      const c = JSON.parse(text) as Record<string, unknown>;
      return { ...c, target_modules: [...(c.target_modules as string[])].sort() };
    };
    expect(sorted(files.config)).toEqual(sorted(await readFile(refDir(name, 'pissa', 'converted', 'adapter_config.json'), 'utf8')));
    await run.release(rt);
    expect(maxRelError(await logitsOf(model, ref.ids), baseLogits)).toBe(0);

    // The export on the ORIGINAL base (a fresh model + LoRA import) against PEFT's converted logits.
    const dir = await saveAdapter(files);
    const converted = await withAdapter(rt, m, dir);
    const got = await logitsOf(converted.model, ref.ids);
    const err = maxRelError(got, await readSafetensor(refDir(name, 'pissa', 'converted', 'logits.safetensors'), 'logits'));
    console.log(`${name} PiSSA: trained logits vs PEFT ${trained.toExponential(2)}; converted on the original base vs PEFT ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
    for (const l of converted.layers) l.release(rt);
    for (const l of model.linears) l.adapters.length = 0;
  });
});

// ---------------------------------------------------------------- MiLoRA and randomized PiSSA

describe('MiLoRA and randomized PiSSA on llama-tiny', () => {
  const targets = ['q_proj', 'v_proj', 'down_proj'];

  it('MiLoRA: s·B A is the product of the r smallest float64 triplets; logits unchanged', async () => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, 'llama-tiny');
    const { ids } = await readJson<PissaJson>(refDir('llama-tiny', 'pissa', 'pissa.json'));
    const model = new Transformer(rt, m.spec, m.weights, 32);
    const base = await logitsOf(model, ids);
    const lora: LoraSettings = { rank: 4, alpha: 8, useRslora: true, dropout: 0, targets, initLoraWeights: 'default' };
    const run = await attachPissa(setupFor(rt, model.linears, m.checkpoint), lora, { ...METHOD_DEFAULTS, svd: 'randomized' }, 'milora');
    expect(run.method).toBe('milora');
    let worst = 0;
    for (const l of run.layers) {
      const s = l.linear.spec;
      const r = l.lora.r;
      expect(l.lora.scale).toBeCloseTo(8 / 2, 12); // rsLoRA: alpha / √r
      const W = await readOriginalOutIn(m.checkpoint, s);
      const svd = svd64(W, s.outFeatures, s.inFeatures);
      const k = svd.k;
      // Σ over the last r triplets of σ u vᵀ.
      const want = new Float64Array(s.outFeatures * s.inFeatures);
      for (let c = k - r; c < k; c++) {
        for (let o = 0; o < s.outFeatures; o++) for (let j = 0; j < s.inFeatures; j++) want[o * s.inFeatures + j] += svd.S[c] * svd.U[o * k + c] * svd.V[j * k + c];
      }
      const got = product(l.B0, l.A0, s.outFeatures, r, s.inFeatures, l.lora.scale);
      // Relative to σ₁: the exact SVD is accurate to ~1e-6 σ₁ on every triplet.
      let diff = 0;
      for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i] - want[i]));
      const err = diff / svd.S[0];
      worst = Math.max(worst, err);
      console.log(`MiLoRA ${s.modulePath}: σ_min ${svd.S[k - 1].toExponential(3)}, gap σ_{k-r}/σ_{k-r+1} ${(svd.S[k - r - 1] / svd.S[k - r]).toFixed(4)}, max |sBA − f64| / σ₁ ${err.toExponential(2)}`);
    }
    expect(worst).toBeLessThan(1e-5);
    expect(maxRelError(await logitsOf(model, ids), base)).toBeLessThan(1e-4);
    await run.release(rt);
  });

  it('randomized PiSSA (4 power iterations) is a near-optimal rank-r split; logits unchanged; release restores', async () => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, 'llama-tiny');
    const { ids } = await readJson<PissaJson>(refDir('llama-tiny', 'pissa', 'pissa.json'));
    const model = new Transformer(rt, m.spec, m.weights, 32);
    const base = await logitsOf(model, ids);
    const lora: LoraSettings = { rank: 8, alpha: 16, useRslora: false, dropout: 0, targets, initLoraWeights: 'default' };
    const fractions: number[] = [];
    const setup = { ...setupFor(rt, model.linears, m.checkpoint, 7), progress: (_: string, f: number) => void fractions.push(f) };
    const run = await attachPissa(setup, lora, { ...METHOD_DEFAULTS, svd: 'randomized', powerIters: 4 }, 'pissa');
    expect(fractions[fractions.length - 1]).toBe(1);
    expect(fractions.length).toBe(run.layers.length + 1);
    for (const l of run.layers) {
      const s = l.linear.spec;
      const W = await readOriginalOutIn(m.checkpoint, s);
      const S = svd64(W, s.outFeatures, s.inFeatures).S;
      const best = Math.sqrt(S.slice(l.lora.r).reduce((a, x) => a + x * x, 0));
      const approx = product(l.B0, l.A0, s.outFeatures, l.lora.r, s.inFeatures, l.lora.scale);
      const tail = Math.sqrt(W.reduce((a, w, i) => a + (w - approx[i]) ** 2, 0));
      console.log(`randomized PiSSA ${s.modulePath}: ‖W − sBA‖ / optimal ${(tail / best).toFixed(6)}`);
      expect(tail / best).toBeLessThan(1.01);
    }
    expect(maxRelError(await logitsOf(model, ids), base)).toBeLessThan(1e-4);
    expect(run.parameterCount()).toBe(run.layers.reduce((n, l) => n + 8 * (l.linear.spec.inFeatures + l.linear.spec.outFeatures), 0));
    const deltas = await run.deltas(rt);
    expect(deltas.every((d) => d.k === 16 && d.scaling === 2)).toBe(true);
    await run.release(rt);
    expect(model.linears.every((l) => l.adapters.length === 0)).toBe(true);
    expect(maxRelError(await logitsOf(model, ids), base)).toBe(0);
  });

  it('refuses a rank above min(out, in) without touching any weight', async () => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, 'llama-tiny');
    const model = new Transformer(rt, m.spec, m.weights, 32);
    const before = await rt.read(model.linears[0].weight);
    const lora: LoraSettings = { rank: 40, alpha: 16, useRslora: false, dropout: 0, targets: ['q_proj', 'k_proj'], initLoraWeights: 'default' };
    await expect(attachPissa(setupFor(rt, model.linears, m.checkpoint), lora, METHOD_DEFAULTS, 'pissa')).rejects.toThrow(/rank 40 needs 1 ≤ r ≤ min/);
    expect(model.linears.every((l) => l.adapters.length === 0)).toBe(true);
    expect(await rt.read(model.linears[0].weight)).toEqual(before);
  });
});
