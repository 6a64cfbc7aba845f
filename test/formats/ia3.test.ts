import { describe, expect, it } from 'vitest';
import { numberToBf16Bits, numberToF16Bits } from '../../src/formats/dtypes';
import {
  type Ia3Vector,
  ia3Key,
  ia3VectorToEdits,
  isFeedforwardModule,
  parseIa3Key,
  readIa3Adapter,
  writeIa3Adapter,
} from '../../src/formats/ia3';
import { type TensorToWrite, parseSafetensors, writeSafetensors } from '../../src/formats/safetensors';
import { applyTensorEdit } from '../../src/formats/webpeftDelta';
import type { LinearSpec } from '../../src/model/spec';
import type { AdapterFiles, NamedBlob } from '../../src/run/api';

const ramp = (n: number, start: number): Float32Array => Float32Array.from({ length: n }, (_, i) => start + i / 8);

const K_PROJ = 'model.layers.0.self_attn.k_proj';
const V_PROJ = 'model.layers.0.self_attn.v_proj';
const DOWN = 'model.layers.0.mlp.down_proj';

function sampleVectors(): Ia3Vector[] {
  return [
    { modulePath: K_PROJ, feedforward: false, values: ramp(4, 0.5) },
    { modulePath: V_PROJ, feedforward: false, values: ramp(4, 1) },
    { modulePath: DOWN, feedforward: true, values: ramp(12, 0.25) },
  ];
}

function write(vectors = sampleVectors()): AdapterFiles {
  return writeIa3Adapter({ baseModelNameOrPath: 'HuggingFaceTB/SmolLM2-135M', targetModules: ['k_proj', 'v_proj', 'down_proj'], feedforwardModules: ['down_proj'], fanInFanOut: false, vectors });
}

function folder(config: string | object, weights: Uint8Array<ArrayBuffer> | TensorToWrite[], dir = 'ia3run'): NamedBlob[] {
  const w = Array.isArray(weights) ? writeSafetensors(weights) : weights;
  return [
    { name: `${dir}/adapter_config.json`, blob: new Blob([typeof config === 'string' ? config : JSON.stringify(config)]) },
    { name: `${dir}/adapter_model.safetensors`, blob: new Blob([w]) },
  ];
}

const EXPECTED_CONFIG = {
  auto_mapping: null,
  base_model_name_or_path: 'HuggingFaceTB/SmolLM2-135M',
  exclude_modules: null,
  fan_in_fan_out: false,
  feedforward_modules: ['down_proj'],
  inference_mode: true,
  init_ia3_weights: true,
  layers_pattern: null,
  layers_to_transform: null,
  modules_to_save: null,
  peft_type: 'IA3',
  revision: null,
  target_modules: ['k_proj', 'v_proj', 'down_proj'],
  task_type: 'CAUSAL_LM',
};

