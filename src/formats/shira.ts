/**
 * The PEFT SHiRA adapter format (`peft_type: "SHIRA"`, peft ≥ 0.17): adapter_config.json +
 * adapter_model.safetensors, so sparse updates trained here load with `PeftModel.from_pretrained`.
 *
 * Per target nn.Linear (peft/tuners/shira/layer.py): `shira_weight` F32 [K] (trainable) and `shira_indices`
 * I32 [2, K] (row 0 the output index, row 1 the input index, in nn.Linear's [out, in] orientation). The update is
 * the COO tensor ΔW[indices[0][e], indices[1][e]] += scaling · weight[e], with scaling 1.
 *
 * Constraints peft imposes, which the writer enforces so the files load:
 * - K = r · (in + out) for ONE global r (ShiraConfig has no per-layer rank; a layer's parameter count is set
 *   from r when peft builds the model, before the file's tensors are loaded into it);
 * - nn.Linear only (peft refuses GPT-2 Conv1D), so fan_in_fan_out is always false.
 * Keys are `base_model.model.<module path>.shira_weight` / `.shira_indices` (peft strips the adapter name;
 * the reader also accepts a trailing ".<adapter name>"). peft on Windows saves the indices as F32; the reader
 * accepts that too.
 *
 * Here a layer's entries are flat indices o·in + i into the [out, in] weight, ascending (the studio's currency
 * for sparse updates). Without the layer shapes a file's indices cannot be flattened (in is not in the file), so
 * the reader returns (row, col) pairs always and flat indices when the caller gives the shapes.
 */
import type { LinearSpec } from '../model/spec';
import type { AdapterFiles, NamedBlob } from '../run/api';
import { configReader, isBool, isStrList, isStrListOrStrOrNull, isStrOrNull, moduleSpecMatches, openPeftFolder } from './adapterKind';
import { type JsonValue, pythonJsonDumps } from './pyjson';
import { type SafetensorsFile, type TensorToWrite, readTensorF32, readTensorI32, writeSafetensors } from './safetensors';
import type { TensorEdit } from './webpeftDelta';

/** Every field peft writes for a SHiRA adapter. */
export interface ShiraAdapterConfig {
  auto_mapping: JsonValue;
  base_model_name_or_path: string | null;
  fan_in_fan_out: boolean;
  inference_mode: boolean;
  init_weights: boolean;
  mask_type: string;
  modules_to_save: string[] | null;
  peft_type: 'SHIRA';
  r: number;
  random_seed: number | null;
  revision: string | null;
  target_modules: string[] | string | null;
  task_type: string | null;
}

export interface ShiraLayerData {
  modulePath: string;
  inFeatures: number;
  outFeatures: number;
  /** Flat o·in + i into the [out, in] weight, strictly ascending. */
  indices: Uint32Array;
  values: Float32Array;
  /** The layer's stored layout, when the caller knows it: 'in_out' (GPT-2 Conv1D) is refused, as peft refuses it. */
  layout?: 'out_in' | 'in_out';
}

export interface ShiraWriteOptions {
  baseModelNameOrPath: string;
  r: number;
  /** Recorded for the config only: peft builds a throwaway random mask from it, then loads the file's indices. */
  randomSeed: number;
  targetModules: string[];
  layers: ShiraLayerData[];
}

export interface ShiraLayerRead {
  modulePath: string;
  /** Output index of each entry; entries sorted by (row, col), which is flat-index order for any in_features. */
  rows: Uint32Array;
  /** Input index of each entry. */
  cols: Uint32Array;
  values: Float32Array;
  /** Present when the reader was given this layer's shape. */
  inFeatures?: number;
  outFeatures?: number;
  /** Flat o·in + i, strictly ascending (checked unique and in range); present when the shape was given. */
  indices?: Uint32Array;
}

export interface ShiraReadOptions {
  /** The model's nn.Linear layers by module path. With it, every layer is checked and gets flat indices. */
  shapes?: Map<string, { inFeatures: number; outFeatures: number }>;
}

export function shiraKey(modulePath: string, which: 'weight' | 'indices'): string {
  return `base_model.model.${modulePath}.shira_${which}`;
}

const SHIRA_KEY = /^base_model\.model\.(.+)\.shira_(weight|indices)(?:\.([^.]+))?$/;

export function parseShiraKey(key: string): { modulePath: string; which: 'weight' | 'indices' } | null {
  const m = SHIRA_KEY.exec(key);
  return m ? { modulePath: m[1], which: m[2] as 'weight' | 'indices' } : null;
}

