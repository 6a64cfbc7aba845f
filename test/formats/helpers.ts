/** Shared helpers for the format tests: fixture paths and hand-built safetensors files. */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type SafetensorsFile, type TensorToWrite, readTensorRaw } from '../../src/formats/safetensors';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
export const MODELS = join(FIXTURES, 'models');
export const REFERENCE = join(FIXTURES, 'reference');

/** A safetensors file from a header (object or raw text) and a data section of `dataBytes` bytes. */
export function rawSafetensors(header: unknown, dataBytes: number, lengthOverride?: bigint): Blob {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  return new Blob([out]);
}

/** Every *.safetensors file under a folder, recursively, sorted. */
export function findSafetensors(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findSafetensors(p));
    else if (name.endsWith('.safetensors')) out.push(p);
  }
  return out;
}

/** All tensors of a parsed file as writer input, in the file's own dtypes (F32, F64, F16 only). */
export async function tensorsOf(file: SafetensorsFile): Promise<TensorToWrite[]> {
  const out: TensorToWrite[] = [];
  for (const name of file.entries.keys()) {
    const { dtype, shape, bytes } = await readTensorRaw(file, name);
    const buf = bytes.slice().buffer;
    if (dtype === 'F32') out.push({ name, dtype, shape, data: new Float32Array(buf) });
    else if (dtype === 'F64') out.push({ name, dtype, shape, data: new Float64Array(buf) });
    else if (dtype === 'F16' || dtype === 'BF16') out.push({ name, dtype, shape, data: new Uint16Array(buf) });
    else if (dtype === 'I32') out.push({ name, dtype, shape, data: new Int32Array(buf) });
    else throw new Error(`tensorsOf: ${dtype} not handled`);
  }
  return out;
}