describe('writeIa3Adapter', () => {
  it('writes PEFT keys, shapes [out, 1] / [1, in], F32 and pt metadata', async () => {
    const files = write();
    const st = await parseSafetensors(new Blob([files.weights]), 'adapter_model.safetensors');
    expect(st.metadata).toEqual({ format: 'pt' });
    const shapes = Object.fromEntries([...st.entries.values()].map((e) => [e.name, `${e.dtype} [${e.shape.join(',')}]`]));
    expect(shapes).toEqual({
      'base_model.model.model.layers.0.self_attn.k_proj.ia3_l': 'F32 [4,1]',
      'base_model.model.model.layers.0.self_attn.v_proj.ia3_l': 'F32 [4,1]',
      'base_model.model.model.layers.0.mlp.down_proj.ia3_l': 'F32 [1,12]',
    });
  });

  it('writes the config fields peft writes, as json.dumps(indent=2, sort_keys=True)', () => {
    const { config } = write();
    expect(JSON.parse(config)).toEqual(EXPECTED_CONFIG);
    expect(Object.keys(JSON.parse(config))).toEqual(Object.keys(EXPECTED_CONFIG).sort());
    expect(config.startsWith('{\n  "auto_mapping": null,\n  "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M",')).toBe(true);
    expect(config.endsWith('"task_type": "CAUSAL_LM"\n}')).toBe(true);
  });

  it('sets fan_in_fan_out for GPT-2 Conv1D', () => {
    const files = writeIa3Adapter({ baseModelNameOrPath: 'gpt2', targetModules: ['c_attn', 'mlp.c_proj'], feedforwardModules: ['mlp.c_proj'], fanInFanOut: true, vectors: [
      { modulePath: 'transformer.h.0.attn.c_attn', feedforward: false, values: ramp(12, 1) },
      { modulePath: 'transformer.h.0.mlp.c_proj', feedforward: true, values: ramp(16, 1) },
    ] });
    expect(JSON.parse(files.config).fan_in_fan_out).toBe(true);
  });

  it('refuses what peft would not load, saying why', () => {
    const base = { baseModelNameOrPath: 'm', targetModules: ['k_proj', 'down_proj'], feedforwardModules: ['down_proj'], fanInFanOut: false };
    expect(() => writeIa3Adapter({ ...base, feedforwardModules: ['up_proj'], vectors: sampleVectors() })).toThrow('writeIa3Adapter: feedforwardModules must be a subset of targetModules; up_proj is not a target');
    expect(() => writeIa3Adapter({ ...base, vectors: sampleVectors() })).toThrow(`writeIa3Adapter: ${V_PROJ} is not matched by targetModules [k_proj, down_proj]; peft would ignore its vector`);
    expect(() => writeIa3Adapter({ ...base, vectors: [{ modulePath: DOWN, feedforward: false, values: ramp(4, 1) }] })).toThrow(`${DOWN} is marked not feed-forward, but feedforwardModules [down_proj] says it is`);
    expect(() => writeIa3Adapter({ ...base, vectors: [] })).toThrow('there are no IA3 vectors to write');
    expect(() => writeIa3Adapter({ ...base, vectors: [sampleVectors()[0], sampleVectors()[0]] })).toThrow(`${K_PROJ} has two vectors`);
    expect(() => writeIa3Adapter({ ...base, vectors: [{ modulePath: K_PROJ, feedforward: false, values: Float32Array.of(1, Number.POSITIVE_INFINITY) }] })).toThrow(`${K_PROJ} holds Infinity at 1`);
  });
});

