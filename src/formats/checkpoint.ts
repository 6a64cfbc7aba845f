/**
 * A Hugging Face checkpoint folder: config.json, optional generation/tokenizer files, and the weights as one
 * model.safetensors, as shards listed by model.safetensors.index.json, or as several .safetensors files without an
 * index. Only headers are read here; tensors are read one at a time on demand.
 */
import type { NamedBlob } from '../run/api';
import { indexFolder, readJsonObject, type FolderIndex } from './folder';
import { type SafetensorsEntry, type SafetensorsFile, parseSafetensors, readTensorF32 } from './safetensors';

export interface CheckpointEntry extends SafetensorsEntry {
  /** The safetensors file (base name) holding this tensor. */
  fileName: string;
}

export interface Checkpoint {
  /** Folder name for messages. */
  label: string;
  config: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
  tokenizerJson?: Blob;
  tokenizerConfig?: Record<string, unknown>;
  specialTokensMap?: Record<string, unknown>;
  /** A top-level file of the folder by base name (e.g. "tokenizer.model"), if present. */
  file(name: string): Blob | undefined;
  /** Every file of the folder, relative to its root. */
  files: string[];
  /** The parsed safetensors files the weights come from. */
  weightFiles: SafetensorsFile[];
  tensorNames(): string[];
  has(name: string): boolean;
  entry(name: string): CheckpointEntry;
  read(name: string): Promise<Float32Array>;
  /** Distinct storage dtypes, sorted, e.g. ["F32"] or ["BF16", "F32"]. */
  dtypes(): string[];
}

const INDEX_FILE = 'model.safetensors.index.json';
const PICKLE_FILE = /\.(bin|pt|pth|ckpt|pkl)$/i;

export async function openCheckpoint(files: NamedBlob[]): Promise<Checkpoint> {
  const folder = indexFolder(files, 'checkpoint');
  const { label, byName } = folder;
  const configBlob = byName.get('config.json');
  if (!configBlob) throw new Error(`${label}: config.json is missing; drop the whole checkpoint folder`);
  const config = await readJsonObject(configBlob, `${label}/config.json`);
  const optionalJson = async (name: string): Promise<Record<string, unknown> | undefined> => {
    const blob = byName.get(name);
    return blob ? readJsonObject(blob, `${label}/${name}`) : undefined;
  };
  const generationConfig = await optionalJson('generation_config.json');
  const tokenizerConfig = await optionalJson('tokenizer_config.json');
  const specialTokensMap = await optionalJson('special_tokens_map.json');
  const { weightFiles, owners } = await openWeights(folder);
  const data = { label, config, generationConfig, tokenizerConfig, specialTokensMap, tokenizerJson: byName.get('tokenizer.json'), files: folder.names, weightFiles };
  return makeCheckpoint(data, owners, (name) => byName.get(name));
}

type CheckpointData = Pick<Checkpoint, 'label' | 'config' | 'generationConfig' | 'tokenizerConfig' | 'specialTokensMap' | 'tokenizerJson' | 'files' | 'weightFiles'>;

function makeCheckpoint(data: CheckpointData, owners: Map<string, SafetensorsFile>, file: (name: string) => Blob | undefined): Checkpoint {
  const entry = (name: string): CheckpointEntry => {
    const owner = owners.get(name);
    const e = owner?.entries.get(name);
    if (!owner || !e) throw new Error(`${data.label}: the checkpoint has no tensor named "${name}"`);
    return { ...e, shape: [...e.shape], fileName: owner.fileName };
  };
  return {
    ...data,
    file,
    tensorNames: () => [...owners.keys()],
    has: (name) => owners.has(name),
    entry,
    read: (name) => {
      entry(name);
      return readTensorF32(owners.get(name) as SafetensorsFile, name);
    },
    dtypes: () => [...new Set([...owners].map(([name, f]) => (f.entries.get(name) as SafetensorsEntry).dtype))].sort(),
  };
}

interface Weights {
  weightFiles: SafetensorsFile[];
  /** Tensor name → the file that holds it, in file then offset order. */
  owners: Map<string, SafetensorsFile>;
}

