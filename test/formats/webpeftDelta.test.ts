import { describe, expect, it } from 'vitest';
import { detectAdapterKind } from '../../src/formats/adapterKind';
import { parseSafetensors, readTensorRaw, writeSafetensors } from '../../src/formats/safetensors';
import {
  DELTA_JSON,
  DELTA_SAFETENSORS,
  type DeltaFile,
  EDIT_KINDS,
  MAX_SPARSE_NUMEL,
  type TensorEdit,
  applyTensorEdit,
  isDeltaFolder,
  readDelta,
  writeDelta,
} from '../../src/formats/webpeftDelta';
import type { NamedBlob, OutputFile } from '../../src/run/api';

const f32 = (...v: number[]): Float32Array => Float32Array.from(v);
const u32 = (...v: number[]): Uint32Array => Uint32Array.from(v);

function sample(): DeltaFile {
  return {
    method: 'ssf',
    baseModelNameOrPath: 'HuggingFaceTB/SmolLM2-135M',
    configPatch: { attention_bias: true, mlp_bias: false },
    settings: { lr: 0.001, targets: ['q_proj', 'v_proj'], nested: { a: null } },
    edits: [
      { kind: 'sparse_add', tensor: 'model.layers.0.self_attn.q_proj.weight', shape: [4, 6], indices: u32(0, 5, 7, 23), values: f32(0.5, -1, 2, 3.25) },
      { kind: 'scale', tensor: 'model.layers.0.self_attn.q_proj.weight', shape: [4, 6], axis: 0, values: f32(1, 2, 3, 4) },
      { kind: 'scale', tensor: 'transformer.h.0.attn.c_attn.weight', shape: [6, 12], axis: 1, values: Float32Array.from({ length: 12 }, (_, i) => 1 + i / 10) },
      { kind: 'add', tensor: 'model.layers.0.self_attn.q_proj.bias', shape: [4], values: f32(0.1, 0.2, 0.3, 0.4) },
      { kind: 'add', tensor: 'model.norm.weight', shape: [2, 3], values: f32(1, 2, 3, 4, 5, 6) },
      // A [rank 2, in 3] and B [out 4, rank 2] of a Conv1D weight stored [in 3, out 4].
      { kind: 'lowrank_add', tensor: 'transformer.h.0.mlp.c_fc.weight', shape: [3, 4], transposed: true, rank: 2, scaling: 0.5, A: f32(1, 2, 3, 4, 5, 6), B: f32(1, 0, 0, 1, 1, 1, -1, 2) },
    ],
  };
}

const KNOWN = `(known: ${EDIT_KINDS.join(', ')})`;

function asFolder(files: OutputFile[], dir = 'run7'): NamedBlob[] {
  return files.map((f) => ({ name: `${dir}/${f.name}`, blob: new Blob([f.data]) }));
}

const jsonOf = (files: OutputFile[]): Record<string, unknown> => JSON.parse(new TextDecoder().decode(files.find((f) => f.name === DELTA_JSON)?.data));

/** The folder with its JSON replaced by `edit(json)`. */
function tamperJson(files: OutputFile[], edit: (j: { [k: string]: unknown; edits: Array<Record<string, unknown>> }) => void): NamedBlob[] {
  const j = jsonOf(files) as { [k: string]: unknown; edits: Array<Record<string, unknown>> };
  edit(j);
  return asFolder(files.map((f) => (f.name === DELTA_JSON ? { name: f.name, data: new TextEncoder().encode(JSON.stringify(j)) } : f)));
}