describe('readIa3Adapter', () => {
  it('round-trips the vectors and the config', async () => {
    const { config, vectors } = await readIa3Adapter(folder(write().config, write().weights));
    expect(config).toEqual(EXPECTED_CONFIG);
    const byPath = new Map(vectors.map((v) => [v.modulePath, v]));
    expect(byPath).toEqual(new Map(sampleVectors().map((v) => [v.modulePath, v])));
  });

  it('checks lengths against the model when given its linears', async () => {
    const shapes = new Map([K_PROJ, V_PROJ].map((p) => [p, { inFeatures: 12, outFeatures: 4 }]));
    shapes.set(DOWN, { inFeatures: 12, outFeatures: 4 });
    const files = write();
    expect((await readIa3Adapter(folder(files.config, files.weights), { shapes })).vectors).toHaveLength(3);
    shapes.set(DOWN, { inFeatures: 10, outFeatures: 4 });
    await expect(readIa3Adapter(folder(files.config, files.weights), { shapes })).rejects.toThrow(`ia3run/adapter_model.safetensors: "${ia3Key(DOWN)}" has 12 values; ${DOWN} has in_features 10`);
    shapes.delete(DOWN);
    await expect(readIa3Adapter(folder(files.config, files.weights), { shapes })).rejects.toThrow(`is for ${DOWN}, which is not a linear layer of the model`);
  });

  it('accepts keys with an adapter name and F16 / BF16 vectors, widened to f32', async () => {
    const tensors: TensorToWrite[] = [
      { name: `${ia3Key(K_PROJ)}.default`, dtype: 'F16', shape: [2, 1], data: Uint16Array.of(numberToF16Bits(1.5), numberToF16Bits(-0.25)) },
      { name: ia3Key(DOWN), dtype: 'BF16', shape: [1, 3], data: Uint16Array.of(numberToBf16Bits(2), numberToBf16Bits(0.5), numberToBf16Bits(3)) },
    ];
    const { vectors } = await readIa3Adapter(folder(EXPECTED_CONFIG, tensors));
    // File order, which the reference writer makes name order.
    expect(vectors).toEqual([
      { modulePath: DOWN, feedforward: true, values: Float32Array.of(2, 0.5, 3) },
      { modulePath: K_PROJ, feedforward: false, values: Float32Array.of(1.5, -0.25) },
    ]);
    expect(parseIa3Key(`${ia3Key(K_PROJ)}.default`)).toEqual({ modulePath: K_PROJ, adapterName: 'default' });
    expect(parseIa3Key('base_model.model.x.lora_A.weight')).toBeNull();
  });

  it('takes feed-forward-ness from the tensor when feedforward_modules is null (peft architecture defaults)', async () => {
    const tensors: TensorToWrite[] = [
      { name: ia3Key(K_PROJ), dtype: 'F32', shape: [2, 1], data: Float32Array.of(1, 2) },
      { name: ia3Key(DOWN), dtype: 'F32', shape: [1, 3], data: Float32Array.of(1, 2, 3) },
    ];
    const { vectors } = await readIa3Adapter(folder({ ...EXPECTED_CONFIG, feedforward_modules: null, target_modules: null }, tensors));
    expect(vectors.map((v) => [v.modulePath, v.feedforward])).toEqual([[DOWN, true], [K_PROJ, false]]);
  });

  it('follows peft: feedforward_modules list entries match by plain suffix, strings as full regexes', () => {
    expect(isFeedforwardModule(['down_proj'], DOWN)).toBe(true);
    expect(isFeedforwardModule(['proj'], DOWN)).toBe(true);
    expect(isFeedforwardModule(['up_proj'], DOWN)).toBe(false);
    expect(isFeedforwardModule('.*mlp\\.(down|up)_proj', DOWN)).toBe(true);
    expect(isFeedforwardModule('down_proj', DOWN)).toBe(false);
  });

  it('refuses other adapter types, wrong shapes, stray tensors and missing files, naming the file', async () => {
    const files = write();
    await expect(readIa3Adapter(folder({ ...EXPECTED_CONFIG, peft_type: 'LORA' }, files.weights))).rejects.toThrow('ia3run/adapter_config.json: peft_type is "LORA"; this reader reads IA3 adapters only');
    await expect(readIa3Adapter(folder('{"peft_type": "IA3",', files.weights))).rejects.toThrow(/^ia3run\/adapter_config\.json is not valid JSON/);
    await expect(readIa3Adapter(folder({ ...EXPECTED_CONFIG, feedforward_modules: ['up_proj'] }, files.weights))).rejects.toThrow(
      'ia3run/adapter_config.json: feedforward_modules must be a subset of target_modules; "up_proj" is not a target',
    );
    await expect(readIa3Adapter(folder({ ...EXPECTED_CONFIG, fan_in_fan_out: 'yes' }, files.weights))).rejects.toThrow('ia3run/adapter_config.json: fan_in_fan_out must be true or false, got "yes"');
    // down_proj is feed-forward, so [12, 1] (an output vector) is the wrong orientation.
    await expect(readIa3Adapter(folder(EXPECTED_CONFIG, [{ name: ia3Key(DOWN), dtype: 'F32', shape: [12, 1], data: new Float32Array(12) }]))).rejects.toThrow(
      `ia3run/adapter_model.safetensors: "${ia3Key(DOWN)}" is [12, 1]; ${DOWN} is a feed-forward module, so its ia3_l must be [1, in]`,
    );
    await expect(readIa3Adapter(folder(EXPECTED_CONFIG, [{ name: ia3Key(K_PROJ), dtype: 'F32', shape: [1, 4], data: new Float32Array(4) }]))).rejects.toThrow(
      `"${ia3Key(K_PROJ)}" is [1, 4]; ${K_PROJ} is not a feed-forward module, so its ia3_l must be [out, 1]`,
    );
    await expect(readIa3Adapter(folder(EXPECTED_CONFIG, [{ name: ia3Key(K_PROJ), dtype: 'F32', shape: [4], data: new Float32Array(4) }]))).rejects.toThrow('must be [out, 1]');
    await expect(readIa3Adapter(folder(EXPECTED_CONFIG, [{ name: 'base_model.model.score.weight', dtype: 'F32', shape: [2, 2], data: new Float32Array(4) }]))).rejects.toThrow(
      'tensor "base_model.model.score.weight" is not an IA3 vector (base_model.model.<module>.ia3_l); modules_to_save and other extra weights are not supported',
    );
    await expect(readIa3Adapter(folder(EXPECTED_CONFIG, [{ name: ia3Key('model.layers.0.self_attn.q_proj'), dtype: 'F32', shape: [2, 1], data: new Float32Array(2) }]))).rejects.toThrow(
      'which target_modules/exclude_modules in adapter_config.json do not select; peft would not load it',
    );
    await expect(readIa3Adapter(folder(EXPECTED_CONFIG, []))).rejects.toThrow('ia3run/adapter_model.safetensors: holds no IA3 vectors');
    await expect(readIa3Adapter(folder(EXPECTED_CONFIG, files.weights).slice(0, 1))).rejects.toThrow(
      'ia3run: adapter_model.safetensors is missing; a PEFT IA3 adapter folder needs adapter_config.json and adapter_model.safetensors.',
    );
  });
});

