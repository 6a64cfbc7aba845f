/**
 * webpeft's own compact update format: webpeft_delta.json (what to do) + webpeft_delta.safetensors (the numbers).
 * It carries any update the studio makes: sparse entries (sparse fine-tuning, SaRA, subnetworks, SHiRA),
 * per-channel scales (IA3, SSF), dense vector deltas (BitFit, SSF shifts, norm tuning) and low-rank products
 * (DSEE's LoRA part; a plain LoRA is better exported as a PEFT adapter), as a list of edits of named checkpoint
 * tensors in their STORED layout. docs/webpeft-delta.md is the
 * specification; this file is its reader and writer, and `TensorEdit` is the one currency the merge code uses.
 *
 * Why edits of stored tensors and not module-level adapters: every such method becomes "change these numbers of
 * this tensor", so one merge routine (and a ten-line Python snippet) serves all of them, and nothing depends on
 * how a framework wraps the layer. Stored layout means a GPT-2 Conv1D weight is addressed as the [in, out] tensor
 * the checkpoint holds, so applying an edit never needs to know the architecture.
 */
import type { NamedBlob, OutputFile } from '../run/api';
import { indexFolder } from './folder';
import { type SafetensorsFile, type TensorToWrite, parseSafetensors, readTensorF32, readTensorI32, writeSafetensors } from './safetensors';

export const DELTA_JSON = 'webpeft_delta.json';
export const DELTA_SAFETENSORS = 'webpeft_delta.safetensors';
export const DELTA_FORMAT = 'webpeft-delta';
export const DELTA_VERSION = 1;
/**
 * The largest tensor a sparse_add may address. Flat indices are stored as int32, not uint32: torch has no
 * indexing on uint32 tensors, and int32 loads everywhere (numpy, torch, safetensors' Rust) without surprises.
 */
export const MAX_SPARSE_NUMEL = 2 ** 31 - 1;

/** One edit of one checkpoint tensor, in the tensor's STORED layout (as in the checkpoint: GPT-2 Conv1D weights are [in, out]). Edits apply in list order. */
export type TensorEdit =
  | { kind: 'sparse_add'; tensor: string; shape: number[]; indices: Uint32Array /* flat row-major into the stored tensor, ascending, unique */; values: Float32Array }
  | { kind: 'add'; tensor: string; shape: number[]; values: Float32Array /* same numel as the tensor; a tensor the base lacks is created from zeros (biases BitFit/SSF add) */ }
  | { kind: 'scale'; tensor: string; shape: number[]; axis: number /* stored axis the vector runs along */; values: Float32Array }
  /**
   * ΔW = scaling · B A in nn.Linear orientation (A [rank, in], B [out, rank]), added to the stored tensor as is, or
   * transposed for a tensor stored [in, out] (GPT-2 Conv1D). DSEE's LoRA part, and any low-rank method's update.
   */
  | { kind: 'lowrank_add'; tensor: string; shape: number[]; transposed: boolean; rank: number; scaling: number; A: Float32Array; B: Float32Array };

export type TensorEditKind = TensorEdit['kind'];
export const EDIT_KINDS: readonly TensorEditKind[] = ['sparse_add', 'add', 'scale', 'lowrank_add'];

export function loraAKey(i: number): string {
  return `edits.${i}.lora_A`;
}

export function loraBKey(i: number): string {
  return `edits.${i}.lora_B`;
}

/** [out, in] of a lowrank_add's ΔW in nn.Linear orientation. */
function lowRankDims(e: { shape: number[]; transposed: boolean }): [number, number] {
  return e.transposed ? [e.shape[1], e.shape[0]] : [e.shape[0], e.shape[1]];
}

export interface DeltaFile {
  method: string;
  baseModelNameOrPath: string;
  /** config.json keys to set in a merged checkpoint, e.g. {"attention_bias": true} */
  configPatch: Record<string, unknown>;
  edits: TensorEdit[];
  /** free-form method settings for the record */
  settings?: Record<string, unknown>;
}

/** The JSON shape of one edit in webpeft_delta.json. */
interface EditJson {
  kind: TensorEditKind;
  tensor: string;
  shape: number[];
  axis?: number;
  indices?: string;
  values?: string;
  nnz?: number;
  transposed?: boolean;
  rank?: number;
  scaling?: number;
  A?: string;
  B?: string;
}