describe('writeDelta / readDelta', () => {
  it('round-trips every edit kind, the config patch and the settings', async () => {
    const d = sample();
    const files = writeDelta(d);
    expect(files.map((f) => f.name)).toEqual([DELTA_JSON, DELTA_SAFETENSORS]);
    expect(await readDelta(asFolder(files))).toEqual(d);
  });

  it('writes the documented JSON and tensor layout', async () => {
    const files = writeDelta(sample());
    const j = jsonOf(files);
    expect(Object.keys(j)).toEqual(['format', 'version', 'method', 'base_model_name_or_path', 'config_patch', 'settings', 'edits']);
    expect(j.format).toBe('webpeft-delta');
    expect(j.version).toBe(1);
    expect(j.config_patch).toEqual({ attention_bias: true, mlp_bias: false });
    expect(j.edits).toEqual([
      { kind: 'sparse_add', tensor: 'model.layers.0.self_attn.q_proj.weight', shape: [4, 6], values: 'edits.0.values', indices: 'edits.0.indices', nnz: 4 },
      { kind: 'scale', tensor: 'model.layers.0.self_attn.q_proj.weight', shape: [4, 6], values: 'edits.1.values', axis: 0 },
      { kind: 'scale', tensor: 'transformer.h.0.attn.c_attn.weight', shape: [6, 12], values: 'edits.2.values', axis: 1 },
      { kind: 'add', tensor: 'model.layers.0.self_attn.q_proj.bias', shape: [4], values: 'edits.3.values' },
      { kind: 'add', tensor: 'model.norm.weight', shape: [2, 3], values: 'edits.4.values' },
      { kind: 'lowrank_add', tensor: 'transformer.h.0.mlp.c_fc.weight', shape: [3, 4], transposed: true, rank: 2, scaling: 0.5, A: 'edits.5.lora_A', B: 'edits.5.lora_B' },
    ]);
    const st = await parseSafetensors(new Blob([files[1].data]), DELTA_SAFETENSORS);
    expect(st.metadata).toEqual({ format: 'pt' });
    const shapes = Object.fromEntries([...st.entries.values()].map((e) => [e.name, `${e.dtype} [${e.shape.join(',')}]`]));
    expect(shapes).toEqual({
      'edits.0.indices': 'I32 [4]',
      'edits.0.values': 'F32 [4]',
      'edits.1.values': 'F32 [4]',
      'edits.2.values': 'F32 [12]',
      'edits.3.values': 'F32 [4]',
      // An add keeps the tensor's shape, so Python adds it without a reshape.
      'edits.4.values': 'F32 [2,3]',
      'edits.5.lora_A': 'F32 [2,3]',
      'edits.5.lora_B': 'F32 [4,2]',
    });
    const idx = await readTensorRaw(st, 'edits.0.indices');
    expect([...new Int32Array(idx.bytes.buffer)]).toEqual([0, 5, 7, 23]);
  });

  it('writes settings as {} when there are none and reads them back as {}', async () => {
    const { settings: _, ...d } = sample();
    const files = writeDelta(d);
    expect(jsonOf(files).settings).toEqual({});
    expect((await readDelta(asFolder(files))).settings).toEqual({});
  });

  it('refuses edits the format cannot hold, naming the edit', () => {
    const withEdit = (e: TensorEdit): (() => OutputFile[]) => () => writeDelta({ ...sample(), edits: [e] });
    const w = 'model.w';
    expect(withEdit({ kind: 'sparse_add', tensor: w, shape: [2, 3], indices: u32(1, 0), values: f32(1, 2) })).toThrow(
      'writeDelta: edits[0] (sparse_add of "model.w"): indices must be strictly ascending (sorted, no duplicates): position 1 holds 0 after 1',
    );
    expect(withEdit({ kind: 'sparse_add', tensor: w, shape: [2, 3], indices: u32(2, 2), values: f32(1, 2) })).toThrow('position 1 holds 2 after 2');
    expect(withEdit({ kind: 'sparse_add', tensor: w, shape: [2, 3], indices: u32(6), values: f32(1) })).toThrow('index 6 at position 0 is out of range for shape [2, 3] (6 elements)');
    expect(withEdit({ kind: 'sparse_add', tensor: w, shape: [2, 3], indices: u32(1, 2), values: f32(1) })).toThrow('2 indices but 1 values');
    expect(withEdit({ kind: 'sparse_add', tensor: w, shape: [65536, 32768], indices: u32(), values: f32() })).toThrow(`limited to ${MAX_SPARSE_NUMEL} elements`);
    expect(withEdit({ kind: 'add', tensor: w, shape: [2, 3], values: f32(1, 2, 3) })).toThrow('edits[0] (add of "model.w"): 3 values for a tensor of shape [2, 3] (6 elements)');
    expect(withEdit({ kind: 'scale', tensor: w, shape: [2, 3], axis: 2, values: f32(1, 2) })).toThrow('axis 2 is not an axis of the 2-D shape [2, 3]');
    expect(withEdit({ kind: 'scale', tensor: w, shape: [2, 3], axis: 1, values: f32(1, 2) })).toThrow('2 values for axis 1 of shape [2, 3]; a scale needs shape[1] = 3');
    expect(withEdit({ kind: 'add', tensor: w, shape: [2], values: f32(1, Number.NaN) })).toThrow('value NaN at position 1 is not finite');
    expect(withEdit({ kind: 'bogus', tensor: w, shape: [2], values: f32(1, 2) } as unknown as TensorEdit)).toThrow(`unknown kind "bogus" ${KNOWN}`);
    expect(withEdit({ kind: 'add', tensor: '', shape: [1], values: f32(1) })).toThrow('tensor must be a non-empty tensor name');
    const lr: Extract<TensorEdit, { kind: 'lowrank_add' }> = { kind: 'lowrank_add', tensor: w, shape: [2, 3], transposed: false, rank: 1, scaling: 1, A: f32(1, 2, 3), B: f32(1, 2) };
    expect(withEdit({ ...lr, A: f32(1, 2) })).toThrow('edits[0] (lowrank_add of "model.w"): A must be a Float32Array of rank × in = 1 × 3');
    expect(withEdit({ ...lr, transposed: true })).toThrow('A must be a Float32Array of rank × in = 1 × 2');
    expect(withEdit({ ...lr, shape: [6] })).toThrow('a lowrank_add edits a 2-D weight, not shape [6]');
    expect(() => writeDelta({ ...sample(), settings: { lr: Number.NaN } })).toThrow('writeDelta: settings.lr is NaN, which JSON cannot hold');
    expect(() => writeDelta({ ...sample(), configPatch: { x: undefined } })).toThrow('configPatch.x is not a plain JSON value (undefined)');
    expect(() => writeDelta({ ...sample(), method: '' })).toThrow('writeDelta: method must be a non-empty string');
  });
});

