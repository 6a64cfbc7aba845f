/**
 * The PEFT LoRA adapter format: adapter_config.json + adapter_model.safetensors, as peft 0.14 `save_pretrained`
 * writes them, so adapters trained here load with `PeftModel.from_pretrained` and vice versa.
 *
 * Weights are keyed `base_model.model.<module path>.lora_A.weight` ([r, in]) and `...lora_B.weight` ([out, r]);
 * the module path is the module's name inside the transformers model (`model.layers.0.self_attn.q_proj`).
 */
import { parseConfigObject } from './adapterKind';
import type { NamedBlob } from '../run/api';
import { indexFolder } from './folder';
import { type JsonValue, pythonJsonDumps } from './pyjson';
import { type SafetensorsFile, parseSafetensors } from './safetensors';

/** Every field peft 0.14 writes for a LoRA adapter (27 keys), with the types it writes them with. */
export interface LoraAdapterConfig {
  alpha_pattern: Record<string, number>;
  auto_mapping: JsonValue;
  base_model_name_or_path: string | null;
  bias: 'none' | 'all' | 'lora_only';
  eva_config: JsonValue;
  exclude_modules: string[] | string | null;
  fan_in_fan_out: boolean;
  inference_mode: boolean;
  /** true (Kaiming A, zero B), false, "gaussian", "pissa", "pissa_niter_K", "olora", "loftq", "eva", ... */
  init_lora_weights: boolean | string;
  layer_replication: JsonValue;
  layers_pattern: string[] | string | null;
  layers_to_transform: number[] | number | null;
  loftq_config: { [key: string]: JsonValue };
  lora_alpha: number;
  lora_bias: boolean;
  lora_dropout: number;
  megatron_config: JsonValue;
  megatron_core: string | null;
  modules_to_save: string[] | null;
  peft_type: 'LORA';
  r: number;
  rank_pattern: Record<string, number>;
  revision: string | null;
  /** A list (matched as module-name suffixes) or one string (a regex that must match the whole module name). */
  target_modules: string[] | string;
  task_type: string | null;
  use_dora: boolean;
  use_rslora: boolean;
}

export interface LoraConfigOptions {
  baseModelNameOrPath: string;
  r: number;
  loraAlpha: number;
  targetModules: string[];
  useRslora: boolean;
  loraDropout: number;
  fanInFanOut: boolean;
  initLoraWeights: boolean | 'gaussian' | 'pissa';
  rankPattern?: Record<string, number>;
  alphaPattern?: Record<string, number>;
}

/**
 * The config peft writes for these settings. `target_modules` keeps the caller's order (duplicates dropped):
 * peft holds it as a Python set, so the order in its files is hash order, varies between runs and means nothing.
 * `inference_mode` is true because save_pretrained writes it so.
 */
export function buildLoraAdapterConfig(opts: LoraConfigOptions): LoraAdapterConfig {
  return {
    alpha_pattern: { ...(opts.alphaPattern ?? {}) },
    auto_mapping: null,
    base_model_name_or_path: opts.baseModelNameOrPath,
    bias: 'none',
    eva_config: null,
    exclude_modules: null,
    fan_in_fan_out: opts.fanInFanOut,
    inference_mode: true,
    init_lora_weights: opts.initLoraWeights,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: opts.loraAlpha,
    lora_bias: false,
    lora_dropout: opts.loraDropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: opts.r,
    rank_pattern: { ...(opts.rankPattern ?? {}) },
    revision: null,
    target_modules: [...new Set(opts.targetModules)],
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: opts.useRslora,
  };
}

const FLOAT_KEYS: ReadonlySet<string> = new Set(['lora_dropout']);

/** The exact text peft writes: `json.dumps(config, indent=2, sort_keys=True)`, no trailing newline. */
export function serializeAdapterConfig(cfg: LoraAdapterConfig): string {
  return pythonJsonDumps({ ...cfg } as { [key: string]: JsonValue }, { indent: 2, sortKeys: true, floatKeys: FLOAT_KEYS });
}

// ---------------------------------------------------------------- parsing

