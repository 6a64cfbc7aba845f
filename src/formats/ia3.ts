/**
 * The PEFT (IA)³ adapter format (`peft_type: "IA3"`): adapter_config.json + adapter_model.safetensors as
 * `save_pretrained` writes them, so vectors trained here load with `PeftModel.from_pretrained` and vice versa.
 *
 * One learned vector `ia3_l` per target linear (peft/tuners/ia3/layer.py), initialised to ones:
 * - a module NOT in feedforward_modules scales its output: y = (x Wᵀ + b) ⊙ l, and ia3_l is [out, 1];
 * - a feed-forward module scales its input:               y = (x ⊙ l) Wᵀ + b, and ia3_l is [1, in].
 * The shapes do not depend on fan_in_fan_out (GPT-2 Conv1D): peft transposes the vector, not the file.
 * Keys are `base_model.model.<module path>.ia3_l`; peft strips the adapter name when it saves.
 */
import type { LinearSpec } from '../model/spec';
import type { AdapterFiles, NamedBlob } from '../run/api';
import {
  configReader,
  isBool,
  isIntListOrIntOrNull,
  isStrList,
  isStrListOrStrOrNull,
  isStrOrNull,
  moduleSpecMatches,
  openPeftFolder,
  pythonFullMatch,
} from './adapterKind';
import { type JsonValue, pythonJsonDumps } from './pyjson';
import { type TensorToWrite, readTensorF32, writeSafetensors } from './safetensors';
import type { TensorEdit } from './webpeftDelta';

/** Every field peft writes for an IA3 adapter, with the types it writes them with. */
export interface Ia3AdapterConfig {
  auto_mapping: JsonValue;
  base_model_name_or_path: string | null;
  exclude_modules: string[] | string | null;
  fan_in_fan_out: boolean;
  /** Must be a subset of target_modules (peft raises otherwise). Null means peft's per-architecture default. */
  feedforward_modules: string[] | string | null;
  inference_mode: boolean;
  init_ia3_weights: boolean;
  layers_pattern: string[] | string | null;
  layers_to_transform: number[] | number | null;
  modules_to_save: string[] | null;
  peft_type: 'IA3';
  revision: string | null;
  /** Null means peft's per-architecture default. */
  target_modules: string[] | string | null;
  task_type: string | null;
}

export interface Ia3Vector {
  /** Module path in the transformers model, e.g. model.layers.0.mlp.down_proj. */
  modulePath: string;
  /** true: the vector scales the input (length in); false: the output (length out). */
  feedforward: boolean;
  values: Float32Array;
}

export interface Ia3WriteOptions {
  baseModelNameOrPath: string;
  /** Short module names (k_proj, v_proj, down_proj) or full module paths; matched as peft matches them. */
  targetModules: string[];
  /** Subset of targetModules whose vectors scale the input. */
  feedforwardModules: string[];
  /** true for GPT-2 Conv1D layers (weights stored [in, out]). */
  fanInFanOut: boolean;
  vectors: Ia3Vector[];
}

export interface Ia3ReadOptions {
  /** The model's linears by module path; when given, each vector's length is checked against in/out features. */
  shapes?: Map<string, { inFeatures: number; outFeatures: number }>;
}

export function ia3Key(modulePath: string): string {
  return `base_model.model.${modulePath}.ia3_l`;
}

// An adapter name after ia3_l (".ia3_l.default") is accepted in case a file keeps it; peft itself strips it.
const IA3_KEY = /^base_model\.model\.(.+)\.ia3_l(?:\.([^.]+))?$/;

export function parseIa3Key(key: string): { modulePath: string; adapterName?: string } | null {
  const m = IA3_KEY.exec(key);
  if (!m) return null;
  return m[2] === undefined ? { modulePath: m[1] } : { modulePath: m[1], adapterName: m[2] };
}

/**
 * peft's `_check_target_module_feedforward`: a regex string must match the whole module path; a list entry
 * matches when the path ENDS WITH it (plain `endswith`, no dot, unlike target_modules).
 */
export function isFeedforwardModule(feedforwardModules: readonly string[] | string, modulePath: string): boolean {
  if (typeof feedforwardModules === 'string') return pythonFullMatch(feedforwardModules, modulePath);
  return feedforwardModules.some((t) => modulePath.endsWith(t));
}

// ---------------------------------------------------------------- config

export function buildIa3AdapterConfig(opts: Omit<Ia3WriteOptions, 'vectors'>): Ia3AdapterConfig {
  return {
    auto_mapping: null,
    base_model_name_or_path: opts.baseModelNameOrPath,
    exclude_modules: null,
    fan_in_fan_out: opts.fanInFanOut,
    // peft holds both lists as Python sets, so their order in its files is hash order and means nothing.
    feedforward_modules: [...new Set(opts.feedforwardModules)],
    inference_mode: true,
    init_ia3_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    modules_to_save: null,
    peft_type: 'IA3',
    revision: null,
    target_modules: [...new Set(opts.targetModules)],
    task_type: 'CAUSAL_LM',
  };
}