describe('readDelta rejections', () => {
  const files = writeDelta(sample());

  it('names a missing file', async () => {
    await expect(readDelta(asFolder(files.slice(0, 1)))).rejects.toThrow('run7: webpeft_delta.safetensors is missing; a webpeft delta folder needs webpeft_delta.json and webpeft_delta.safetensors');
    await expect(readDelta(asFolder(files.slice(1)))).rejects.toThrow('run7: webpeft_delta.json is missing');
  });

  it('refuses bad JSON and a wrong format or version', async () => {
    const bad = asFolder([{ name: DELTA_JSON, data: new TextEncoder().encode('{"format": ') }, files[1]]);
    await expect(readDelta(bad)).rejects.toThrow(/^run7\/webpeft_delta\.json is not valid JSON/);
    await expect(readDelta(tamperJson(files, (j) => void (j.version = 2)))).rejects.toThrow('run7/webpeft_delta.json: version 2 is not supported (this webpeft reads version 1');
    await expect(readDelta(tamperJson(files, (j) => void (j.format = 'peft')))).rejects.toThrow('run7/webpeft_delta.json: format is "peft", expected "webpeft-delta"');
    await expect(readDelta(tamperJson(files, (j) => void (j.edits = {} as never)))).rejects.toThrow('edits must be a list');
    await expect(readDelta(tamperJson(files, (j) => void (j.config_patch = [1])))).rejects.toThrow('config_patch must be an object');
  });

  it('refuses an unknown kind and inconsistent fields, naming the edit and tensor', async () => {
    await expect(readDelta(tamperJson(files, (j) => void (j.edits[3].kind = 'multiply')))).rejects.toThrow(
      `run7/webpeft_delta.json: edits[3] (tensor "model.layers.0.self_attn.q_proj.bias"): unknown kind "multiply" ${KNOWN}`,
    );
    await expect(readDelta(tamperJson(files, (j) => void (j.edits[3].shape = [5])))).rejects.toThrow(
      'edits[3] (tensor "model.layers.0.self_attn.q_proj.bias"): 4 values for a tensor of shape [5] (5 elements); an add needs one value per element',
    );
    await expect(readDelta(tamperJson(files, (j) => void (j.edits[1].axis = 2)))).rejects.toThrow('edits[1] (tensor "model.layers.0.self_attn.q_proj.weight"): axis 2 is not an axis of the 2-D shape [4, 6]');
    await expect(readDelta(tamperJson(files, (j) => void (j.edits[1].axis = 1)))).rejects.toThrow('4 values for axis 1 of shape [4, 6]; a scale needs shape[1] = 6');
    await expect(readDelta(tamperJson(files, (j) => void (j.edits[0].shape = [4, 5])))).rejects.toThrow('index 23 at position 3 is out of range for shape [4, 5] (20 elements)');
    await expect(readDelta(tamperJson(files, (j) => void (j.edits[0].nnz = 3)))).rejects.toThrow('nnz is 3 but the indices tensor holds 4');
    await expect(readDelta(tamperJson(files, (j) => void (j.edits[0].values = 'nope')))).rejects.toThrow('edits[0] (tensor "model.layers.0.self_attn.q_proj.weight"): its values tensor "nope" is not in run7/webpeft_delta.safetensors');
    await expect(readDelta(tamperJson(files, (j) => void delete j.edits[0].indices))).rejects.toThrow('a sparse_add needs indices naming a tensor');
    await expect(readDelta(tamperJson(files, (j) => void (j.edits[3].axis = 0)))).rejects.toThrow('axis is only for scale, not add');
    await expect(readDelta(tamperJson(files, (j) => void (j.edits[5].rank = 3)))).rejects.toThrow('edits[5] (tensor "transformer.h.0.mlp.c_fc.weight"): A must be a Float32Array of rank × in = 3 × 3');
    await expect(readDelta(tamperJson(files, (j) => void (j.edits[5].B = 'edits.0.values')))).rejects.toThrow('B must be a Float32Array of out × rank = 4 × 2');
    await expect(readDelta(tamperJson(files, (j) => void (j.edits[2].shape = [6, -12])))).rejects.toThrow('shape [6,-12] is not a list of non-negative integers');
  });

  it('refuses unsorted or duplicate indices in the safetensors file', async () => {
    const j = { format: 'webpeft-delta', version: 1, method: 'sparse', base_model_name_or_path: 'x', config_patch: {}, settings: {}, edits: [{ kind: 'sparse_add', tensor: 'w', shape: [10], indices: 'i', values: 'v' }] };
    const folder = (idx: number[]): NamedBlob[] => [
      { name: `d/${DELTA_JSON}`, blob: new Blob([JSON.stringify(j)]) },
      { name: `d/${DELTA_SAFETENSORS}`, blob: new Blob([writeSafetensors([{ name: 'i', dtype: 'I32', shape: [idx.length], data: Int32Array.from(idx) }, { name: 'v', dtype: 'F32', shape: [idx.length], data: new Float32Array(idx.length) }])]) },
    ];
    await expect(readDelta(folder([3, 1]))).rejects.toThrow('d/webpeft_delta.json: edits[0] (tensor "w"): indices must be strictly ascending (sorted, no duplicates): position 1 holds 1 after 3');
    await expect(readDelta(folder([1, 1]))).rejects.toThrow('position 1 holds 1 after 1');
    await expect(readDelta(folder([-1, 1]))).rejects.toThrow('index -1 at position 0 is negative');
    expect((await readDelta(folder([1, 9]))).edits[0]).toEqual({ kind: 'sparse_add', tensor: 'w', shape: [10], indices: u32(1, 9), values: f32(0, 0) });
  });
});

