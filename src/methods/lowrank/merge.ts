/**
 * The base checkpoint with every method's ΔW merged in, as a folder transformers loads with from_pretrained:
 * config.json (torch_dtype float32), one model.safetensors holding every tensor of the base in F32 (W + s·B A
 * where a delta exists, in the checkpoint's own orientation), and the tokenizer and generation files.
 *
 * Tensors are read, merged (on the GPU: W + s·B A is one accumulating matmul) and copied into the output one at
 * a time, so memory is the output file plus one tensor. A tied head stays tied: only the base's own tensors
 * are written, so no lm_head appears when the base has none.
 */
import type { Checkpoint } from '../../formats/checkpoint';
import { dtypeSize, type SafetensorsDType } from '../../formats/dtypes';
import { type TensorLayout, layoutSafetensors, readTensorRaw } from '../../formats/safetensors';
import type { GpuRuntime } from '../../gpu/runtime';
import type { OutputFile } from '../../run/api';
import { type TensorEdit, applyTensorEdit } from '../../formats/webpeftDelta';
import type { LowRankDelta, MethodEdits } from '../method';
import { addLowRankStored, storedShape } from './baseWeights';

/** Files copied unchanged from the base folder when present: tokenizers of every kind and generation defaults. */
const COPIED_FILES = [
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'vocab.txt',
  'added_tokens.json',
  'chat_template.jinja',
  'chat_template.json',
];

const FLOAT_DTYPES: ReadonlySet<SafetensorsDType> = new Set(['F16', 'BF16', 'F32', 'F64']);

/** Output dtype: F32 for every floating-point tensor, the stored dtype otherwise (integer buffers pass through). */
type PlannedTensor = TensorLayout;

/**
 * `extra` carries the updates that are not low-rank (sparse entries, per-channel scales, biases, norms), applied
 * after the low-rank deltas in list order; a tensor they name that the base lacks (a bias BitFit adds) is created
 * from zeros, and their config patch (e.g. attention_bias) is set in config.json.
 */
export async function mergedCheckpoint(rt: GpuRuntime, base: Checkpoint, deltas: LowRankDelta[], onProgress?: (done: number, total: number) => void, extra?: MethodEdits): Promise<OutputFile[]> {
  const byWeight = groupDeltas(base, deltas);
  const edits = groupEdits(base, extra?.edits ?? []);
  const plan = base.tensorNames().map((name): PlannedTensor => {
    const e = base.entry(name);
    const dtype = FLOAT_DTYPES.has(e.dtype) ? 'F32' : e.dtype;
    if (edits.has(name) && dtype !== 'F32') throw new Error(`merge: ${name} is ${e.dtype}, not a floating-point tensor, and cannot take an update`);
    return { name, dtype, shape: [...e.shape], bytes: e.shape.reduce((a, b) => a * b, 1) * dtypeSize(dtype) };
  });
  for (const [name, list] of edits) {
    if (!base.has(name)) plan.push({ name, dtype: 'F32', shape: [...list[0].shape], bytes: list[0].shape.reduce((a, b) => a * b, 1) * 4 });
  }
  const { out, offsets } = layoutSafetensors(plan);
  for (let i = 0; i < plan.length; i++) {
    const p = plan[i];
    let data: Uint8Array | Float32Array;
    if (p.dtype !== 'F32') data = await rawBytes(base, p.name);
    else {
      const t = base.has(p.name) ? await mergedTensor(rt, base, p.name, byWeight.get(p.name)) : new Float32Array(p.shape.reduce((a, b) => a * b, 1));
      for (const e of edits.get(p.name) ?? []) applyTensorEdit(t, e);
      data = t;
    }
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offsets[i]);
    onProgress?.(i + 1, plan.length);
  }
  const patch = extra?.configPatch ?? {};
  const files: OutputFile[] = [
    { name: 'config.json', data: new TextEncoder().encode(patchConfig(await float32Config(base), patch)) },
    { name: 'model.safetensors', data: out },
  ];
  for (const name of COPIED_FILES) {
    const blob = base.file(name);
    if (blob) files.push({ name, data: new Uint8Array(await blob.arrayBuffer()) });
  }
  return files;
}