/** peft's text: `json.dumps(config, indent=2, sort_keys=True)`. */
export function serializeIa3AdapterConfig(cfg: Ia3AdapterConfig): string {
  return pythonJsonDumps({ ...cfg } as { [key: string]: JsonValue }, { indent: 2, sortKeys: true });
}

export function parseIa3AdapterConfig(o: Record<string, unknown>, fileName: string): Ia3AdapterConfig {
  const { fail, get } = configReader(o, fileName);
  if (o.peft_type !== 'IA3') fail(`peft_type is ${JSON.stringify(o.peft_type ?? null)}; this reader reads IA3 adapters only`);
  const cfg: Ia3AdapterConfig = {
    auto_mapping: get<JsonValue>('auto_mapping', null, () => true, ''),
    base_model_name_or_path: get('base_model_name_or_path', null, isStrOrNull, 'a string or null'),
    exclude_modules: get('exclude_modules', null, isStrListOrStrOrNull, 'a list, a string or null'),
    fan_in_fan_out: get('fan_in_fan_out', false, isBool, 'true or false'),
    feedforward_modules: get('feedforward_modules', null, isStrListOrStrOrNull, 'a list, a string or null'),
    inference_mode: get('inference_mode', true, isBool, 'true or false'),
    init_ia3_weights: get('init_ia3_weights', true, isBool, 'true or false'),
    layers_pattern: get('layers_pattern', null, isStrListOrStrOrNull, 'a list, a string or null'),
    layers_to_transform: get('layers_to_transform', null, isIntListOrIntOrNull, 'an integer, a list of integers or null'),
    modules_to_save: get('modules_to_save', null, (v) => v === null || isStrList(v), 'a list of strings or null'),
    peft_type: 'IA3',
    revision: get('revision', null, isStrOrNull, 'a string or null'),
    target_modules: get('target_modules', null, isStrListOrStrOrNull, 'a list of module names, a regex string or null'),
    task_type: get('task_type', null, isStrOrNull, 'a string or null'),
  };
  const ff = cfg.feedforward_modules;
  const targets = cfg.target_modules;
  if (Array.isArray(ff) && Array.isArray(targets)) {
    const extra = ff.filter((f) => !targets.includes(f));
    if (extra.length > 0) fail(`feedforward_modules must be a subset of target_modules; ${extra.map((f) => `"${f}"`).join(', ')} ${extra.length === 1 ? 'is' : 'are'} not a target`);
  }
  return cfg;
}

// ---------------------------------------------------------------- writing

export function writeIa3Adapter(opts: Ia3WriteOptions): AdapterFiles {
  const fail = (msg: string): never => {
    throw new Error(`writeIa3Adapter: ${msg}`);
  };
  if (opts.vectors.length === 0) fail('there are no IA3 vectors to write');
  const extra = opts.feedforwardModules.filter((f) => !opts.targetModules.includes(f));
  // peft's IA3Config raises on this, so a file with it would not load.
  if (extra.length > 0) fail(`feedforwardModules must be a subset of targetModules; ${extra.join(', ')} ${extra.length === 1 ? 'is' : 'are'} not a target`);
  const seen = new Set<string>();
  const tensors: TensorToWrite[] = opts.vectors.map((v) => {
    if (seen.has(v.modulePath)) fail(`${v.modulePath} has two vectors`);
    seen.add(v.modulePath);
    // peft only wraps targeted modules and decides feed-forward-ness from the config, not from the file, so a
    // vector either rule disagrees with would be dropped or fail to load with a shape mismatch.
    if (!moduleSpecMatches(opts.targetModules, v.modulePath)) fail(`${v.modulePath} is not matched by targetModules [${opts.targetModules.join(', ')}]; peft would ignore its vector`);
    const ff = isFeedforwardModule(opts.feedforwardModules, v.modulePath);
    if (ff !== v.feedforward) {
      fail(`${v.modulePath} is marked ${v.feedforward ? 'feed-forward' : 'not feed-forward'}, but feedforwardModules [${opts.feedforwardModules.join(', ')}] says ${ff ? 'it is' : 'it is not'} (peft decides from the config)`);
    }
    if (v.values.length === 0) fail(`${v.modulePath} has an empty vector`);
    for (let i = 0; i < v.values.length; i++) if (!Number.isFinite(v.values[i])) fail(`${v.modulePath} holds ${v.values[i]} at ${i}`);
    const n = v.values.length;
    return { name: ia3Key(v.modulePath), dtype: 'F32', shape: v.feedforward ? [1, n] : [n, 1], data: v.values };
  });
  const config = buildIa3AdapterConfig(opts);
  return { config: serializeIa3AdapterConfig(config), weights: writeSafetensors(tensors, { format: 'pt' }) };
}