describe('applyTensorEdit', () => {
  it('adds, sparse-adds and scales along any stored axis', () => {
    const shape = [2, 3, 4];
    const base = Float32Array.from({ length: 24 }, (_, i) => i + 1);
    const at = (a: number, b: number, c: number): number => (a * 3 + b) * 4 + c;
    for (const axis of [0, 1, 2]) {
      const values = Float32Array.from({ length: shape[axis] }, (_, i) => 10 + i);
      const data = base.slice();
      applyTensorEdit(data, { kind: 'scale', tensor: 't', shape, axis, values });
      for (let a = 0; a < 2; a++) for (let b = 0; b < 3; b++) for (let c = 0; c < 4; c++) expect(data[at(a, b, c)]).toBe(base[at(a, b, c)] * values[[a, b, c][axis]]);
    }
    const data = base.slice();
    applyTensorEdit(data, { kind: 'sparse_add', tensor: 't', shape, indices: u32(0, 23), values: f32(5, -24) });
    expect([data[0], data[1], data[23]]).toEqual([6, 2, 0]);
    applyTensorEdit(data, { kind: 'add', tensor: 't', shape, values: new Float32Array(24).fill(1) });
    expect([data[0], data[1], data[23]]).toEqual([7, 3, 1]);
    // lowrank_add: ΔW = scaling · B A in [out, in]; transposed adds ΔWᵀ to a tensor stored [in, out].
    const A = f32(1, 2, 3, 4, 5, 6); // [2, 3]
    const B = f32(1, 0, 0, 1, 1, 1, -1, 2); // [4, 2]
    const dW = (o: number, i: number): number => 0.5 * (B[o * 2] * A[i] + B[o * 2 + 1] * A[3 + i]);
    const plain = new Float32Array(12);
    applyTensorEdit(plain, { kind: 'lowrank_add', tensor: 't', shape: [4, 3], transposed: false, rank: 2, scaling: 0.5, A, B });
    const conv = new Float32Array(12);
    applyTensorEdit(conv, { kind: 'lowrank_add', tensor: 't', shape: [3, 4], transposed: true, rank: 2, scaling: 0.5, A, B });
    for (let o = 0; o < 4; o++) {
      for (let i = 0; i < 3; i++) {
        expect(plain[o * 3 + i]).toBe(dW(o, i));
        expect(conv[i * 4 + o]).toBe(dW(o, i));
      }
    }
    expect(() => applyTensorEdit(new Float32Array(3), { kind: 'add', tensor: 't', shape: [4], values: new Float32Array(4) })).toThrow('"t" has 3 elements, the edit expects shape [4] (4)');
  });
});