/** The SHiRA r for which `kept` = r · (in + out) exactly, or null when there is none (peft needs r ≥ 1). */
export function shiraRankFor(kept: number, inF: number, outF: number): number | null {
  const sum = inF + outF;
  if (!Number.isSafeInteger(kept) || kept <= 0 || !(sum > 0) || kept % sum !== 0) return null;
  return kept / sum;
}

// ---------------------------------------------------------------- config

export function buildShiraAdapterConfig(opts: Omit<ShiraWriteOptions, 'layers'>): ShiraAdapterConfig {
  return {
    auto_mapping: null,
    base_model_name_or_path: opts.baseModelNameOrPath,
    fan_in_fan_out: false,
    inference_mode: true,
    init_weights: true,
    mask_type: 'random',
    modules_to_save: null,
    peft_type: 'SHIRA',
    r: opts.r,
    random_seed: opts.randomSeed,
    revision: null,
    // A Python set in peft: order carries no meaning.
    target_modules: [...new Set(opts.targetModules)],
    task_type: 'CAUSAL_LM',
  };
}

export function serializeShiraAdapterConfig(cfg: ShiraAdapterConfig): string {
  return pythonJsonDumps({ ...cfg } as { [key: string]: JsonValue }, { indent: 2, sortKeys: true });
}

export function parseShiraAdapterConfig(o: Record<string, unknown>, fileName: string): ShiraAdapterConfig {
  const { fail, get } = configReader(o, fileName);
  if (o.peft_type !== 'SHIRA') fail(`peft_type is ${JSON.stringify(o.peft_type ?? null)}; this reader reads SHiRA adapters only`);
  const isPosInt = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) > 0;
  return {
    auto_mapping: get<JsonValue>('auto_mapping', null, () => true, ''),
    base_model_name_or_path: get('base_model_name_or_path', null, isStrOrNull, 'a string or null'),
    fan_in_fan_out: get('fan_in_fan_out', false, isBool, 'true or false'),
    inference_mode: get('inference_mode', true, isBool, 'true or false'),
    init_weights: get('init_weights', true, isBool, 'true or false'),
    // Only the mask used at creation; the trained indices are in the file, so any mask_type reads the same.
    mask_type: get('mask_type', 'random', (v) => typeof v === 'string', 'a string'),
    modules_to_save: get('modules_to_save', null, (v) => v === null || isStrList(v), 'a list of strings or null'),
    peft_type: 'SHIRA',
    r: get('r', 32, isPosInt, 'a positive integer'),
    random_seed: get('random_seed', null, (v) => v === null || Number.isSafeInteger(v), 'an integer or null'),
    revision: get('revision', null, isStrOrNull, 'a string or null'),
    target_modules: get('target_modules', null, isStrListOrStrOrNull, 'a list of module names, a regex string or null'),
    task_type: get('task_type', null, isStrOrNull, 'a string or null'),
  };
}

// ---------------------------------------------------------------- writing

export function writeShiraAdapter(opts: ShiraWriteOptions): AdapterFiles {
  const fail = (msg: string): never => {
    throw new Error(`writeShiraAdapter: ${msg}`);
  };
  if (!Number.isSafeInteger(opts.r) || opts.r <= 0) fail(`r must be a positive integer, got ${opts.r}`);
  if (!Number.isSafeInteger(opts.randomSeed)) fail(`randomSeed must be an integer, got ${opts.randomSeed}`);
  if (opts.layers.length === 0) fail('there are no SHiRA layers to write');
  const seen = new Set<string>();
  const tensors: TensorToWrite[] = [];
  for (const l of opts.layers) {
    const where = l.modulePath;
    if (seen.has(where)) fail(`${where} is given twice`);
    seen.add(where);
    if (!moduleSpecMatches(opts.targetModules, where)) fail(`${where} is not matched by targetModules [${opts.targetModules.join(', ')}]; peft would ignore it`);
    if (l.layout === 'in_out') fail(`${where} is a GPT-2 Conv1D layer; peft's SHiRA supports only torch.nn.Linear, so export this update as a webpeft delta instead`);
    const { inFeatures: inF, outFeatures: outF } = l;
    if (!(Number.isSafeInteger(inF) && inF > 0 && Number.isSafeInteger(outF) && outF > 0)) fail(`${where} has bad features in ${inF}, out ${outF}`);
    const K = l.indices.length;
    const want = opts.r * (inF + outF);
    if (K !== want) {
      const own = shiraRankFor(K, inF, outF);
      fail(`${where} keeps ${K} entries, but peft's SHiRA needs exactly r·(in + out) = ${opts.r}·(${inF} + ${outF}) = ${want} for the adapter's one r${own === null ? ` (${K} is not a multiple of ${inF + outF}, so no r fits)` : ` (this layer alone would be r = ${own})`}`);
    }
    if (l.values.length !== K) fail(`${where} has ${K} indices but ${l.values.length} values`);
    const numel = inF * outF;
    const pairs = new Int32Array(2 * K);
    for (let e = 0; e < K; e++) {
      const f = l.indices[e];
      if (f >= numel) fail(`${where}: index ${f} at position ${e} is out of range for [${outF}, ${inF}]`);
      if (e > 0 && f <= l.indices[e - 1]) fail(`${where}: indices must be strictly ascending; position ${e} holds ${f} after ${l.indices[e - 1]}`);
      if (!Number.isFinite(l.values[e])) fail(`${where}: value ${l.values[e]} at position ${e} is not finite`);
      // Row 0 = output index, row 1 = input index, as torch.where(mask) on the [out, in] mask gives them.
      pairs[e] = Math.floor(f / inF);
      pairs[K + e] = f % inF;
    }
    tensors.push({ name: shiraKey(where, 'weight'), dtype: 'F32', shape: [K], data: l.values });
    tensors.push({ name: shiraKey(where, 'indices'), dtype: 'I32', shape: [2, K], data: pairs });
  }
  const config = buildShiraAdapterConfig(opts);
  return { config: serializeShiraAdapterConfig(config), weights: writeSafetensors(tensors, { format: 'pt' }) };
}

