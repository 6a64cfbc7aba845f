/**
 * Safetensors reading and writing.
 *
 * Reading is lazy: `parseSafetensors` reads the 8-byte length and the JSON header only, and each tensor is read
 * with its own `blob.slice(begin, end)`, so a multi-GB checkpoint never has to fit in memory at once. In Node,
 * `fs.openAsBlob` gives a Blob that reads from disk on demand (see nodeFiles.ts).
 *
 * Writing reproduces the reference implementation (Rust `safetensors` 0.4, used by Python `save_file`) byte for
 * byte: see `writeSafetensors`.
 */
import { type SafetensorsDType, bf16BytesToF32, dtypeRank, dtypeSize, f16BytesToF32, isSafetensorsDType } from './dtypes';
import { compareCodePoints } from './pyjson';

export type { SafetensorsDType } from './dtypes';

/** Same limit as the reference implementation: larger headers are treated as corrupt, not read. */
const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute byte offsets within the file (8 + header length already added). */
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  fileName: string;
  blob: Blob;
  /** In data-offset order, which makes a sequential read of all tensors a forward scan of the file. */
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

// ---------------------------------------------------------------- parsing

export async function parseSafetensors(blob: Blob, fileName: string): Promise<SafetensorsFile> {
  const fail = (msg: string): never => {
    throw new Error(`${fileName}: ${msg}`);
  };
  if (blob.size < 8) fail(`file is ${blob.size} bytes, shorter than the 8-byte header length every safetensors file starts with`);
  const headerLength = new DataView(await blob.slice(0, 8).arrayBuffer()).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLength} bytes is absurd (limit ${MAX_HEADER_BYTES}); the file is corrupt or not safetensors`);
  const n = Number(headerLength);
  if (8 + n > blob.size) fail(`header length ${n} bytes does not fit in the ${blob.size}-byte file; the file is truncated or not safetensors`);

  const header = decodeHeader(new Uint8Array(await blob.slice(8, 8 + n).arrayBuffer()), fail);
  const dataStart = 8 + n;
  const dataSize = blob.size - dataStart;
  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') metadata = checkMetadata(raw, fail);
    else entries.push(checkEntry(name, raw, dataSize, fail));
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  checkOverlaps(entries, fail);
  const map = new Map<string, SafetensorsEntry>();
  for (const e of entries) map.set(e.name, { ...e, begin: e.begin + dataStart, end: e.end + dataStart });
  return { fileName, blob, entries: map, metadata };
}

function decodeHeader(bytes: Uint8Array, fail: (msg: string) => never): Record<string, unknown> {
  let text = '';
  try {
    // ignoreBOM keeps a leading BOM in the text, so JSON.parse rejects it as the reference parser does.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    fail('header is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail('header JSON is not an object');
  return parsed as Record<string, unknown>;
}

function checkMetadata(raw: unknown, fail: (msg: string) => never): Record<string, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ must be an object of strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string') fail(`__metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
    out[k] = v as string;
  }
  return out;
}

/** Validates one header entry; offsets returned are still relative to the data section. */
function checkEntry(name: string, raw: unknown, dataSize: number, fail: (msg: string) => never): SafetensorsEntry {
  const where = `tensor "${name}"`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`${where}: entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (dtype === undefined) fail(`${where}: missing dtype`);
  if (shape === undefined) fail(`${where}: missing shape`);
  if (offsets === undefined) fail(`${where}: missing data_offsets`);
  if (!isSafetensorsDType(dtype)) fail(`${where}: unknown dtype ${JSON.stringify(dtype)}`);
  const dt = dtype as SafetensorsDType;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    fail(`${where}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] with integers 0 <= begin <= end`);
  }
  const dims = shape as number[];
  const [begin, end] = offsets as [number, number];
  if (end > dataSize) fail(`${where}: data_offsets [${begin}, ${end}] run past the end of the ${dataSize}-byte data section (file truncated?)`);
  const bytes = dims.reduce((a, d) => a * d, 1) * dtypeSize(dt);
  if (bytes !== end - begin) {
    fail(`${where}: ${dt} [${dims.join(', ')}] needs ${bytes} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
  }
  return { name, dtype: dt, shape: [...dims], begin, end };
}

