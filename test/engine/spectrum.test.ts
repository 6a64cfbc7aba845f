/**
 * `webpeft spectrum`'s engine side: the singular values of every 2-D weight of a checkpoint, in the schema of the
 * reference spectra.json (float64 SVDs by numpy), and of W + ΔW where a loaded PEFT adapter touches a weight.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { namedBlobsFromDir } from '../../src/formats/nodeFiles';
import { nodeGpu } from '../../src/gpu/node';
import type { SpectrumFile } from '../../src/run/api';
import { Session } from '../../src/run/session';
import { matmul64, singularValues64 } from '../support/linalg64';
import { FIXTURES, readSafetensor, refDir } from '../support/reference';

const TOP = 32;

function relDiff(actual: number[], expected: number[], count: number): number {
  let worst = 0;
  for (let i = 0; i < Math.min(count, expected.length); i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(1e-12, Math.abs(expected[0])));
  return worst;
}

describe('spectrum of a checkpoint', () => {
  it.each(['llama-tiny', 'gpt2-tiny'])('%s: every 2-D weight, leading singular values within 1e-3 of float64', { timeout: 300_000 }, async (model) => {
    const s = new Session(await nodeGpu());
    await s.init();
    await s.loadModel(await namedBlobsFromDir(join(FIXTURES, 'models', model)));
    const ours = await s.spectrum();
    const ref = JSON.parse(await readFile(refDir(model, 'spectra.json'), 'utf8')) as SpectrumFile;
    expect(Object.keys(ours.weights).sort()).toEqual(Object.keys(ref.weights).sort());
    let worst = 0;
    for (const [name, w] of Object.entries(ref.weights)) {
      expect(ours.weights[name].shape).toEqual(w.shape);
      expect(ours.weights[name].singular_values).toHaveLength(w.singular_values.length);
      worst = Math.max(worst, relDiff(ours.weights[name].singular_values, w.singular_values, TOP));
    }
    expect(worst).toBeLessThan(1e-3);
  });

  it('with a PEFT adapter: the singular values of W + s·BA', { timeout: 300_000 }, async () => {
    const s = new Session(await nodeGpu());
    await s.init();
    await s.loadModel(await namedBlobsFromDir(join(FIXTURES, 'models', 'llama-tiny')));
    const dir = refDir('llama-tiny', 'lora', 'r4_qv', 'after_step');
    await s.loadAdapter(await namedBlobsFromDir(dir));
    const ours = await s.spectrum();
    const config = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')) as { r: number; lora_alpha: number };
    const scaling = config.lora_alpha / config.r;
    const name = 'model.layers.1.self_attn.v_proj.weight';
    const W = await readSafetensor(join(FIXTURES, 'models', 'llama-tiny', 'model.safetensors'), name);
    const A = await readSafetensor(join(dir, 'adapter_model.safetensors'), 'base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight');
    const B = await readSafetensor(join(dir, 'adapter_model.safetensors'), 'base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight');
    const [out, inF] = ours.weights[name].shape;
    const BA = matmul64(B, A, out, config.r, inF);
    const merged = Float64Array.from(W, (v, i) => v + scaling * BA[i]);
    const expected = Array.from(singularValues64(merged, out, inF));
    expect(relDiff(ours.weights[name].singular_values, expected, TOP)).toBeLessThan(1e-4);
    // The adapter moved the spectrum measurably, so the comparison above is not just the base's.
    const baseSv = Array.from(singularValues64(W, out, inF));
    expect(relDiff(baseSv, expected, TOP)).toBeGreaterThan(1e-3);
    // Untouched weights keep the base spectrum.
    const ref = JSON.parse(await readFile(refDir('llama-tiny', 'spectra.json'), 'utf8')) as SpectrumFile;
    expect(relDiff(ours.weights['model.layers.0.mlp.up_proj.weight'].singular_values, ref.weights['model.layers.0.mlp.up_proj.weight'].singular_values, TOP)).toBeLessThan(1e-3);
  });
});