export function parseLoraAdapterConfig(text: string, fileName: string): LoraAdapterConfig {
  const o = parseConfigObject(text, fileName);
  const fail = (msg: string): never => {
    throw new Error(`${fileName}: ${msg}`);
  };
  if (o.peft_type !== 'LORA') fail(`peft_type is ${JSON.stringify(o.peft_type ?? null)}; only LoRA adapters are supported so far`);
  if (o.use_dora === true) fail('this is a DoRA adapter (use_dora: true); DoRA is not supported, only plain LoRA');
  const get = <T>(key: string, fallback: T, ok: (v: unknown) => boolean, want: string): T => {
    const v = o[key];
    if (v === undefined) return fallback;
    if (!ok(v)) fail(`${key} must be ${want}, got ${JSON.stringify(v)}`);
    return v as T;
  };
  const isBool = (v: unknown): boolean => typeof v === 'boolean';
  const isStrOrNull = (v: unknown): boolean => v === null || typeof v === 'string';
  const isStrList = (v: unknown): boolean => Array.isArray(v) && v.every((s) => typeof s === 'string');
  const isObj = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (o.r === undefined) fail('r (the LoRA rank) is missing');
  const targets = o.target_modules;
  if (!(typeof targets === 'string' || isStrList(targets))) fail(`target_modules must be a list of module names or a regex string, got ${JSON.stringify(targets ?? null)}`);
  return {
    alpha_pattern: checkPattern(o.alpha_pattern, 'alpha_pattern', (v) => typeof v === 'number' && Number.isFinite(v), fail),
    auto_mapping: get<JsonValue>('auto_mapping', null, () => true, ''),
    base_model_name_or_path: get('base_model_name_or_path', null, isStrOrNull, 'a string or null'),
    bias: get('bias', 'none', (v) => v === 'none' || v === 'all' || v === 'lora_only', '"none", "all" or "lora_only"'),
    eva_config: get<JsonValue>('eva_config', null, () => true, ''),
    exclude_modules: get('exclude_modules', null, (v) => v === null || typeof v === 'string' || isStrList(v), 'a list, a string or null'),
    fan_in_fan_out: get('fan_in_fan_out', false, isBool, 'true or false'),
    inference_mode: get('inference_mode', true, isBool, 'true or false'),
    init_lora_weights: get('init_lora_weights', true, (v) => typeof v === 'boolean' || typeof v === 'string', 'a boolean or a string'),
    layer_replication: get<JsonValue>('layer_replication', null, () => true, ''),
    layers_pattern: get('layers_pattern', null, (v) => v === null || typeof v === 'string' || isStrList(v), 'a list, a string or null'),
    layers_to_transform: get('layers_to_transform', null, (v) => v === null || Number.isInteger(v) || (Array.isArray(v) && v.every(Number.isInteger)), 'an integer, a list of integers or null'),
    loftq_config: get('loftq_config', {}, isObj, 'an object'),
    lora_alpha: get('lora_alpha', 8, (v) => typeof v === 'number' && Number.isFinite(v), 'a number'),
    lora_bias: get('lora_bias', false, isBool, 'true or false'),
    lora_dropout: get('lora_dropout', 0, (v) => typeof v === 'number' && v >= 0 && v < 1, 'a number in [0, 1)'),
    megatron_config: get<JsonValue>('megatron_config', null, () => true, ''),
    megatron_core: get('megatron_core', 'megatron.core', isStrOrNull, 'a string or null'),
    modules_to_save: get('modules_to_save', null, (v) => v === null || isStrList(v), 'a list of strings or null'),
    peft_type: 'LORA',
    r: get('r', 8, isPositiveInt, 'a positive integer'),
    rank_pattern: checkPattern(o.rank_pattern, 'rank_pattern', isPositiveInt, fail),
    revision: get('revision', null, isStrOrNull, 'a string or null'),
    target_modules: typeof targets === 'string' ? targets : [...(targets as string[])],
    task_type: get('task_type', null, isStrOrNull, 'a string or null'),
    use_dora: false,
    use_rslora: get('use_rslora', false, isBool, 'true or false'),
  };
}

function isPositiveInt(v: unknown): boolean {
  return Number.isSafeInteger(v) && (v as number) > 0;
}

function checkPattern(v: unknown, key: string, ok: (x: unknown) => boolean, fail: (msg: string) => never): Record<string, number> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) fail(`${key} must be an object`);
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (!ok(x)) fail(`${key}["${k}"] has a bad value ${JSON.stringify(x)}`);
  return { ...(v as Record<string, number>) };
}

/**
 * Config features that change what the adapter does but that a plain LoRA engine does not apply. The caller
 * decides whether to refuse or to warn; an empty list means the adapter is plain LoRA.
 */
export function adapterLimitations(cfg: LoraAdapterConfig): string[] {
  const out: string[] = [];
  if (cfg.bias !== 'none') out.push(`bias "${cfg.bias}" (trained biases)`);
  if (cfg.lora_bias) out.push('lora_bias (a bias on lora_B)');
  if (cfg.modules_to_save && cfg.modules_to_save.length > 0) out.push(`modules_to_save (${cfg.modules_to_save.join(', ')})`);
  if (cfg.layer_replication !== null) out.push('layer_replication');
  if (cfg.layers_to_transform !== null) out.push('layers_to_transform');
  // peft re-runs these initialisations when it loads the adapter and rewrites the base weights (PiSSA's W_res,
  // OLoRA's, CorDA's, LoftQ's quantised base), so A and B alone are not the whole adapter.
  const init = cfg.init_lora_weights;
  if (typeof init === 'string' && /^(pissa|olora|corda|loftq)/.test(init)) out.push(`init_lora_weights "${init}" (peft rebuilds the base weights on load)`);
  return out;
}

// ---------------------------------------------------------------- module names and scaling

/**
 * peft's `get_pattern_key`: the first pattern key that matches the module path as a whole-name regex, optionally
 * preceded by "<anything>." (so "q_proj" matches "model.layers.0.self_attn.q_proj"); the path itself when none
 * does. peft 0.14 needs the dot and relies on exact-key lookup for the rest; the optional prefix covers both.
 */