// ---------------------------------------------------------------- reading

export async function readShiraAdapter(files: NamedBlob[], options: ShiraReadOptions = {}): Promise<{ config: ShiraAdapterConfig; layers: ShiraLayerRead[] }> {
  const folder = await openPeftFolder(files, 'SHiRA');
  const config = parseShiraAdapterConfig(folder.config, folder.configFileName);
  const st = folder.weights;
  const fail = (msg: string): never => {
    throw new Error(`${st.fileName}: ${msg}`);
  };
  const keys = new Map<string, { weight?: string; indices?: string }>();
  for (const name of st.entries.keys()) {
    const k = parseShiraKey(name);
    if (!k) fail(`tensor "${name}" is not a SHiRA tensor (base_model.model.<module>.shira_weight / .shira_indices); modules_to_save and other extra weights are not supported`);
    const { modulePath, which } = k as { modulePath: string; which: 'weight' | 'indices' };
    const slot = keys.get(modulePath) ?? {};
    if (slot[which] !== undefined) fail(`${modulePath} has more than one shira_${which} tensor`);
    slot[which] = name;
    keys.set(modulePath, slot);
  }
  if (keys.size === 0) fail('holds no SHiRA tensors');
  const layers: ShiraLayerRead[] = [];
  for (const [modulePath, { weight, indices }] of keys) {
    if (!weight || !indices) fail(`${modulePath} has shira_${weight ? 'weight' : 'indices'} but no shira_${weight ? 'indices' : 'weight'}`);
    if (config.target_modules !== null && !moduleSpecMatches(config.target_modules, modulePath)) fail(`${modulePath} is not selected by target_modules in adapter_config.json; peft would not load it`);
    const layer = await readLayer(st, modulePath, weight as string, indices as string, config.r, fail);
    const spec = options.shapes?.get(modulePath);
    if (options.shapes && !spec) fail(`${modulePath} is not a linear layer of the model`);
    if (spec) {
      const want = config.r * (spec.inFeatures + spec.outFeatures);
      if (layer.values.length !== want) fail(`${modulePath} holds ${layer.values.length} entries; with r = ${config.r} and [${spec.outFeatures}, ${spec.inFeatures}] peft expects r·(in + out) = ${want}`);
      layer.inFeatures = spec.inFeatures;
      layer.outFeatures = spec.outFeatures;
      layer.indices = shiraFlatIndices(layer, spec.inFeatures, spec.outFeatures, `${st.fileName}: ${modulePath}`);
    }
    layers.push(layer);
  }
  return { config, layers };
}