function checkOverlaps(sorted: SafetensorsEntry[], fail: (msg: string) => never): void {
  // Compare with the furthest-reaching tensor so far; zero-byte tensors occupy nothing and overlap nothing.
  let reach: SafetensorsEntry | null = null;
  for (const cur of sorted) {
    if (cur.end === cur.begin) continue;
    if (reach && cur.begin < reach.end) {
      fail(`tensors "${reach.name}" [${reach.begin}, ${reach.end}] and "${cur.name}" [${cur.begin}, ${cur.end}] overlap`);
    }
    if (!reach || cur.end > reach.end) reach = cur;
  }
}

// ---------------------------------------------------------------- reading tensors

function entryOf(file: SafetensorsFile, name: string): SafetensorsEntry {
  const e = file.entries.get(name);
  if (!e) throw new Error(`${file.fileName}: no tensor named "${name}" (the file has ${file.entries.size} tensors)`);
  return e;
}

/** The tensor's raw little-endian bytes, read lazily from the file. */
export async function readTensorRaw(file: SafetensorsFile, name: string): Promise<{ dtype: SafetensorsDType; shape: number[]; bytes: Uint8Array }> {
  const e = entryOf(file, name);
  const bytes = new Uint8Array(await file.blob.slice(e.begin, e.end).arrayBuffer());
  if (bytes.byteLength !== e.end - e.begin) {
    throw new Error(`${file.fileName}: read ${bytes.byteLength} of ${e.end - e.begin} bytes of "${name}" (file changed or unreadable?)`);
  }
  return { dtype: e.dtype, shape: [...e.shape], bytes };
}

/** Reads a floating-point tensor (F32, F16, BF16 or F64) as float32. F16/BF16 widen exactly; F64 rounds. */
export async function readTensorF32(file: SafetensorsFile, name: string): Promise<Float32Array> {
  const { dtype, bytes } = await readTensorRaw(file, name);
  switch (dtype) {
    case 'F32':
      return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    case 'F16':
      return f16BytesToF32(bytes);
    case 'BF16':
      return bf16BytesToF32(bytes);
    case 'F64':
      return Float32Array.from(new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8));
    default:
      throw new Error(`${file.fileName}: tensor "${name}" is ${dtype}; expected a floating-point tensor (F32, F16, BF16 or F64)`);
  }
}

/** Reads an integer tensor as int32. I64/U32 values must fit in int32 (token ids, positions). */
export async function readTensorI32(file: SafetensorsFile, name: string): Promise<Int32Array> {
  const { dtype, bytes } = await readTensorRaw(file, name);
  const { buffer, byteOffset: off, byteLength: len } = bytes;
  switch (dtype) {
    case 'I32':
      return new Int32Array(buffer, off, len / 4);
    case 'I16':
      return Int32Array.from(new Int16Array(buffer, off, len / 2));
    case 'U16':
      return Int32Array.from(new Uint16Array(buffer, off, len / 2));
    case 'I8':
      return Int32Array.from(new Int8Array(buffer, off, len));
    case 'U8':
    case 'BOOL':
      return Int32Array.from(bytes);
    case 'I64':
    case 'U64':
    case 'U32':
      return narrowToI32(file, name, dtype, bytes);
    default:
      throw new Error(`${file.fileName}: tensor "${name}" is ${dtype}; expected an integer tensor`);
  }
}

function narrowToI32(file: SafetensorsFile, name: string, dtype: 'I64' | 'U64' | 'U32', bytes: Uint8Array): Int32Array {
  const src = dtype === 'U32' ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : dtype === 'I64' ? new BigInt64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8) : new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = Number(src[i]);
    if (v < -0x80000000 || v > 0x7fffffff) throw new Error(`${file.fileName}: ${dtype} tensor "${name}" holds ${src[i]} at index ${i}, outside the int32 range`);
    out[i] = v;
  }
  return out;
}