export function valuesKey(i: number): string {
  return `edits.${i}.values`;
}

export function indicesKey(i: number): string {
  return `edits.${i}.indices`;
}

// ---------------------------------------------------------------- writing

/**
 * The two files of a delta folder. Values are F32 (an `add` edit's values keep the tensor's shape, so Python can
 * add them without reshaping; a `scale` vector is [shape[axis]]; sparse values and indices are [nnz]); indices are
 * I32. `settings` is written as {} when absent, so a reader always gets an object.
 */
export function writeDelta(d: DeltaFile): OutputFile[] {
  const fail = (msg: string): never => {
    throw new Error(`writeDelta: ${msg}`);
  };
  if (typeof d.method !== 'string' || d.method === '') fail('method must be a non-empty string');
  if (typeof d.baseModelNameOrPath !== 'string') fail('baseModelNameOrPath must be a string');
  checkJsonObject(d.configPatch, 'configPatch', fail);
  if (d.settings !== undefined) checkJsonObject(d.settings, 'settings', fail);
  const tensors: TensorToWrite[] = [];
  const edits: EditJson[] = d.edits.map((e, i) => {
    const where = `edits[${i}] (${e.kind} of "${e.tensor}")`;
    const efail = (msg: string): never => fail(`${where}: ${msg}`);
    checkEditHeader(e.kind, e.tensor, e.shape, e.kind === 'scale' ? e.axis : undefined, efail);
    checkEditData(e, efail);
    if (e.kind === 'lowrank_add') {
      const [out, inF] = lowRankDims(e);
      tensors.push({ name: loraAKey(i), dtype: 'F32', shape: [e.rank, inF], data: e.A }, { name: loraBKey(i), dtype: 'F32', shape: [out, e.rank], data: e.B });
      return { kind: e.kind, tensor: e.tensor, shape: [...e.shape], transposed: e.transposed, rank: e.rank, scaling: e.scaling, A: loraAKey(i), B: loraBKey(i) };
    }
    const out: EditJson = { kind: e.kind, tensor: e.tensor, shape: [...e.shape], values: valuesKey(i) };
    if (e.kind === 'scale') out.axis = e.axis;
    if (e.kind === 'sparse_add') {
      out.indices = indicesKey(i);
      out.nnz = e.indices.length;
      // Indices below 2^31 (checked) have the same bits as int32, so a view is enough.
      tensors.push({ name: indicesKey(i), dtype: 'I32', shape: [e.indices.length], data: new Int32Array(e.indices.buffer, e.indices.byteOffset, e.indices.length) });
    }
    const valueShape = e.kind === 'add' ? [...e.shape] : [e.values.length];
    tensors.push({ name: valuesKey(i), dtype: 'F32', shape: valueShape, data: e.values });
    return out;
  });
  const json = {
    format: DELTA_FORMAT,
    version: DELTA_VERSION,
    method: d.method,
    base_model_name_or_path: d.baseModelNameOrPath,
    config_patch: d.configPatch,
    settings: d.settings ?? {},
    edits,
  };
  const text = `${JSON.stringify(json, null, 2)}\n`;
  return [
    { name: DELTA_JSON, data: new TextEncoder().encode(text) },
    { name: DELTA_SAFETENSORS, data: writeSafetensors(tensors, { format: 'pt' }) },
  ];
}

// ---------------------------------------------------------------- reading

/** True when the folder's top level holds webpeft_delta.json (throws, as indexFolder does, on a file given twice). */
export function isDeltaFolder(files: NamedBlob[]): boolean {
  return indexFolder(files, 'delta').byName.has(DELTA_JSON);
}