export function getPatternKey(patternKeys: Iterable<string>, modulePath: string): string {
  for (const key of patternKeys) if (patternMatches(key, modulePath)) return key;
  return modulePath;
}

function patternMatches(key: string, modulePath: string): boolean {
  try {
    return new RegExp(`^(?:.*\\.)?(?:${key})$`).test(modulePath);
  } catch {
    // A Python regex JavaScript cannot compile: fall back to the literal reading of the key.
    return modulePath === key || modulePath.endsWith(`.${key}`);
  }
}

/** The rank of one module, honouring rank_pattern. */
export function rankFor(cfg: LoraAdapterConfig, modulePath: string): number {
  return cfg.rank_pattern[getPatternKey(Object.keys(cfg.rank_pattern), modulePath)] ?? cfg.r;
}

/** lora_alpha / r, or lora_alpha / sqrt(r) with rsLoRA, with r and alpha from rank_pattern / alpha_pattern. */
export function scalingFor(cfg: LoraAdapterConfig, modulePath: string): number {
  const r = rankFor(cfg, modulePath);
  const alpha = cfg.alpha_pattern[getPatternKey(Object.keys(cfg.alpha_pattern), modulePath)] ?? cfg.lora_alpha;
  return cfg.use_rslora ? alpha / Math.sqrt(r) : alpha / r;
}

/** peft's `check_target_module_exists` for a module path: list → name or ".name" suffix; string → full regex. */
export function isTargetModule(cfg: LoraAdapterConfig, modulePath: string): boolean {
  const matches = (spec: string[] | string): boolean =>
    typeof spec === 'string' ? fullMatch(spec, modulePath) : spec.some((t) => modulePath === t || modulePath.endsWith(`.${t}`));
  if (cfg.exclude_modules !== null && matches(cfg.exclude_modules)) return false;
  return matches(cfg.target_modules);
}

function fullMatch(pattern: string, s: string): boolean {
  try {
    return new RegExp(`^(?:${pattern})$`).test(s);
  } catch {
    throw new Error(`target_modules regex ${JSON.stringify(pattern)} is not a regular expression JavaScript understands`);
  }
}

const LORA_KEY = /^base_model\.model\.(.+)\.lora_(A|B)\.weight$/;

export function loraKey(modulePath: string, which: 'A' | 'B'): string {
  return `base_model.model.${modulePath}.lora_${which}.weight`;
}

export function parseLoraKey(key: string): { modulePath: string; which: 'A' | 'B' } | null {
  const m = LORA_KEY.exec(key);
  return m ? { modulePath: m[1], which: m[2] as 'A' | 'B' } : null;
}

// ---------------------------------------------------------------- opening an adapter folder

export interface OpenedAdapter {
  config: LoraAdapterConfig;
  weights: SafetensorsFile;
  /** Module paths that have both lora_A and lora_B, in file order. */
  modules: string[];
}

export async function openAdapter(files: NamedBlob[]): Promise<OpenedAdapter> {
  const { label, byName } = indexFolder(files, 'adapter');
  const configBlob = byName.get('adapter_config.json');
  const weightsBlob = byName.get('adapter_model.safetensors');
  const missing = [configBlob ? '' : 'adapter_config.json', weightsBlob ? '' : 'adapter_model.safetensors'].filter((s) => s !== '');
  if (missing.length > 0) {
    const pickle = !weightsBlob && byName.has('adapter_model.bin')
      ? ' It has adapter_model.bin, a PyTorch pickle, which is not supported: re-save the adapter with safe_serialization=True (the default since peft 0.6).'
      : '';
    throw new Error(`${label}: ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} missing; a PEFT adapter folder needs adapter_config.json and adapter_model.safetensors.${pickle}`);
  }
  const config = parseLoraAdapterConfig(await (configBlob as Blob).text(), `${label}/adapter_config.json`);
  const weights = await parseSafetensors(weightsBlob as Blob, `${label}/adapter_model.safetensors`);
  return { config, weights, modules: pairModules(config, weights) };
}

/** Checks that every LoRA module has both matrices with the rank the config gives it. */
function pairModules(cfg: LoraAdapterConfig, weights: SafetensorsFile): string[] {
  const shapes = new Map<string, { A?: number[]; B?: number[] }>();
  for (const e of weights.entries.values()) {
    const k = parseLoraKey(e.name);
    if (!k) continue;
    const slot = shapes.get(k.modulePath) ?? {};
    slot[k.which] = e.shape;
    shapes.set(k.modulePath, slot);
  }
  for (const [path, { A, B }] of shapes) {
    if (!A || !B) throw new Error(`${weights.fileName}: ${path} has lora_${A ? 'A' : 'B'} but no lora_${A ? 'B' : 'A'}`);
    const r = rankFor(cfg, path);
    if (A.length !== 2 || B.length !== 2 || A[0] !== r || B[1] !== r) {
      throw new Error(`${weights.fileName}: ${path} has lora_A [${A.join(', ')}] and lora_B [${B.join(', ')}], expected [${r}, in] and [out, ${r}] for rank ${r}`);
    }
  }
  return [...shapes.keys()];
}