// ---------------------------------------------------------------- writing

export type WritableDType = 'F32' | 'F64' | 'I32' | 'F16' | 'BF16';

export interface TensorToWrite {
  name: string;
  dtype: WritableDType;
  shape: number[];
  /** F16 and BF16 take raw bit patterns (see numberToF16Bits / numberToBf16Bits in dtypes.ts). */
  data: Float32Array | Float64Array | Int32Array | Uint16Array;
}

const ARRAY_FOR: Record<WritableDType, string> = { F32: 'Float32Array', F64: 'Float64Array', I32: 'Int32Array', F16: 'Uint16Array', BF16: 'Uint16Array' };

/**
 * Serialises tensors exactly as Python `safetensors.torch.save_file(tensors, path, metadata)` does:
 * - 8-byte little-endian header length, then compact JSON with `__metadata__` first (omitted when `metadata` is
 *   null), then each tensor as {"dtype","shape","data_offsets"} in data order;
 * - the header padded with spaces to a multiple of 8, so every tensor starts 8-byte aligned;
 * - tensors sorted by Rust `Dtype` enum order descending (F64, F32, I32, BF16, F16 among ours) then by name in
 *   code-point order, packed contiguously from offset 0.
 * Metadata keys are written in insertion order (Rust uses a HashMap, so its order is arbitrary beyond one key).
 */
export function writeSafetensors(tensors: TensorToWrite[], metadata: Record<string, string> | null = { format: 'pt' }): Uint8Array<ArrayBuffer> {
  const seen = new Set<string>();
  for (const t of tensors) checkWritable(t, seen);
  const { out, offsets } = layoutSafetensors(
    tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.data.byteLength })),
    metadata,
  );
  tensors.forEach((t, i) => out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), offsets[i]));
  return out;
}

/** A tensor's place in a file being laid out: its bytes are written later at the returned offset. */
export interface TensorLayout {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  bytes: number;
}

/**
 * The whole file with its header written and its data section still empty, in the order and padding described
 * above; offsets[i] is where tensor i's bytes go. Lets a writer fill tensors one at a time (a merged checkpoint)
 * without holding a second copy of all of them.
 */
export function layoutSafetensors(tensors: TensorLayout[], metadata: Record<string, string> | null = { format: 'pt' }): { out: Uint8Array<ArrayBuffer>; offsets: number[] } {
  const order = tensors.map((_, i) => i).sort((a, b) => dtypeRank(tensors[b].dtype) - dtypeRank(tensors[a].dtype) || compareCodePoints(tensors[a].name, tensors[b].name));
  const parts: string[] = [];
  if (metadata !== null) parts.push(`"__metadata__":{${Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  const relative = new Array<number>(tensors.length);
  let offset = 0;
  for (const i of order) {
    const t = tensors[i];
    relative[i] = offset;
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + t.bytes}]}`);
    offset += t.bytes;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLength);
  return { out, offsets: relative.map((o) => 8 + headerLength + o) };
}

function checkWritable(t: TensorToWrite, seen: Set<string>): void {
  if (t.name === '__metadata__' || t.name === '') throw new Error(`writeSafetensors: "${t.name}" is not a usable tensor name`);
  if (seen.has(t.name)) throw new Error(`writeSafetensors: tensor "${t.name}" is given twice`);
  seen.add(t.name);
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`writeSafetensors: tensor "${t.name}" has a bad shape [${t.shape.join(', ')}]`);
  const want = ARRAY_FOR[t.dtype];
  if (want === undefined) throw new Error(`writeSafetensors: tensor "${t.name}" has unsupported dtype ${String(t.dtype)}`);
  if (t.data.constructor.name !== want) throw new Error(`writeSafetensors: tensor "${t.name}" is ${t.dtype}, so its data must be a ${want}, got ${t.data.constructor.name}`);
  const n = t.shape.reduce((a, d) => a * d, 1);
  if (t.data.length !== n) throw new Error(`writeSafetensors: tensor "${t.name}" has shape [${t.shape.join(', ')}] (${n} elements) but ${t.data.length} values`);
}
