/** Opening a checkpoint folder: parse and validate everything, upload the frozen weights, load the tokenizer. */
import { type Checkpoint, openCheckpoint } from '../formats/checkpoint';
import { loadTokenizer, type Tokenizer } from '../data/tokenizer';
import type { GpuRuntime } from '../gpu/runtime';
import { specFromConfig, targetableModules } from '../model';
import type { ModelSpec } from '../model/spec';
import { type ModelWeights, parameterCount, uploadWeights, validateCheckpoint } from '../engine/weights';
import type { ModelSummary, NamedBlob } from './api';

export interface LoadedModel {
  checkpoint: Checkpoint;
  spec: ModelSpec;
  weights: ModelWeights;
  tokenizer?: Tokenizer;
  summary: ModelSummary;
}

export async function loadModel(rt: GpuRuntime, files: NamedBlob[], onProgress?: (done: number, total: number) => void): Promise<LoadedModel> {
  const checkpoint = await openCheckpoint(files);
  let spec: ModelSpec;
  try {
    spec = specFromConfig(checkpoint.config);
  } catch (e) {
    throw new Error(`${checkpoint.label}/${(e as Error).message}`);
  }
  validateCheckpoint(spec, checkpoint);
  const tokenizer = await readTokenizer(checkpoint);
  const weights = await uploadWeights(rt, spec, checkpoint, onProgress);
  const summary: ModelSummary = {
    modelType: spec.modelType,
    architecture: spec.architecture,
    layers: spec.layers,
    hidden: spec.hidden,
    heads: spec.heads,
    kvHeads: spec.kvHeads,
    intermediate: spec.intermediate,
    vocab: spec.vocab,
    maxPositions: spec.maxPositions,
    parameters: parameterCount(spec, checkpoint.tensorNames()),
    dtype: checkpoint.dtypes().join(', '),
    tiedEmbeddings: spec.tiedEmbeddings,
    hasTokenizer: tokenizer !== undefined,
    hasChatTemplate: tokenizer?.chatTemplate !== undefined,
    targetableModules: targetableModules(spec),
    files: checkpoint.files,
  };
  return { checkpoint, spec, weights, tokenizer, summary };
}

async function readTokenizer(ckpt: Checkpoint): Promise<Tokenizer | undefined> {
  if (!ckpt.tokenizerJson) return undefined;
  try {
    return loadTokenizer(await ckpt.tokenizerJson.text(), ckpt.tokenizerConfig, ckpt.specialTokensMap);
  } catch (e) {
    throw new Error(`${ckpt.label}/tokenizer.json: ${(e as Error).message}`);
  }
}
