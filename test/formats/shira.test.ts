import { describe, expect, it } from 'vitest';
import type { SafetensorsDType } from '../../src/formats/dtypes';
import { layoutSafetensors, parseSafetensors, readTensorRaw } from '../../src/formats/safetensors';
import {
  type ShiraLayerData,
  parseShiraKey,
  readShiraAdapter,
  shiraFlatIndices,
  shiraKey,
  shiraLayerToEdit,
  shiraRankFor,
  writeShiraAdapter,
} from '../../src/formats/shira';
import { applyTensorEdit } from '../../src/formats/webpeftDelta';
import type { LinearSpec } from '../../src/model/spec';
import type { AdapterFiles, NamedBlob } from '../../src/run/api';

const Q = 'model.layers.0.self_attn.q_proj';
const V = 'model.layers.0.self_attn.v_proj';

/** K = r·(in + out) distinct flat indices of an [out, in] weight, ascending, from a fixed LCG. */
function layer(modulePath: string, inF: number, outF: number, r: number, seed: number): ShiraLayerData {
  const K = r * (inF + outF);
  const picked = new Set<number>();
  let s = seed;
  while (picked.size < K) {
    // Exact 32-bit LCG (Math.imul), taking high bits: a float LCG loses its low bits and can cycle forever.
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    picked.add((s >>> 8) % (inF * outF));
  }
  const indices = Uint32Array.from([...picked].sort((a, b) => a - b));
  return { modulePath, inFeatures: inF, outFeatures: outF, indices, values: Float32Array.from(indices, (f) => f / 4 - 3) };
}

const LAYERS = [layer(Q, 8, 8, 2, 1), layer(V, 8, 4, 2, 2)];
const SHAPES = new Map(LAYERS.map((l) => [l.modulePath, { inFeatures: l.inFeatures, outFeatures: l.outFeatures }]));

function write(layers = LAYERS, r = 2): AdapterFiles {
  return writeShiraAdapter({ baseModelNameOrPath: 'Qwen/Qwen2-0.5B', r, randomSeed: 42, targetModules: ['q_proj', 'v_proj'], layers });
}

interface RawTensor {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  bytes: Uint8Array;
}

/** A safetensors file with any dtype (I64, F32 indices), laid out as the reference writer does. */
function rawFile(tensors: RawTensor[]): Uint8Array<ArrayBuffer> {
  const { out, offsets } = layoutSafetensors(tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.bytes.byteLength })));
  tensors.forEach((t, i) => out.set(t.bytes, offsets[i]));
  return out;
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function folder(config: string | object, weights: Uint8Array<ArrayBuffer>, dir = 'shirarun'): NamedBlob[] {
  return [
    { name: `${dir}/adapter_config.json`, blob: new Blob([typeof config === 'string' ? config : JSON.stringify(config)]) },
    { name: `${dir}/adapter_model.safetensors`, blob: new Blob([weights]) },
  ];
}

const EXPECTED_CONFIG = {
  auto_mapping: null,
  base_model_name_or_path: 'Qwen/Qwen2-0.5B',
  fan_in_fan_out: false,
  inference_mode: true,
  init_weights: true,
  mask_type: 'random',
  modules_to_save: null,
  peft_type: 'SHIRA',
  r: 2,
  random_seed: 42,
  revision: null,
  target_modules: ['q_proj', 'v_proj'],
  task_type: 'CAUSAL_LM',
};

describe('shiraRankFor', () => {
  it('is r exactly when kept = r·(in + out)', () => {
    expect(shiraRankFor(32, 8, 8)).toBe(2);
    expect(shiraRankFor(24, 8, 4)).toBe(2);
    expect(shiraRankFor(12, 8, 4)).toBe(1);
    expect(shiraRankFor(13, 8, 4)).toBeNull();
    expect(shiraRankFor(0, 8, 4)).toBeNull();
    expect(shiraRankFor(2.5, 1, 1)).toBeNull();
  });
});