// ---------------------------------------------------------------- reading

export async function readIa3Adapter(files: NamedBlob[], options: Ia3ReadOptions = {}): Promise<{ config: Ia3AdapterConfig; vectors: Ia3Vector[] }> {
  const folder = await openPeftFolder(files, 'IA3');
  const config = parseIa3AdapterConfig(folder.config, folder.configFileName);
  const st = folder.weights;
  const fail = (msg: string): never => {
    throw new Error(`${st.fileName}: ${msg}`);
  };
  const vectors: Ia3Vector[] = [];
  const seen = new Set<string>();
  for (const e of st.entries.values()) {
    const key = parseIa3Key(e.name);
    // Anything else (modules_to_save copies, a classifier head) would be trained weights we silently dropped.
    if (!key) fail(`tensor "${e.name}" is not an IA3 vector (base_model.model.<module>.ia3_l); modules_to_save and other extra weights are not supported`);
    const { modulePath } = key as { modulePath: string };
    if (seen.has(modulePath)) fail(`${modulePath} has more than one ia3_l tensor (with and without an adapter name?)`);
    seen.add(modulePath);
    const selected = (config.target_modules === null || moduleSpecMatches(config.target_modules, modulePath)) && !(config.exclude_modules !== null && moduleSpecMatches(config.exclude_modules, modulePath));
    if (!selected) fail(`"${e.name}" is for ${modulePath}, which target_modules/exclude_modules in adapter_config.json do not select; peft would not load it`);
    const feedforward = feedforwardOf(config, modulePath, e.shape);
    const [a, b] = e.shape;
    const n = feedforward ? b : a;
    if (e.shape.length !== 2 || (feedforward ? a !== 1 : b !== 1)) {
      fail(`"${e.name}" is [${e.shape.join(', ')}]; ${modulePath} ${feedforward ? 'is a feed-forward module, so its ia3_l must be [1, in]' : 'is not a feed-forward module, so its ia3_l must be [out, 1]'}`);
    }
    const spec = options.shapes?.get(modulePath);
    if (options.shapes && !spec) fail(`"${e.name}" is for ${modulePath}, which is not a linear layer of the model`);
    if (spec) {
      const want = feedforward ? spec.inFeatures : spec.outFeatures;
      if (n !== want) fail(`"${e.name}" has ${n} values; ${modulePath} has ${feedforward ? `in_features ${spec.inFeatures}` : `out_features ${spec.outFeatures}`}`);
    }
    vectors.push({ modulePath, feedforward, values: await readTensorF32(st, e.name) });
  }
  if (vectors.length === 0) fail('holds no IA3 vectors');
  return { config, vectors };
}

/** From the config as peft decides it; from the tensor's orientation when the config leaves it to peft's defaults. */
function feedforwardOf(cfg: Ia3AdapterConfig, modulePath: string, shape: number[]): boolean {
  if (cfg.feedforward_modules !== null) return isFeedforwardModule(cfg.feedforward_modules, modulePath);
  return shape.length === 2 && shape[0] === 1 && shape[1] !== 1;
}

// ---------------------------------------------------------------- as tensor edits

/**
 * The merged form of one vector as edits of the stored checkpoint tensors (peft's `merge`):
 * - output scaling: every output row of W times l (axis 0 of an [out, in] nn.Linear weight, axis 1 of a Conv1D
 *   [in, out] one), and the bias times l, since (x Wᵀ + b) ⊙ l = x (diag(l) W)ᵀ + b ⊙ l;
 * - input scaling (feed-forward): every input column of W times l; the bias is untouched.
 */
export function ia3VectorToEdits(v: Ia3Vector, linear: LinearSpec): TensorEdit[] {
  const want = v.feedforward ? linear.inFeatures : linear.outFeatures;
  if (v.values.length !== want) throw new Error(`ia3VectorToEdits: ${v.modulePath} has ${v.values.length} values, expected ${want} (${v.feedforward ? 'in' : 'out'}_features)`);
  const stored = linear.layout === 'out_in' ? [linear.outFeatures, linear.inFeatures] : [linear.inFeatures, linear.outFeatures];
  const outAxis = linear.layout === 'out_in' ? 0 : 1;
  const axis = v.feedforward ? 1 - outAxis : outAxis;
  const edits: TensorEdit[] = [{ kind: 'scale', tensor: linear.weightName, shape: stored, axis, values: v.values }];
  if (!v.feedforward && linear.biasName) edits.push({ kind: 'scale', tensor: linear.biasName, shape: [linear.outFeatures], axis: 0, values: v.values });
  return edits;
}