/** Deltas by checkpoint weight name; several deltas on one weight add up. Every delta must name a base weight. */
function groupDeltas(base: Checkpoint, deltas: LowRankDelta[]): Map<string, LowRankDelta[]> {
  const byWeight = new Map<string, LowRankDelta[]>();
  for (const d of deltas) {
    if (d.k === 0) continue;
    const s = d.linear;
    if (!base.has(s.weightName)) throw new Error(`merge: base checkpoint has no ${s.weightName} for ${s.modulePath}`);
    const shape = base.entry(s.weightName).shape;
    const want = storedShape(s);
    if (shape.length !== 2 || shape[0] !== want[0] || shape[1] !== want[1]) throw new Error(`merge: ${s.weightName} is [${shape.join(', ')}], ${s.modulePath} expects [${want.join(', ')}]`);
    if (d.A.length !== d.k * s.inFeatures || d.B.length !== s.outFeatures * d.k) throw new Error(`merge: ${s.modulePath} has A/B of the wrong size for rank ${d.k}`);
    byWeight.set(s.weightName, [...(byWeight.get(s.weightName) ?? []), d]);
  }
  return byWeight;
}

/** Edits by tensor name, in order; every edit's shape must match the base tensor it names. */
function groupEdits(base: Checkpoint, edits: TensorEdit[]): Map<string, TensorEdit[]> {
  const byName = new Map<string, TensorEdit[]>();
  for (const e of edits) {
    const list = byName.get(e.tensor) ?? [];
    const want = base.has(e.tensor) ? base.entry(e.tensor).shape : list[0]?.shape;
    if (want && (want.length !== e.shape.length || want.some((d, i) => d !== e.shape[i]))) {
      throw new Error(`merge: an update of ${e.tensor} has shape [${e.shape.join(', ')}], the tensor is [${want.join(', ')}]`);
    }
    list.push(e);
    byName.set(e.tensor, list);
  }
  return byName;
}

/** Sets config.json keys (re-serialised only when there is something to set, so the base's text survives otherwise). */
function patchConfig(text: string, patch: Record<string, unknown>): string {
  if (Object.keys(patch).length === 0) return text;
  return `${JSON.stringify({ ...(JSON.parse(text) as Record<string, unknown>), ...patch }, null, 2)}\n`;
}

/** The tensor as f32; with deltas, W + Σ s·B A computed on the GPU in the stored orientation. */
async function mergedTensor(rt: GpuRuntime, base: Checkpoint, name: string, deltas: LowRankDelta[] | undefined): Promise<Float32Array> {
  const w = await base.read(name);
  if (!deltas) return w;
  const spec = deltas[0].linear;
  const W = rt.upload(`merge ${name}`, storedShape(spec), w);
  const temps = [W];
  for (const d of deltas) {
    const B = rt.upload(`merge ${d.linear.modulePath} B`, [spec.outFeatures, d.k], d.B);
    const A = rt.upload(`merge ${d.linear.modulePath} A`, [d.k, spec.inFeatures], d.A);
    temps.push(B, A);
    addLowRankStored(rt, W, spec, B, A, d.k, d.scaling);
  }
  const merged = await rt.read(W);
  for (const t of temps) rt.release(t);
  return merged;
}

async function rawBytes(base: Checkpoint, name: string): Promise<Uint8Array> {
  const fileName = base.entry(name).fileName;
  const file = base.weightFiles.find((f) => f.fileName === fileName && f.entries.has(name));
  if (!file) throw new Error(`merge: cannot find the file holding ${name}`);
  return (await readTensorRaw(file, name)).bytes;
}


/**
 * The base's config.json with torch_dtype "float32". The original text is edited rather than re-serialised, so
 * every other value (1.0 stays 1.0, key order, nesting) reaches transformers exactly as the base had it.
 */
async function float32Config(base: Checkpoint): Promise<string> {
  const blob = base.file('config.json');
  if (!blob) return `${JSON.stringify({ ...base.config, torch_dtype: 'float32' }, null, 2)}\n`;
  const text = await blob.text();
  const field = /"(torch_dtype|dtype)"\s*:\s*(?:"[^"]*"|null)/g;
  if (field.test(text)) return text.replace(field, (_, key: string) => `"${key}": "float32"`);
  const open = text.indexOf('{');
  const empty = /^\s*\}/.test(text.slice(open + 1));
  return `${text.slice(0, open + 1)}\n  "torch_dtype": "float32"${empty ? '' : ','}${text.slice(open + 1)}`;
}
