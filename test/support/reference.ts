/** Loading the transformers/PEFT reference fixtures (fixtures/reference, see its README) into the engine. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { namedBlobsFromDir } from '../../src/formats/nodeFiles';
import { openAdapter } from '../../src/formats/peft';
import { parseSafetensors, readTensorF32 } from '../../src/formats/safetensors';
import type { GpuRuntime } from '../../src/gpu/runtime';
import { attachLora } from '../../src/methods/lora/attach';
import type { LoraLayer } from '../../src/methods/lora/layer';
import { loraConfigFromPeft, readLoraValues } from '../../src/methods/lora/peft';
import { Transformer } from '../../src/engine/transformer';
import { type LoadedModel, loadModel } from '../../src/run/loadModel';

export const FIXTURES = join(__dirname, '..', '..', 'fixtures');
export const REFERENCE_MODELS = ['stories260K', 'tiny-random-gpt2', 'tiny-random-llama', 'qwen2-tiny', 'gpt2-tiny', 'llama-tiny', 'qwen2-tiny-bias', 'gpt2-tiny-bias'];

export function refDir(model: string, ...sub: string[]): string {
  return join(FIXTURES, 'reference', model, ...sub);
}

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

export async function loadFixtureModel(rt: GpuRuntime, model: string): Promise<LoadedModel> {
  return loadModel(rt, await namedBlobsFromDir(join(FIXTURES, 'models', model)));
}

export async function readSafetensor(path: string, name: string): Promise<Float32Array> {
  const { openAsBlob } = await import('node:fs');
  return readTensorF32(await parseSafetensors(await openAsBlob(path), path), name);
}

/** The reference batch: 2 rows × 16 ids; targets are the next id, -100 at each row's last position. */
export function referenceBatch(ids: number[][]): { inputs: Int32Array; targets: Int32Array; lossTokens: number } {
  const T = ids[0].length;
  const inputs = Int32Array.from(ids.flat());
  const targets = new Int32Array(inputs.length).fill(-100);
  ids.forEach((row, b) => row.forEach((_, t) => t + 1 < T && (targets[b * T + t] = row[t + 1])));
  return { inputs, targets, lossTokens: ids.length * (T - 1) };
}

/** A Transformer for the 2×16 reference batch with the PEFT adapter in `adapterDir` attached. */
export async function withAdapter(rt: GpuRuntime, m: LoadedModel, adapterDir: string): Promise<{ model: Transformer; layers: LoraLayer[] }> {
  const model = new Transformer(rt, m.spec, m.weights, 32);
  for (const l of model.linears) l.adapters.length = 0;
  const opened = await openAdapter(await namedBlobsFromDir(adapterDir));
  const layers = attachLora(rt, model.linears, loraConfigFromPeft(opened), 0, await readLoraValues(opened));
  return { model, layers };
}