describe('ia3VectorToEdits', () => {
  // y = (x Wᵀ + b) ⊙ l or (x ⊙ l) Wᵀ + b, computed directly, against the merged weights.
  function check(layout: 'out_in' | 'in_out', feedforward: boolean, withBias: boolean): void {
    const inF = 3;
    const outF = 2;
    const linear: LinearSpec = { name: 'p', modulePath: 'm.p', weightName: 'm.p.weight', biasName: withBias ? 'm.p.bias' : undefined, inFeatures: inF, outFeatures: outF, layout };
    const Wd = (o: number, i: number): number => 1 + o * 3 + i * 0.5; // W[o][i] in nn.Linear orientation
    const stored = Float32Array.from({ length: inF * outF }, (_, k) => (layout === 'out_in' ? Wd(Math.floor(k / inF), k % inF) : Wd(k % outF, Math.floor(k / outF))));
    const bias = Float32Array.of(0.5, -1);
    const l = feedforward ? Float32Array.of(2, 3, 0.5) : Float32Array.of(4, -2);
    const x = [1, -2, 0.25];
    const want = [0, 1].map((o) => {
      const pre = x.reduce((s, xi, i) => s + (feedforward ? xi * l[i] : xi) * Wd(o, i), 0) + (withBias ? bias[o] : 0);
      return feedforward ? pre : pre * l[o];
    });
    const w = stored.slice();
    const b = bias.slice();
    for (const e of ia3VectorToEdits({ modulePath: 'm.p', feedforward, values: l }, linear)) applyTensorEdit(e.tensor === linear.weightName ? w : b, e);
    const merged = (o: number, i: number): number => (layout === 'out_in' ? w[o * inF + i] : w[i * outF + o]);
    const got = [0, 1].map((o) => x.reduce((s, xi, i) => s + xi * merged(o, i), 0) + (withBias ? b[o] : 0));
    expect(got).toEqual(want);
    if (!withBias || feedforward) expect(b).toEqual(bias);
  }

  it('scales output rows (and the bias) or input columns, in either stored layout', () => {
    for (const layout of ['out_in', 'in_out'] as const) for (const ff of [false, true]) for (const bias of [false, true]) check(layout, ff, bias);
  });

  it('refuses a vector of the wrong length', () => {
    const linear: LinearSpec = { name: 'p', modulePath: 'm.p', weightName: 'm.p.weight', inFeatures: 3, outFeatures: 2, layout: 'out_in' };
    expect(() => ia3VectorToEdits({ modulePath: 'm.p', feedforward: true, values: new Float32Array(2) }, linear)).toThrow('m.p has 2 values, expected 3 (in_features)');
  });
});