/** Reads and fully validates a delta folder; errors name the file (and the edit and tensor) at fault. */
export async function readDelta(files: NamedBlob[]): Promise<DeltaFile> {
  const { label, byName } = indexFolder(files, 'delta');
  const jsonBlob = byName.get(DELTA_JSON);
  const stBlob = byName.get(DELTA_SAFETENSORS);
  if (!jsonBlob || !stBlob) {
    const missing = [jsonBlob ? '' : DELTA_JSON, stBlob ? '' : DELTA_SAFETENSORS].filter((s) => s !== '');
    throw new Error(`${label}: ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} missing; a webpeft delta folder needs ${DELTA_JSON} and ${DELTA_SAFETENSORS}`);
  }
  const jsonName = `${label}/${DELTA_JSON}`;
  const fail = (msg: string): never => {
    throw new Error(`${jsonName}: ${msg}`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(await jsonBlob.text());
  } catch (e) {
    throw new Error(`${jsonName} is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(raw)) throw new Error(`${jsonName} must hold a JSON object`);
  const o = raw;
  if (o.format !== DELTA_FORMAT) fail(`format is ${JSON.stringify(o.format ?? null)}, expected "${DELTA_FORMAT}"`);
  if (o.version !== DELTA_VERSION) fail(`version ${JSON.stringify(o.version ?? null)} is not supported (this webpeft reads version ${DELTA_VERSION}; a newer webpeft wrote it?)`);
  if (typeof o.method !== 'string' || o.method === '') fail(`method must be a non-empty string, got ${JSON.stringify(o.method ?? null)}`);
  const base = o.base_model_name_or_path ?? '';
  if (typeof base !== 'string') fail(`base_model_name_or_path must be a string, got ${JSON.stringify(base)}`);
  const configPatch = o.config_patch ?? {};
  if (!isPlainObject(configPatch)) fail(`config_patch must be an object, got ${JSON.stringify(configPatch)}`);
  const settings = o.settings ?? {};
  if (!isPlainObject(settings)) fail(`settings must be an object, got ${JSON.stringify(settings)}`);
  if (!Array.isArray(o.edits)) fail(`edits must be a list, got ${JSON.stringify(o.edits ?? null)}`);

  const st = await parseSafetensors(stBlob, `${label}/${DELTA_SAFETENSORS}`);
  const edits: TensorEdit[] = [];
  for (const [i, rawEdit] of (o.edits as unknown[]).entries()) edits.push(await readEdit(rawEdit, i, st, fail));
  return {
    method: o.method as string,
    baseModelNameOrPath: base as string,
    configPatch: configPatch as Record<string, unknown>,
    edits,
    settings: settings as Record<string, unknown>,
  };
}

async function readEdit(raw: unknown, i: number, st: SafetensorsFile, jfail: (msg: string) => never): Promise<TensorEdit> {
  if (!isPlainObject(raw)) return jfail(`edits[${i}] must be an object`);
  const { kind, tensor, shape, axis, indices: indicesName, values: valuesName, nnz } = raw;
  const tensorText = typeof tensor === 'string' ? ` (tensor "${tensor}")` : '';
  const fail = (msg: string): never => jfail(`edits[${i}]${tensorText}: ${msg}`);
  checkEditHeader(kind, tensor, shape, axis, fail);
  const k = kind as TensorEditKind;
  if (k === 'lowrank_add') {
    const { transposed, rank, scaling, A: aName, B: bName } = raw;
    if (typeof transposed !== 'boolean') fail(`transposed must be true or false, got ${JSON.stringify(transposed ?? null)}`);
    if (!Number.isSafeInteger(rank) || (rank as number) < 1) fail(`rank must be a positive integer, got ${JSON.stringify(rank ?? null)}`);
    if (typeof scaling !== 'number' || !Number.isFinite(scaling)) fail(`scaling must be a finite number, got ${JSON.stringify(scaling ?? null)}`);
    for (const [role, n] of [['A', aName], ['B', bName]] as const) {
      if (typeof n !== 'string' || !st.entries.has(n)) fail(`its ${role} tensor ${JSON.stringify(n ?? null)} is not in ${st.fileName}`);
    }
    const edit: TensorEdit = {
      kind: 'lowrank_add',
      tensor: tensor as string,
      shape: (shape as number[]).slice(),
      transposed: transposed as boolean,
      rank: rank as number,
      scaling: scaling as number,
      A: await readTensorF32(st, aName as string),
      B: await readTensorF32(st, bName as string),
    };
    checkEditData(edit, fail);
    return edit;
  }
  if (typeof valuesName !== 'string') fail(`values must name a tensor in ${st.fileName}, got ${JSON.stringify(valuesName ?? null)}`);
  if (k === 'sparse_add' && typeof indicesName !== 'string') fail(`a sparse_add needs indices naming a tensor in ${st.fileName}, got ${JSON.stringify(indicesName ?? null)}`);
  if (k !== 'sparse_add' && indicesName !== undefined) fail(`indices is only for sparse_add, not ${k}`);
  if (nnz !== undefined && (k !== 'sparse_add' || !Number.isSafeInteger(nnz))) fail(`nnz ${JSON.stringify(nnz)} is only for sparse_add and must be an integer`);
  const tensorOf = (name: string, role: string): void => {
    if (!st.entries.has(name)) fail(`its ${role} tensor "${name}" is not in ${st.fileName}`);
  };
  tensorOf(valuesName as string, 'values');
  const values = await readTensorF32(st, valuesName as string);
  const dims = (shape as number[]).slice();
  const name = tensor as string;
  let edit: TensorEdit;
  if (k === 'sparse_add') {
    tensorOf(indicesName as string, 'indices');
    const entry = st.entries.get(indicesName as string);
    if (entry && entry.shape.length !== 1) fail(`indices tensor "${indicesName}" is [${entry.shape.join(', ')}], expected 1-D [nnz]`);
    const idx = await readTensorI32(st, indicesName as string);
    for (let e = 0; e < idx.length; e++) if (idx[e] < 0) fail(`index ${idx[e]} at position ${e} is negative`);
    edit = { kind: 'sparse_add', tensor: name, shape: dims, indices: new Uint32Array(idx.buffer, idx.byteOffset, idx.length), values };
    if (nnz !== undefined && nnz !== idx.length) fail(`nnz is ${nnz} but the indices tensor holds ${idx.length}`);
  } else if (k === 'add') {
    edit = { kind: 'add', tensor: name, shape: dims, values };
  } else {
    edit = { kind: 'scale', tensor: name, shape: dims, axis: axis as number, values };
  }
  checkEditData(edit, fail);
  return edit;
}

// ---------------------------------------------------------------- validation shared by reader and writer

/** kind, tensor, shape and (for scale) axis. Works on unknown input so the reader can use it on raw JSON. */
function checkEditHeader(kind: unknown, tensor: unknown, shape: unknown, axis: unknown, fail: (msg: string) => never): void {
  if (typeof kind !== 'string' || !(EDIT_KINDS as readonly string[]).includes(kind)) fail(`unknown kind ${JSON.stringify(kind ?? null)} (known: ${EDIT_KINDS.join(', ')})`);
  if (typeof tensor !== 'string' || tensor === '') fail(`tensor must be a non-empty tensor name, got ${JSON.stringify(tensor ?? null)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`shape ${JSON.stringify(shape ?? null)} is not a list of non-negative integers`);
  const dims = shape as number[];
  const numel = dims.reduce((a, d) => a * d, 1);
  if (!Number.isSafeInteger(numel)) fail(`shape [${dims.join(', ')}] has too many elements`);
  if (kind === 'sparse_add' && numel > MAX_SPARSE_NUMEL) fail(`shape [${dims.join(', ')}] has ${numel} elements; sparse_add stores int32 flat indices, so tensors are limited to ${MAX_SPARSE_NUMEL} elements`);
  if (kind === 'lowrank_add' && dims.length !== 2) fail(`a lowrank_add edits a 2-D weight, not shape [${dims.join(', ')}]`);
  if (kind === 'scale') {
    if (!Number.isInteger(axis) || (axis as number) < 0 || (axis as number) >= dims.length) fail(`axis ${JSON.stringify(axis ?? null)} is not an axis of the ${dims.length}-D shape [${dims.join(', ')}]`);
  } else if (axis !== undefined) {
    fail(`axis is only for scale, not ${kind}`);
  }
}

/** Lengths, index order and range, finiteness. */
function checkEditData(e: TensorEdit, fail: (msg: string) => never): void {
  const numel = e.shape.reduce((a, d) => a * d, 1);
  const shapeText = `[${e.shape.join(', ')}]`;
  if (e.kind === 'lowrank_add') {
    const [out, inF] = lowRankDims(e);
    if (!(e.A instanceof Float32Array) || e.A.length !== e.rank * inF) fail(`A must be a Float32Array of rank × in = ${e.rank} × ${inF}`);
    if (!(e.B instanceof Float32Array) || e.B.length !== out * e.rank) fail(`B must be a Float32Array of out × rank = ${out} × ${e.rank}`);
    if (!Number.isFinite(e.scaling)) fail(`scaling ${e.scaling} is not finite`);
    for (const [name, t] of [['A', e.A], ['B', e.B]] as const) for (let j = 0; j < t.length; j++) if (!Number.isFinite(t[j])) fail(`${name}[${j}] = ${t[j]} is not finite`);
    return;
  }
  if (!(e.values instanceof Float32Array)) fail('values must be a Float32Array');
  if (e.kind === 'add' && e.values.length !== numel) fail(`${e.values.length} values for a tensor of shape ${shapeText} (${numel} elements); an add needs one value per element`);
  if (e.kind === 'scale' && e.values.length !== e.shape[e.axis]) fail(`${e.values.length} values for axis ${e.axis} of shape ${shapeText}; a scale needs shape[${e.axis}] = ${e.shape[e.axis]}`);
  if (e.kind === 'sparse_add') {
    if (!(e.indices instanceof Uint32Array)) fail('indices must be a Uint32Array');
    const idx = e.indices;
    if (idx.length !== e.values.length) fail(`${idx.length} indices but ${e.values.length} values`);
    for (let j = 0; j < idx.length; j++) {
      if (idx[j] >= numel) fail(`index ${idx[j]} at position ${j} is out of range for shape ${shapeText} (${numel} elements)`);
      if (j > 0 && idx[j] <= idx[j - 1]) fail(`indices must be strictly ascending (sorted, no duplicates): position ${j} holds ${idx[j]} after ${idx[j - 1]}`);
    }
  }
  for (let j = 0; j < e.values.length; j++) if (!Number.isFinite(e.values[j])) fail(`value ${e.values[j]} at position ${j} is not finite`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** Refuses what JSON.stringify would silently change: undefined, NaN, functions, typed arrays, class instances. */
function checkJsonObject(v: unknown, what: string, fail: (msg: string) => never): void {
  if (!isPlainObject(v)) fail(`${what} must be a plain object`);
  const visit = (x: unknown, path: string): void => {
    if (x === null || typeof x === 'string' || typeof x === 'boolean') return;
    if (typeof x === 'number') {
      if (!Number.isFinite(x)) fail(`${path} is ${x}, which JSON cannot hold`);
      return;
    }
    if (Array.isArray(x)) {
      x.forEach((y, i) => visit(y, `${path}[${i}]`));
      return;
    }
    if (typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
      for (const [k, y] of Object.entries(x as Record<string, unknown>)) visit(y, `${path}.${k}`);
      return;
    }
    fail(`${path} is not a plain JSON value (${x === undefined ? 'undefined' : typeof x === 'object' ? (x as object).constructor.name : typeof x})`);
  };
  visit(v, what);
}

// ---------------------------------------------------------------- applying (reference semantics)

/**
 * Applies one edit in place to a float32 copy of the stored tensor (row-major, `edit.shape`). This is the
 * reference for what an edit means; merge code may do the same on the GPU or in another precision.
 */
export function applyTensorEdit(data: Float32Array, edit: TensorEdit): void {
  const numel = edit.shape.reduce((a, d) => a * d, 1);
  if (data.length !== numel) throw new Error(`applyTensorEdit: "${edit.tensor}" has ${data.length} elements, the edit expects shape [${edit.shape.join(', ')}] (${numel})`);
  if (edit.kind === 'lowrank_add') {
    const [out, inF] = lowRankDims(edit);
    const { A, B, rank, scaling } = edit;
    for (let o = 0; o < out; o++) {
      for (let i = 0; i < inF; i++) {
        let d = 0;
        for (let r = 0; r < rank; r++) d += B[o * rank + r] * A[r * inF + i];
        data[edit.transposed ? i * out + o : o * inF + i] += scaling * d;
      }
    }
  } else if (edit.kind === 'add') {
    for (let j = 0; j < numel; j++) data[j] += edit.values[j];
  } else if (edit.kind === 'sparse_add') {
    for (let j = 0; j < edit.indices.length; j++) data[edit.indices[j]] += edit.values[j];
  } else {
    // Element (…, c along axis, …) lies in run `outer`, at offset c·inner + r within it.
    const dim = edit.shape[edit.axis];
    const inner = edit.shape.slice(edit.axis + 1).reduce((a, d) => a * d, 1);
    const outer = numel / Math.max(1, dim * inner);
    for (let b = 0; b < outer; b++) {
      for (let c = 0; c < dim; c++) {
        const s = edit.values[c];
        const start = (b * dim + c) * inner;
        for (let r = 0; r < inner; r++) data[start + r] *= s;
      }
    }
  }
}