describe('writeShiraAdapter', () => {
  it('writes shira_weight F32 [K] and shira_indices I32 [2, K] (row 0 = output index, row 1 = input index)', async () => {
    const st = await parseSafetensors(new Blob([write().weights]), 'adapter_model.safetensors');
    expect(st.metadata).toEqual({ format: 'pt' });
    const shapes = Object.fromEntries([...st.entries.values()].map((e) => [e.name, `${e.dtype} [${e.shape.join(',')}]`]));
    expect(shapes).toEqual({
      'base_model.model.model.layers.0.self_attn.q_proj.shira_weight': 'F32 [32]',
      'base_model.model.model.layers.0.self_attn.q_proj.shira_indices': 'I32 [2,32]',
      'base_model.model.model.layers.0.self_attn.v_proj.shira_weight': 'F32 [24]',
      'base_model.model.model.layers.0.self_attn.v_proj.shira_indices': 'I32 [2,24]',
    });
    const raw = await readTensorRaw(st, shiraKey(V, 'indices'));
    const pairs = new Int32Array(raw.bytes.buffer);
    const v = LAYERS[1];
    for (let e = 0; e < 24; e++) {
      expect(pairs[e]).toBe(Math.floor(v.indices[e] / 8));
      expect(pairs[24 + e]).toBe(v.indices[e] % 8);
    }
  });

  it('writes the config fields peft writes, sorted, indent 2', () => {
    const { config } = write();
    expect(JSON.parse(config)).toEqual(EXPECTED_CONFIG);
    expect(Object.keys(JSON.parse(config))).toEqual(Object.keys(EXPECTED_CONFIG).sort());
    expect(config.startsWith('{\n  "auto_mapping": null,\n')).toBe(true);
  });

  it('refuses layers whose K is not r·(in + out) for the one r, and bad indices', () => {
    expect(() => write(LAYERS, 1)).toThrow(`writeShiraAdapter: ${Q} keeps 32 entries, but peft's SHiRA needs exactly r·(in + out) = 1·(8 + 8) = 16 for the adapter's one r (this layer alone would be r = 2)`);
    const odd = { ...LAYERS[1], indices: LAYERS[1].indices.slice(0, 23), values: LAYERS[1].values.slice(0, 23) };
    expect(() => write([odd])).toThrow(`${V} keeps 23 entries, but peft's SHiRA needs exactly r·(in + out) = 2·(8 + 4) = 24 for the adapter's one r (23 is not a multiple of 12, so no r fits)`);
    const swapped = LAYERS[1].indices.slice();
    [swapped[3], swapped[4]] = [swapped[4], swapped[3]];
    expect(() => write([{ ...LAYERS[1], indices: swapped }])).toThrow(`${V}: indices must be strictly ascending; position 4 holds ${swapped[4]} after ${swapped[3]}`);
    const big = LAYERS[1].indices.slice();
    big[23] = 32;
    expect(() => write([{ ...LAYERS[1], indices: big }])).toThrow(`${V}: index 32 at position 23 is out of range for [4, 8]`);
    expect(() => write([{ ...LAYERS[1], values: new Float32Array(3) }])).toThrow(`${V} has 24 indices but 3 values`);
    expect(() => writeShiraAdapter({ baseModelNameOrPath: 'x', r: 2, randomSeed: 1, targetModules: ['k_proj'], layers: LAYERS })).toThrow(`${Q} is not matched by targetModules [k_proj]; peft would ignore it`);
    expect(() => write([{ ...LAYERS[1], layout: 'in_out' }])).toThrow(`${V} is a GPT-2 Conv1D layer; peft's SHiRA supports only torch.nn.Linear, so export this update as a webpeft delta instead`);
    expect(() => write([], 2)).toThrow('there are no SHiRA layers to write');
    expect(() => write(LAYERS, 0)).toThrow('r must be a positive integer, got 0');
  });
});

