/**
 * exportDeltasAsLora: any method's ΔW = s·B A as a plain PEFT LoRA adapter on the original base. PEFT must read
 * back each layer's rank and scaling (rank_pattern / alpha_pattern included), target exactly the exported layers,
 * and the adapter applied by the engine must reproduce the deltas' logits.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { trainingPass } from '../../src/engine/pass';
import type { Transformer } from '../../src/engine/transformer';
import { namedBlobsFromDir } from '../../src/formats/nodeFiles';
import { isTargetModule, openAdapter, rankFor, scalingFor } from '../../src/formats/peft';
import { view } from '../../src/gpu/tensor';
import { exportDeltasAsLora } from '../../src/methods/lowrank/export';
import type { LowRankDelta } from '../../src/methods/method';
import type { LinearSpec } from '../../src/model/spec';
import type { AdapterFiles } from '../../src/run/api';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';
import { loadFixtureModel, readJson, refDir, referenceBatch, withAdapter } from '../support/reference';

async function logitsOf(model: Transformer, ids: number[][]): Promise<Float32Array> {
  model.setInputs(referenceBatch(ids).inputs);
  const p = trainingPass(ids.length, ids[0].length, false, 0);
  const hidden = model.forwardHidden(p);
  const out = model.arena.get('logits', model.spec.vocab);
  model.logits(hidden, p.M, out);
  return model.rt.read(view(out, [p.M, model.spec.vocab]));
}

async function saveAdapter(files: AdapterFiles): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'webpeft-export-'));
  await writeFile(join(dir, 'adapter_config.json'), files.config);
  await writeFile(join(dir, 'adapter_model.safetensors'), files.weights);
  return dir;
}

function delta(linear: LinearSpec, k: number, scaling: number, seed: number): LowRankDelta {
  return { linear, k, scaling, A: randomArray(k * linear.inFeatures, seed, 0.1), B: randomArray(linear.outFeatures * k, seed + 1, 0.1) };
}

describe('exportDeltasAsLora', () => {
  it('gives PEFT the rank and scaling of every layer and targets only the exported layers', async () => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, 'llama-tiny');
    const specs = m.weights.blocks.flatMap((b) => b.linears.map((l) => l.spec));
    const q = specs.filter((s) => s.name === 'q_proj');
    const v = specs.filter((s) => s.name === 'v_proj');
    // Uniform: PiSSA r 4, alpha 8 → r 8, alpha 16, short target names, no patterns.
    const uniform = [...q, ...v].map((s, i) => delta(s, 8, 2, i * 2));
    const u = JSON.parse((await exportDeltasAsLora(uniform, { baseModelNameOrPath: 'x', base: m.checkpoint, targets: ['q_proj', 'v_proj'] })).config);
    expect([u.r, u.lora_alpha, u.use_rslora, u.init_lora_weights, u.fan_in_fan_out]).toEqual([8, 16, false, true, false]);
    expect(u.target_modules).toEqual(['q_proj', 'v_proj']);
    expect([u.rank_pattern, u.alpha_pattern]).toEqual([{}, {}]);

    // Mixed ranks and scalings (rsLoRA's alpha/√r included), one layer at rank 0.
    const mixed = [delta(q[0], 6, 2, 1), delta(q[1], 3, 2, 3), delta(v[0], 6, 1 / Math.sqrt(3), 5), delta(v[1], 0, 2, 7)];
    mixed[3] = { ...mixed[3], A: new Float32Array(0), B: new Float32Array(0) };
    const files = await exportDeltasAsLora(mixed, { baseModelNameOrPath: 'x', base: m.checkpoint, targets: ['q_proj', 'v_proj'], dropout: 0.05 });
    const dir = await saveAdapter(files);
    const opened = await openAdapter(await namedBlobsFromDir(dir));
    expect(opened.config.r).toBe(6);
    expect(opened.config.lora_dropout).toBe(0.05);
    expect(opened.modules.sort()).toEqual(mixed.slice(0, 3).map((d) => d.linear.modulePath).sort());
    for (const d of mixed.slice(0, 3)) {
      expect(rankFor(opened.config, d.linear.modulePath)).toBe(d.k);
      expect(scalingFor(opened.config, d.linear.modulePath)).toBeCloseTo(d.scaling, 12);
    }
    // The rank-0 layer is no target, so PEFT makes no (zero-initialised, wrong) adapter for it.
    expect(isTargetModule(opened.config, v[1].modulePath)).toBe(false);
    for (const s of specs) expect(isTargetModule(opened.config, s.modulePath)).toBe(mixed.slice(0, 3).some((d) => d.linear === s));
  });

  it('refuses keys the base checkpoint does not have', async () => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, 'llama-tiny');
    const s = m.weights.blocks[0].linears[0].spec;
    const bad = delta({ ...s, weightName: 'model.layers.9.self_attn.q_proj.weight', modulePath: 'model.layers.9.self_attn.q_proj' }, 2, 1, 1);
    await expect(exportDeltasAsLora([bad], { baseModelNameOrPath: 'x', base: m.checkpoint, targets: ['q_proj'] })).rejects.toThrow(/base checkpoint has no model\.layers\.9/);
    const wrong = delta({ ...s, inFeatures: s.inFeatures + 1 }, 2, 1, 1);
    await expect(exportDeltasAsLora([wrong], { baseModelNameOrPath: 'x', base: m.checkpoint, targets: ['q_proj'] })).rejects.toThrow(/adapter expects in/);
    await expect(exportDeltasAsLora([], { baseModelNameOrPath: 'x', base: m.checkpoint, targets: ['q_proj'] })).rejects.toThrow(/nothing|no trained update/);
  });

  it('round-trips a GPT-2 (Conv1D, fan_in_fan_out) update through the engine', async () => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, 'gpt2-tiny');
    const { ids } = await readJson<{ ids: number[][] }>(refDir('gpt2-tiny', 'lora', 'r4_qv', 'case.json'));
    const direct = await withAdapter(rt, m, refDir('gpt2-tiny', 'lora', 'r4_qv', 'after_step'));
    const want = await logitsOf(direct.model, ids);
    // The same ΔW with every factor doubled in rank (B·A = [B/2, B/2]·[A; A]): another k, another alpha.
    const deltas: LowRankDelta[] = [];
    for (const l of direct.layers) {
      const A = await rt.read(l.A);
      const B = await rt.read(l.B);
      const { inFeatures: inF, outFeatures: outF } = l.linear;
      const A2 = new Float32Array(2 * l.r * inF);
      A2.set(A, 0);
      A2.set(A, l.r * inF);
      const B2 = new Float32Array(outF * 2 * l.r);
      for (let o = 0; o < outF; o++) for (let i = 0; i < l.r; i++) B2[o * 2 * l.r + i] = B2[o * 2 * l.r + l.r + i] = B[o * l.r + i] / 2;
      deltas.push({ linear: l.linear, k: 2 * l.r, A: A2, B: B2, scaling: l.scale });
    }
    const files = await exportDeltasAsLora(deltas, { baseModelNameOrPath: 'models/gpt2-tiny', base: m.checkpoint, targets: ['c_attn'] });
    const cfg = JSON.parse(files.config);
    expect([cfg.r, cfg.lora_alpha, cfg.fan_in_fan_out, cfg.target_modules]).toEqual([8, 16, true, ['c_attn']]);
    const back = await withAdapter(rt, m, await saveAdapter(files));
    const err = maxRelError(await logitsOf(back.model, ids), want);
    console.log(`gpt2-tiny export round trip: max rel logit error ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-5);
  });
});
