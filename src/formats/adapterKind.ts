/**
 * Which kind of adapter a dropped folder holds, and the small pieces every PEFT (non-LoRA) reader shares: opening
 * adapter_config.json + adapter_model.safetensors with messages that name the folder, and PEFT's module-name
 * matching for target_modules / exclude_modules / feedforward_modules.
 *
 * A PEFT folder says what it is in adapter_config.json's `peft_type`; a webpeft delta folder has webpeft_delta.json.
 * A folder with both is read as the PEFT adapter: the studio may export a PEFT adapter (the standard, loadable by
 * `PeftModel.from_pretrained`) with a delta beside it, and the PEFT files are the ones a user dropped it to load.
 */
import type { AdapterKind, NamedBlob } from '../run/api';
import { indexFolder } from './folder';
import { type SafetensorsFile, parseSafetensors } from './safetensors';
import { DELTA_JSON, isDeltaFolder } from './webpeftDelta';

export type { AdapterKind } from '../run/api';

/** PEFT's `PeftType` values we read, and the kind each maps to. */
export const SUPPORTED_PEFT_TYPES: Readonly<Record<string, AdapterKind>> = { LORA: 'lora', ADALORA: 'adalora', IA3: 'ia3', SHIRA: 'shira' };

export async function detectAdapterKind(files: NamedBlob[]): Promise<AdapterKind> {
  const { label, byName } = indexFolder(files, 'adapter');
  const configBlob = byName.get('adapter_config.json');
  if (!configBlob) {
    if (isDeltaFolder(files)) return 'webpeft-delta';
    const pickleOnly = byName.has('adapter_model.bin') ? ' (it has adapter_model.bin but no adapter_config.json)' : '';
    throw new Error(`${label}: not an adapter folder${pickleOnly}; expected a PEFT adapter (adapter_config.json + adapter_model.safetensors) or a webpeft delta (${DELTA_JSON} + webpeft_delta.safetensors)`);
  }
  const fileName = `${label}/adapter_config.json`;
  const config = parseConfigObject(await configBlob.text(), fileName);
  const type = config.peft_type;
  const supported = Object.keys(SUPPORTED_PEFT_TYPES).join(', ');
  if (type === undefined || type === null) throw new Error(`${fileName}: peft_type is missing; supported adapter types are ${supported}`);
  if (typeof type !== 'string') throw new Error(`${fileName}: peft_type must be a string, got ${JSON.stringify(type)}`);
  const kind = Object.prototype.hasOwnProperty.call(SUPPORTED_PEFT_TYPES, type) ? SUPPORTED_PEFT_TYPES[type] : undefined;
  if (kind === undefined) throw new Error(`${fileName}: peft_type "${type}" is not supported; supported adapter types are ${supported} (and webpeft delta folders)`);
  return kind;
}

// ---------------------------------------------------------------- shared by the PEFT readers

/** Parses a config file that must hold a JSON object; errors name the file. */
export function parseConfigObject(text: string, fileName: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${fileName} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${fileName} must hold a JSON object`);
  return raw as Record<string, unknown>;
}

export interface OpenedPeftFolder {
  /** The folder's name, for messages. */
  label: string;
  configFileName: string;
  config: Record<string, unknown>;
  weights: SafetensorsFile;
}

/**
 * adapter_config.json (parsed to an object) and adapter_model.safetensors (header parsed, tensors read lazily),
 * with the same missing-file messages as the LoRA reader. `what` names the adapter type in messages ("IA3").
 */
export async function openPeftFolder(files: NamedBlob[], what: string): Promise<OpenedPeftFolder> {
  const { label, byName } = indexFolder(files, 'adapter');
  const configBlob = byName.get('adapter_config.json');
  const weightsBlob = byName.get('adapter_model.safetensors');
  const missing = [configBlob ? '' : 'adapter_config.json', weightsBlob ? '' : 'adapter_model.safetensors'].filter((s) => s !== '');
  if (!configBlob || !weightsBlob) {
    const pickle = !weightsBlob && byName.has('adapter_model.bin')
      ? ' It has adapter_model.bin, a PyTorch pickle, which is not supported: re-save the adapter with safe_serialization=True (the default since peft 0.6).'
      : '';
    throw new Error(`${label}: ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} missing; a PEFT ${what} adapter folder needs adapter_config.json and adapter_model.safetensors.${pickle}`);
  }
  const configFileName = `${label}/adapter_config.json`;
  const config = parseConfigObject(await configBlob.text(), configFileName);
  const weights = await parseSafetensors(weightsBlob, `${label}/adapter_model.safetensors`);
  return { label, configFileName, config, weights };
}

/**
 * peft's `check_target_module_exists` for one module path: a list matches the whole path or a ".name" suffix,
 * a string is a regex that must match the whole path (Python `re.fullmatch`).
 */
export function moduleSpecMatches(spec: readonly string[] | string, modulePath: string): boolean {
  if (typeof spec !== 'string') return spec.some((t) => modulePath === t || modulePath.endsWith(`.${t}`));
  return pythonFullMatch(spec, modulePath);
}

export function pythonFullMatch(pattern: string, s: string): boolean {
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${pattern})$`);
  } catch {
    throw new Error(`the module regex ${JSON.stringify(pattern)} is not a regular expression JavaScript understands`);
  }
  return re.test(s);
}

/** A typed getter over a parsed config object that throws `<file>: <key> must be <want>, got <value>`. */
export function configReader(o: Record<string, unknown>, fileName: string) {
  const fail = (msg: string): never => {
    throw new Error(`${fileName}: ${msg}`);
  };
  const get = <T>(key: string, fallback: T, ok: (v: unknown) => boolean, want: string): T => {
    const v = o[key];
    if (v === undefined) return fallback;
    if (!ok(v)) fail(`${key} must be ${want}, got ${JSON.stringify(v)}`);
    return v as T;
  };
  return { fail, get };
}

export const isBool = (v: unknown): boolean => typeof v === 'boolean';
export const isStrOrNull = (v: unknown): boolean => v === null || typeof v === 'string';
export const isStrList = (v: unknown): boolean => Array.isArray(v) && v.every((s) => typeof s === 'string');
export const isStrListOrStrOrNull = (v: unknown): boolean => v === null || typeof v === 'string' || isStrList(v);
export const isIntListOrIntOrNull = (v: unknown): boolean => v === null || Number.isInteger(v) || (Array.isArray(v) && v.every(Number.isInteger));
