/**
 * Our PEFT export against PEFT's own save_pretrained output for the same case: identical adapter_model.safetensors
 * bytes (same keys, shapes, dtype, layout and {"format":"pt"} metadata, same values) and the same config fields.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Transformer } from '../../src/engine/transformer';
import { namedBlobsFromDir } from '../../src/formats/nodeFiles';
import { openAdapter, parseLoraAdapterConfig } from '../../src/formats/peft';
import { attachLora } from '../../src/methods/lora/attach';
import type { LoraConfig } from '../../src/methods/lora/config';
import { exportLora, readLoraValues } from '../../src/methods/lora/peft';
import { gpuRuntime } from '../support/gpu';
import { loadFixtureModel, refDir } from '../support/reference';

const CASES: Array<[string, string, LoraConfig]> = [
  ['llama-tiny', 'r4_qv', { r: 4, alpha: 8, useRslora: false, dropout: 0, targets: ['q_proj', 'v_proj'], init: 'gaussian' }],
  ['qwen2-tiny', 'r8_all_rslora', { r: 8, alpha: 16, useRslora: true, dropout: 0, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], init: 'gaussian' }],
  ['gpt2-tiny', 'r8_all_rslora', { r: 8, alpha: 16, useRslora: true, dropout: 0, targets: ['c_attn', 'c_proj', 'c_fc'], init: 'gaussian' }],
];

describe.each(CASES)('export of %s %s', (model, c, cfg) => {
  it('matches what PEFT saved, byte for byte for the weights', async () => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, model);
    const t = new Transformer(rt, m.spec, m.weights, 16);
    for (const l of t.linears) l.adapters.length = 0;
    const dir = refDir(model, 'lora', c);
    const values = await readLoraValues(await openAdapter(await namedBlobsFromDir(dir)));
    const layers = attachLora(rt, t.linears, cfg, 0, values);
    const files = await exportLora(rt, layers, cfg, `models/${model}`, m.checkpoint);
    const peftWeights = new Uint8Array(await readFile(join(dir, 'adapter_model.safetensors')));
    expect(Buffer.compare(Buffer.from(files.weights), Buffer.from(peftWeights))).toBe(0);
    const ours = parseLoraAdapterConfig(files.config, 'ours');
    const theirs = parseLoraAdapterConfig(await readFile(join(dir, 'adapter_config.json'), 'utf8'), 'peft');
    // target_modules is a Python set in PEFT: compare it as a set.
    expect(new Set(ours.target_modules)).toEqual(new Set(theirs.target_modules));
    expect({ ...ours, target_modules: [] }).toEqual({ ...theirs, target_modules: [] });
    expect(Object.keys(JSON.parse(files.config)).sort()).toEqual(Object.keys(JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'))).sort());
  });
});

it('refuses to export a key the base checkpoint lacks', async () => {
  const rt = await gpuRuntime();
  const m = await loadFixtureModel(rt, 'llama-tiny');
  const t = new Transformer(rt, m.spec, m.weights, 16);
  for (const l of t.linears) l.adapters.length = 0;
  const cfg: LoraConfig = { r: 2, alpha: 4, useRslora: false, dropout: 0, targets: ['q_proj'], init: 'default' };
  const layers = attachLora(rt, t.linears, cfg, 1);
  const other = await loadFixtureModel(rt, 'gpt2-tiny');
  await expect(exportLora(rt, layers, cfg, 'x', other.checkpoint)).rejects.toThrow(/base checkpoint has no model\.layers\.0\.self_attn\.q_proj\.weight/);
});