describe('isDeltaFolder / detectAdapterKind', () => {
  const text = (name: string, t: string): NamedBlob => ({ name, blob: new Blob([t]) });
  const peft = (type: unknown): NamedBlob[] => [text('ad/adapter_config.json', JSON.stringify({ peft_type: type })), text('ad/adapter_model.safetensors', '')];

  it('tells the kinds apart', async () => {
    expect(await detectAdapterKind(peft('LORA'))).toBe('lora');
    expect(await detectAdapterKind(peft('ADALORA'))).toBe('adalora');
    expect(await detectAdapterKind(peft('IA3'))).toBe('ia3');
    expect(await detectAdapterKind(peft('SHIRA'))).toBe('shira');
    const delta = asFolder(writeDelta(sample()));
    expect(isDeltaFolder(delta)).toBe(true);
    expect(isDeltaFolder(peft('LORA'))).toBe(false);
    expect(await detectAdapterKind(delta)).toBe('webpeft-delta');
    // Only top-level files count: a delta in a subfolder does not make the folder a delta.
    expect(isDeltaFolder([text('a/b/webpeft_delta.json', '{}'), text('a/config.json', '{}')])).toBe(false);
  });

  it('names an unknown peft_type and lists the supported ones', async () => {
    await expect(detectAdapterKind(peft('VERA'))).rejects.toThrow('ad/adapter_config.json: peft_type "VERA" is not supported; supported adapter types are LORA, ADALORA, IA3, SHIRA (and webpeft delta folders)');
    await expect(detectAdapterKind(peft(null))).rejects.toThrow('ad/adapter_config.json: peft_type is missing; supported adapter types are LORA, ADALORA, IA3, SHIRA');
    await expect(detectAdapterKind([text('ad/adapter_config.json', '{')])).rejects.toThrow(/^ad\/adapter_config\.json is not valid JSON/);
    await expect(detectAdapterKind([text('ad/README.md', '')])).rejects.toThrow('ad: not an adapter folder; expected a PEFT adapter (adapter_config.json + adapter_model.safetensors) or a webpeft delta');
  });
});