describe('readShiraAdapter', () => {
  it('round-trips layers to sorted flat indices when given the shapes', async () => {
    const files = write();
    const { config, layers } = await readShiraAdapter(folder(files.config, files.weights), { shapes: SHAPES });
    expect(config).toEqual(EXPECTED_CONFIG);
    expect(layers.map((l) => ({ modulePath: l.modulePath, inFeatures: l.inFeatures, outFeatures: l.outFeatures, indices: l.indices, values: l.values }))).toEqual(LAYERS);
  });

  it('gives (row, col) pairs without shapes', async () => {
    const files = write();
    const { layers } = await readShiraAdapter(folder(files.config, files.weights));
    const v = layers.find((l) => l.modulePath === V);
    expect(v?.indices).toBeUndefined();
    expect(v?.rows).toEqual(Uint32Array.from(LAYERS[1].indices, (f) => Math.floor(f / 8)));
    expect(v?.cols).toEqual(Uint32Array.from(LAYERS[1].indices, (f) => f % 8));
    expect(shiraFlatIndices(v as { rows: Uint32Array; cols: Uint32Array }, 8, 4, 'v')).toEqual(LAYERS[1].indices);
  });

  /** One layer [out 2, in 2], r = 1, K = 4, with the given pairs and index dtype; keys optionally carry ".default". */
  function oneLayer(pairs: Array<[number, number]>, dtype: 'I32' | 'I64' | 'F32', suffix = ''): NamedBlob[] {
    const K = pairs.length;
    const flat = [...pairs.map((p) => p[0]), ...pairs.map((p) => p[1])];
    const idx = dtype === 'I32' ? Int32Array.from(flat) : dtype === 'I64' ? BigInt64Array.from(flat, (x) => BigInt(x)) : Float32Array.from(flat);
    const weights = rawFile([
      { name: `${shiraKey(Q, 'weight')}${suffix}`, dtype: 'F32', shape: [K], bytes: bytesOf(Float32Array.from(pairs, (_, e) => e + 1)) },
      { name: `${shiraKey(Q, 'indices')}${suffix}`, dtype, shape: [2, K], bytes: bytesOf(idx) },
    ]);
    return folder({ ...EXPECTED_CONFIG, r: 1 }, weights);
  }
  const tiny = new Map([[Q, { inFeatures: 2, outFeatures: 2 }]]);

  it('sorts pairs by flat index, carrying their values, and reads I64 and (Windows) F32 indices', async () => {
    for (const dtype of ['I32', 'I64', 'F32'] as const) {
      const { layers } = await readShiraAdapter(oneLayer([[1, 1], [0, 1], [1, 0], [0, 0]], dtype, dtype === 'I64' ? '.default' : ''), { shapes: tiny });
      expect(layers[0].indices).toEqual(Uint32Array.of(0, 1, 2, 3));
      expect(layers[0].values).toEqual(Float32Array.of(4, 2, 3, 1));
      expect(layers[0].rows).toEqual(Uint32Array.of(0, 0, 1, 1));
    }
    expect(parseShiraKey(`${shiraKey(Q, 'indices')}.default`)).toEqual({ modulePath: Q, which: 'indices' });
  });

  it('refuses duplicates and out-of-range entries when the shapes are given', async () => {
    await expect(readShiraAdapter(oneLayer([[0, 0], [0, 1], [0, 1], [1, 1]], 'I32'), { shapes: tiny })).rejects.toThrow(`shirarun/adapter_model.safetensors: ${Q}: entry (0, 1) appears twice`);
    await expect(readShiraAdapter(oneLayer([[0, 0], [0, 1], [1, 0], [1, 2]], 'I32'), { shapes: tiny })).rejects.toThrow(`${Q}: entry (1, 2) is outside the [2, 2] weight`);
    // Without shapes neither can be judged (in is not in the file): the pairs come back as they are, sorted.
    const { layers } = await readShiraAdapter(oneLayer([[0, 0], [0, 1], [0, 1], [1, 2]], 'I32'));
    expect(layers[0].cols).toEqual(Uint32Array.of(0, 1, 1, 2));
  });

  it('refuses other adapter types, bad shapes, K against r, lone tensors and missing files, naming the file', async () => {
    const files = write();
    await expect(readShiraAdapter(folder({ ...EXPECTED_CONFIG, peft_type: 'IA3' }, files.weights))).rejects.toThrow('shirarun/adapter_config.json: peft_type is "IA3"; this reader reads SHiRA adapters only');
    await expect(readShiraAdapter(folder('{', files.weights))).rejects.toThrow(/^shirarun\/adapter_config\.json is not valid JSON/);
    await expect(readShiraAdapter(folder({ ...EXPECTED_CONFIG, r: 0 }, files.weights))).rejects.toThrow('shirarun/adapter_config.json: r must be a positive integer, got 0');
    await expect(readShiraAdapter(folder({ ...EXPECTED_CONFIG, r: 3 }, files.weights))).rejects.toThrow(`${Q} holds 32 entries, not a multiple of r = 3`);
    await expect(readShiraAdapter(folder({ ...EXPECTED_CONFIG, r: 1 }, files.weights), { shapes: SHAPES })).rejects.toThrow(`${Q} holds 32 entries; with r = 1 and [8, 8] peft expects r·(in + out) = 16`);
    await expect(readShiraAdapter(folder(files.config, files.weights), { shapes: new Map([[Q, { inFeatures: 8, outFeatures: 8 }]]) })).rejects.toThrow(`${V} is not a linear layer of the model`);
    const badShape = rawFile([
      { name: shiraKey(Q, 'weight'), dtype: 'F32', shape: [4], bytes: new Uint8Array(16) },
      { name: shiraKey(Q, 'indices'), dtype: 'I32', shape: [4, 2], bytes: new Uint8Array(32) },
    ]);
    await expect(readShiraAdapter(folder({ ...EXPECTED_CONFIG, r: 1 }, badShape))).rejects.toThrow(`shirarun/adapter_model.safetensors: "${shiraKey(Q, 'indices')}" is [4, 2], expected [2, 4] to match shira_weight [4]`);
    const lone = rawFile([{ name: shiraKey(Q, 'weight'), dtype: 'F32', shape: [4], bytes: new Uint8Array(16) }]);
    await expect(readShiraAdapter(folder(EXPECTED_CONFIG, lone))).rejects.toThrow(`${Q} has shira_weight but no shira_indices`);
    const stray = rawFile([{ name: 'base_model.model.lm_head.weight', dtype: 'F32', shape: [1], bytes: new Uint8Array(4) }]);
    await expect(readShiraAdapter(folder(EXPECTED_CONFIG, stray))).rejects.toThrow('tensor "base_model.model.lm_head.weight" is not a SHiRA tensor');
    await expect(readShiraAdapter(folder(EXPECTED_CONFIG, files.weights).slice(0, 1))).rejects.toThrow('shirarun: adapter_model.safetensors is missing; a PEFT SHiRA adapter folder needs');
    await expect(readShiraAdapter(folder({ ...EXPECTED_CONFIG, target_modules: ['k_proj'] }, files.weights))).rejects.toThrow(`${Q} is not selected by target_modules in adapter_config.json`);
    const neg = oneLayer([[0, 0], [0, 1], [1, 0], [-1, 1]], 'I32');
    await expect(readShiraAdapter(neg)).rejects.toThrow(`"${shiraKey(Q, 'indices')}" holds a negative index at entry 3 (-1, 1)`);
    const frac = oneLayer([[0, 0], [0, 1], [1, 0], [0.5, 1]], 'F32');
    await expect(readShiraAdapter(frac)).rejects.toThrow(`"${shiraKey(Q, 'indices')}" is F32 and holds 0.5 at 3, not an index`);
  });
});

describe('shiraLayerToEdit', () => {
  it('keeps flat indices for nn.Linear and transposes them for Conv1D', () => {
    const l = LAYERS[1]; // [out 4, in 8]
    const dense = new Float32Array(32);
    for (let e = 0; e < l.indices.length; e++) dense[l.indices[e]] += l.values[e];
    const lin: LinearSpec = { name: 'v_proj', modulePath: V, weightName: `${V}.weight`, inFeatures: 8, outFeatures: 4, layout: 'out_in' };
    const a = shiraLayerToEdit(l, lin);
    expect(a).toEqual({ kind: 'sparse_add', tensor: `${V}.weight`, shape: [4, 8], indices: l.indices, values: l.values });
    const conv = shiraLayerToEdit(l, { ...lin, layout: 'in_out' });
    expect(conv.shape).toEqual([8, 4]);
    const got = new Float32Array(32);
    applyTensorEdit(got, conv);
    for (let o = 0; o < 4; o++) for (let i = 0; i < 8; i++) expect(got[i * 4 + o]).toBe(dense[o * 8 + i]);
    const idx = (conv as { indices: Uint32Array }).indices;
    for (let e = 1; e < idx.length; e++) expect(idx[e]).toBeGreaterThan(idx[e - 1]);
  });
});
