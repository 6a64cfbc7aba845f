/**
 * OLoRA as PEFT's olora_init: s·B A = s·Q_r R_r, the float64 QR of W's first r columns projected onto W; the model
 * unchanged at init; the rank-2r export on the original base reproduces a trained run; GPT-2 refused.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Linear } from '../../src/engine/linear';
import { trainingPass } from '../../src/engine/pass';
import { Transformer } from '../../src/engine/transformer';
import type { Checkpoint } from '../../src/formats/checkpoint';
import type { GpuRuntime } from '../../src/gpu/runtime';
import { view } from '../../src/gpu/tensor';
import type { MethodSetup } from '../../src/methods/method';
import { readOriginalOutIn } from '../../src/methods/lowrank/baseWeights';
import { attachOlora } from '../../src/methods/olora';
import type { AdapterFiles, LoraSettings } from '../../src/run/api';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';
import { matmul64, qr64 } from '../support/linalg64';
import { loadFixtureModel, readJson, refDir, referenceBatch, withAdapter } from '../support/reference';

async function logitsOf(model: Transformer, ids: number[][]): Promise<Float32Array> {
  model.setInputs(referenceBatch(ids).inputs);
  const p = trainingPass(ids.length, ids[0].length, false, 0);
  const hidden = model.forwardHidden(p);
  const out = model.arena.get('logits', model.spec.vocab);
  model.logits(hidden, p.M, out);
  return model.rt.read(view(out, [p.M, model.spec.vocab]));
}

function setupFor(rt: GpuRuntime, linears: Linear[], checkpoint: Checkpoint): MethodSetup {
  return { rt, linears, checkpoint, seed: 1, calibrate: () => Promise.reject(new Error('no calibration')), progress: () => undefined };
}

async function saveAdapter(files: AdapterFiles): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'webpeft-olora-'));
  await writeFile(join(dir, 'adapter_config.json'), files.config);
  await writeFile(join(dir, 'adapter_model.safetensors'), files.weights);
  return dir;
}

describe.each(['llama-tiny', 'stories260K'])('OLoRA on %s', (name) => {
  it('matches the float64 QR product, keeps the model at init, and exports a working rank-2r LoRA', async () => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, name);
    const { ids } = await readJson<{ ids: number[][] }>(refDir(name, 'forward.json'));
    const model = new Transformer(rt, m.spec, m.weights, 32);
    const base = await logitsOf(model, ids);
    const lora: LoraSettings = { rank: 4, alpha: 8, useRslora: false, dropout: 0, targets: ['q_proj', 'v_proj', 'up_proj'], initLoraWeights: 'default' };
    const run = await attachOlora(setupFor(rt, model.linears, m.checkpoint), lora);
    expect(run.method).toBe('olora');
    let worst = 0;
    for (const l of run.layers) {
      const s = l.linear.spec;
      const r = l.lora.r;
      const W = await readOriginalOutIn(m.checkpoint, s);
      const first = new Float64Array(s.outFeatures * r);
      for (let o = 0; o < s.outFeatures; o++) for (let j = 0; j < r; j++) first[o * r + j] = W[o * s.inFeatures + j];
      const { Q } = qr64(first, s.outFeatures, r);
      const Rr = matmul64(Q, W, r, s.outFeatures, s.inFeatures, true);
      const want = matmul64(Q, Rr, s.outFeatures, r, s.inFeatures).map((x) => l.lora.scale * x);
      const got = matmul64(l.B0, l.A0, s.outFeatures, r, s.inFeatures).map((x) => l.lora.scale * x);
      worst = Math.max(worst, maxRelError(got, want));
      // B = Q_r has orthonormal columns.
      const gram = matmul64(l.B0, l.B0, r, s.outFeatures, r, true);
      for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) expect(Math.abs(gram[i * r + j] - (i === j ? 1 : 0))).toBeLessThan(1e-5);
    }
    console.log(`${name} OLoRA: s·B A vs float64 QR, max rel error ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-5);
    const initErr = maxRelError(await logitsOf(model, ids), base);
    expect(initErr).toBeLessThan(1e-4);

    // "Train": move every factor, then the export applied to the ORIGINAL base must give the same logits.
    run.layers.forEach((l, i) => {
      const noise = randomArray(l.A0.length, i + 1, 0.05);
      rt.write(l.lora.A, l.A0.map((x, j) => x * (1 + noise[j])));
      rt.write(l.lora.B, l.B0.map((x, j) => x * (1 + 0.1 * Math.sin(i + j))));
    });
    const trained = await logitsOf(model, ids);
    expect(maxRelError(trained, base)).toBeGreaterThan(1e-4);
    const files = await run.exportAdapter(rt, m.checkpoint, `models/${name}`);
    const cfg = JSON.parse(files.config);
    expect([cfg.r, cfg.lora_alpha, cfg.init_lora_weights, cfg.use_rslora]).toEqual([8, 16, true, false]);
    await run.release(rt);
    expect(maxRelError(await logitsOf(model, ids), base)).toBe(0);
    const back = await withAdapter(rt, m, await saveAdapter(files));
    const err = maxRelError(await logitsOf(back.model, ids), trained);
    console.log(`${name} OLoRA: logits at init vs base ${initErr.toExponential(2)}; export on the original base vs the run ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
    for (const l of back.layers) l.release(rt);
    for (const l of model.linears) l.adapters.length = 0;
  });
});

describe('OLoRA on GPT-2', () => {
  it('is refused with the reason, before any weight changes', async () => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, 'gpt2-tiny');
    const model = new Transformer(rt, m.spec, m.weights, 32);
    const before = await rt.read(model.linears[0].weight);
    const lora: LoraSettings = { rank: 4, alpha: 8, useRslora: false, dropout: 0, targets: ['c_attn'], initLoraWeights: 'default' };
    await expect(attachOlora(setupFor(rt, model.linears, m.checkpoint), lora)).rejects.toThrow(/Conv1D stores its weight as \[in, out\]/);
    expect(model.linears.every((l) => l.adapters.length === 0)).toBe(true);
    expect(await rt.read(model.linears[0].weight)).toEqual(before);
  });
});