async function readLayer(st: SafetensorsFile, modulePath: string, weightKey: string, indicesKey: string, r: number, fail: (msg: string) => never): Promise<ShiraLayerRead> {
  const wShape = (st.entries.get(weightKey) as { shape: number[] }).shape;
  const iEntry = st.entries.get(indicesKey) as { shape: number[]; dtype: string };
  if (wShape.length !== 1) fail(`"${weightKey}" is [${wShape.join(', ')}], expected 1-D [K]`);
  const K = wShape[0];
  if (iEntry.shape.length !== 2 || iEntry.shape[0] !== 2 || iEntry.shape[1] !== K) fail(`"${indicesKey}" is [${iEntry.shape.join(', ')}], expected [2, ${K}] to match shira_weight [${K}]`);
  // K = r·(in + out) makes K a multiple of r whatever the layer's shape; a file that breaks this cannot load.
  if (K % r !== 0) fail(`${modulePath} holds ${K} entries, not a multiple of r = ${r}; peft's SHiRA layers hold r·(in + out)`);
  const values = await readTensorF32(st, weightKey);
  const flat = await readIndexPairs(st, indicesKey, iEntry.dtype, fail);
  const rows = new Uint32Array(K);
  const cols = new Uint32Array(K);
  for (let e = 0; e < K; e++) {
    const a = flat[e];
    const b = flat[K + e];
    if (a < 0 || b < 0) fail(`"${indicesKey}" holds a negative index at entry ${e} (${a}, ${b})`);
    rows[e] = a;
    cols[e] = b;
  }
  return sortPairs({ modulePath, rows, cols, values });
}

/** I32 / I64 (and the other integer types) as peft saves them on Linux/macOS; F32 as it saves them on Windows. */
async function readIndexPairs(st: SafetensorsFile, key: string, dtype: string, fail: (msg: string) => never): Promise<Int32Array> {
  if (dtype !== 'F32' && dtype !== 'F64' && dtype !== 'F16' && dtype !== 'BF16') return readTensorI32(st, key);
  const f = await readTensorF32(st, key);
  const out = new Int32Array(f.length);
  for (let j = 0; j < f.length; j++) {
    if (!Number.isInteger(f[j]) || f[j] > 0x7fffffff) fail(`"${key}" is ${dtype} and holds ${f[j]} at ${j}, not an index`);
    out[j] = f[j];
  }
  return out;
}

/** Orders entries by (row, col), carrying values; torch.where gives this order already, so usually a no-op. */
function sortPairs(l: ShiraLayerRead): ShiraLayerRead {
  const { rows, cols, values } = l;
  const K = rows.length;
  let sorted = true;
  for (let e = 1; e < K && sorted; e++) sorted = rows[e - 1] < rows[e] || (rows[e - 1] === rows[e] && cols[e - 1] <= cols[e]);
  if (sorted) return l;
  const order = Array.from({ length: K }, (_, e) => e).sort((a, b) => rows[a] - rows[b] || cols[a] - cols[b]);
  return { ...l, rows: Uint32Array.from(order, (e) => rows[e]), cols: Uint32Array.from(order, (e) => cols[e]), values: Float32Array.from(order, (e) => values[e]) };
}

/** Flat o·in + i of (row, col) pairs sorted by (row, col), checked in range and unique. `where` prefixes errors. */
export function shiraFlatIndices(l: Pick<ShiraLayerRead, 'rows' | 'cols'>, inF: number, outF: number, where: string): Uint32Array {
  const K = l.rows.length;
  const out = new Uint32Array(K);
  for (let e = 0; e < K; e++) {
    const o = l.rows[e];
    const i = l.cols[e];
    if (o >= outF || i >= inF) throw new Error(`${where}: entry (${o}, ${i}) is outside the [${outF}, ${inF}] weight`);
    out[e] = o * inF + i;
    if (e > 0 && out[e] <= out[e - 1]) throw new Error(`${where}: entry (${o}, ${i}) appears twice`);
  }
  return out;
}

// ---------------------------------------------------------------- as a tensor edit

/**
 * One layer's update as a sparse_add of the stored weight. An nn.Linear weight is stored [out, in], so the flat
 * indices carry over; a Conv1D one is stored [in, out], so each entry moves to i·out + o and the list is re-sorted.
 * (peft's SHiRA has no Conv1D support, but the studio's sparse update is the same thing on any linear.)
 */
export function shiraLayerToEdit(l: Pick<ShiraLayerData, 'modulePath' | 'indices' | 'values'>, linear: LinearSpec): TensorEdit {
  const inF = linear.inFeatures;
  const outF = linear.outFeatures;
  if (linear.layout === 'out_in') return { kind: 'sparse_add', tensor: linear.weightName, shape: [outF, inF], indices: l.indices, values: l.values };
  const K = l.indices.length;
  const moved = new Float64Array(K);
  for (let e = 0; e < K; e++) {
    const f = l.indices[e];
    moved[e] = (f % inF) * outF + Math.floor(f / inF);
  }
  const order = Array.from({ length: K }, (_, e) => e).sort((a, b) => moved[a] - moved[b]);
  return {
    kind: 'sparse_add',
    tensor: linear.weightName,
    shape: [inF, outF],
    indices: Uint32Array.from(order, (e) => moved[e]),
    values: Float32Array.from(order, (e) => l.values[e]),
  };
}