async function openWeights(folder: FolderIndex): Promise<Weights> {
  const { byName, label } = folder;
  // transformers' own precedence: model.safetensors, then the shard index. A model.safetensors also wins over
  // other .safetensors files next to it (reference outputs, adapters, ...).
  const single = byName.get('model.safetensors');
  if (!single && byName.has(INDEX_FILE)) return openSharded(folder);
  const names = single ? ['model.safetensors'] : [...byName.keys()].filter((n) => n.endsWith('.safetensors')).sort();
  if (names.length === 0) throw new Error(noWeightsMessage(folder));
  const weightFiles = await Promise.all(names.map((n) => parseIn(folder, n)));
  const owners = new Map<string, SafetensorsFile>();
  for (const file of weightFiles) {
    for (const name of file.entries.keys()) {
      const other = owners.get(name);
      if (other) throw new Error(`${label}: tensor "${name}" is in both ${other.fileName} and ${file.fileName}; which one is meant is ambiguous`);
      owners.set(name, file);
    }
  }
  return { weightFiles, owners };
}

async function openSharded(folder: FolderIndex): Promise<Weights> {
  const { byName, label } = folder;
  const where = `${label}/${INDEX_FILE}`;
  const index = await readJsonObject(byName.get(INDEX_FILE) as Blob, where);
  const weightMap = index.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) throw new Error(`${where}: "weight_map" is missing or not an object`);
  const map = weightMap as Record<string, unknown>;
  for (const [tensor, shard] of Object.entries(map)) {
    if (typeof shard !== 'string') throw new Error(`${where}: weight_map["${tensor}"] must be a shard file name`);
  }
  const shardNames = [...new Set(Object.values(map) as string[])].sort();
  const missing = shardNames.filter((s) => !byName.has(s));
  if (missing.length > 0) {
    throw new Error(`${label}: ${INDEX_FILE} lists ${plural(missing.length, 'shard')} that ${missing.length === 1 ? 'is' : 'are'} not in the folder: ${missing.join(', ')}`);
  }
  const shards = new Map<string, SafetensorsFile>();
  for (const s of shardNames) shards.set(s, await parseIn(folder, s));
  const owners = new Map<string, SafetensorsFile>();
  for (const [tensor, shard] of Object.entries(map) as [string, string][]) {
    const file = shards.get(shard) as SafetensorsFile;
    if (!file.entries.has(tensor)) throw new Error(`${label}: ${INDEX_FILE} says tensor "${tensor}" is in ${shard}, but that shard has no such tensor`);
    owners.set(tensor, file);
  }
  return { weightFiles: [...shards.values()], owners: sortOwners(owners, [...shards.values()]) };
}

/** Parses one weights file; its errors name the folder too ("llama-tiny/model.safetensors: ..."). */
async function parseIn(folder: FolderIndex, name: string): Promise<SafetensorsFile> {
  try {
    return await parseSafetensors(folder.byName.get(name) as Blob, name);
  } catch (e) {
    throw new Error(`${folder.label}/${(e as Error).message}`);
  }
}

/** Shard order, then offset order within a shard: reading in this order scans each file forward once. */
function sortOwners(owners: Map<string, SafetensorsFile>, files: SafetensorsFile[]): Map<string, SafetensorsFile> {
  const sorted = new Map<string, SafetensorsFile>();
  for (const f of files) for (const name of f.entries.keys()) if (owners.get(name) === f) sorted.set(name, f);
  return sorted;
}

function noWeightsMessage(folder: FolderIndex): string {
  const pickles = [...folder.byName.keys()].filter((n) => PICKLE_FILE.test(n));
  const found = pickles.length > 0 ? `found ${pickles.join(', ')}, but PyTorch pickle checkpoints (.bin/.pt) are not supported: loading them can run arbitrary code and needs PyTorch` : 'no .safetensors weights found';
  return (
    `${folder.label}: ${found}. Convert the checkpoint to safetensors first, e.g. in Python: ` +
    `AutoModelForCausalLM.from_pretrained(dir).save_pretrained(out_dir, safe_serialization=True) ` +
    `(or use the "convert to safetensors" Space on the Hugging Face Hub)`
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
