/**
 * The merged checkpoint: loaded back with the engine, it must give the logits of the base with the adapter
 * applied (1e-4 relative to the largest logit, DESIGN.md's logits tolerance). The deltas are PEFT's after-step
 * LoRA adapters of the reference fixtures, so ΔW is known independently of any method here.
 */
import { describe, expect, it } from 'vitest';
import { trainingPass } from '../../src/engine/pass';
import { Transformer } from '../../src/engine/transformer';
import { parseSafetensors, readTensorF32 } from '../../src/formats/safetensors';
import type { GpuRuntime } from '../../src/gpu/runtime';
import { view } from '../../src/gpu/tensor';
import type { LowRankDelta } from '../../src/methods/method';
import { mergedCheckpoint } from '../../src/methods/lowrank/merge';
import type { OutputFile } from '../../src/run/api';
import { loadModel } from '../../src/run/loadModel';
import { gpuRuntime, maxRelError } from '../support/gpu';
import { loadFixtureModel, readJson, refDir, referenceBatch, withAdapter } from '../support/reference';

async function logitsOf(model: Transformer, ids: number[][]): Promise<Float32Array> {
  model.setInputs(referenceBatch(ids).inputs);
  const p = trainingPass(ids.length, ids[0].length, false, 0);
  const hidden = model.forwardHidden(p);
  const out = model.arena.get('logits', model.spec.vocab);
  model.logits(hidden, p.M, out);
  return model.rt.read(view(out, [p.M, model.spec.vocab]));
}

async function loadMerged(rt: GpuRuntime, files: OutputFile[]): Promise<Transformer> {
  const m = await loadModel(rt, files.map((f) => ({ name: `merged/${f.name}`, blob: new Blob([f.data]) })));
  return new Transformer(rt, m.spec, m.weights, 32);
}

describe.each(['llama-tiny', 'gpt2-tiny', 'qwen2-tiny-bias'])('merged checkpoint of %s', (name) => {
  it('loads back and gives the adapter-applied logits', async () => {
    const rt = await gpuRuntime();
    const base = await loadFixtureModel(rt, name);
    const { ids } = await readJson<{ ids: number[][] }>(refDir(name, 'lora', 'r4_qv', 'case.json'));
    const { model, layers } = await withAdapter(rt, base, refDir(name, 'lora', 'r4_qv', 'after_step'));
    const want = await logitsOf(model, ids);
    const deltas: LowRankDelta[] = [];
    for (const l of layers) deltas.push({ linear: l.linear, k: l.r, A: await rt.read(l.A), B: await rt.read(l.B), scaling: l.scale });
    let calls = 0;
    const files = await mergedCheckpoint(rt, base.checkpoint, deltas, () => calls++);
    expect(calls).toBe(base.checkpoint.tensorNames().length);

    const names = files.map((f) => f.name);
    expect(names).toEqual(['config.json', 'model.safetensors', 'generation_config.json']);
    const cfg = JSON.parse(new TextDecoder().decode(files[0].data)) as Record<string, unknown>;
    expect(cfg.torch_dtype).toBe('float32');
    expect({ ...cfg, torch_dtype: base.checkpoint.config.torch_dtype }).toEqual(base.checkpoint.config);
    // Every base tensor, nothing more (a tied head stays tied), all F32 with the base's shapes.
    const st = await parseSafetensors(new Blob([files[1].data]), 'model.safetensors');
    expect([...st.entries.keys()].sort()).toEqual(base.checkpoint.tensorNames().sort());
    for (const e of st.entries.values()) {
      expect(e.dtype).toBe('F32');
      expect(e.shape).toEqual(base.checkpoint.entry(e.name).shape);
    }
    if (base.spec.tiedEmbeddings) expect(st.entries.has('lm_head.weight')).toBe(false);

    const merged = await loadMerged(rt, files);
    const got = await logitsOf(merged, ids);
    const err = maxRelError(got, want);
    console.log(`${name}: merged vs adapter-applied logits, max rel error ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
    // And against PEFT's own merge_and_unload of the same adapter.
    const peft = await readSafetensorMaybe(refDir(name, 'lora', 'r4_qv', 'after_step', 'logits.safetensors'), 'logits_merged');
    if (peft) expect(maxRelError(got, peft)).toBeLessThan(1e-4);
  });
});

describe('merged checkpoint files', () => {
  it('copies the tokenizer files and converts F16 weights to F32', async () => {
    const rt = await gpuRuntime();
    const stories = await loadFixtureModel(rt, 'stories260K');
    const files = await mergedCheckpoint(rt, stories.checkpoint, []);
    expect(files.map((f) => f.name).sort()).toEqual(
      ['config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer.model', 'tokenizer_config.json'].sort(),
    );
    const tok = files.find((f) => f.name === 'tokenizer.json') as OutputFile;
    expect(new TextDecoder().decode(tok.data)).toBe(await (stories.checkpoint.tokenizerJson as Blob).text());

    const f16 = await loadFixtureModel(rt, 'tiny-random-llama');
    expect(f16.checkpoint.dtypes()).toContain('F16');
    const out = await mergedCheckpoint(rt, f16.checkpoint, []);
    const st = await parseSafetensors(new Blob([(out.find((f) => f.name === 'model.safetensors') as OutputFile).data]), 'model.safetensors');
    const name = 'model.layers.0.self_attn.q_proj.weight';
    expect(st.entries.get(name)?.dtype).toBe('F32');
    expect(await readTensorF32(st, name)).toEqual(await f16.checkpoint.read(name));
    expect(JSON.parse(new TextDecoder().decode(out[0].data)).torch_dtype).toBe('float32');
  });
});

async function readSafetensorMaybe(path: string, key: string): Promise<Float32Array | null> {
  const { openAsBlob } = await import('node:fs');
  const file = await parseSafetensors(await openAsBlob(path), path);
  return file.entries.has(key) ? readTensorF32(file, key) : null;
}
