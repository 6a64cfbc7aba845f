import { GPT2_TARGETS, gpt2Spec } from './gpt2';
import { LLAMA_MODEL_TYPES, LLAMA_TARGETS, llamaSpec } from './llama';
import { ConfigError, type ModelSpec } from './spec';

export const SUPPORTED_MODEL_TYPES = [...LLAMA_MODEL_TYPES, 'gpt2'];

/** Reads config.json into a ModelSpec, refusing unsupported architectures by name. */
export function specFromConfig(cfg: Record<string, unknown>): ModelSpec {
  const modelType = cfg.model_type;
  if (typeof modelType !== 'string') throw new ConfigError('config.json has no "model_type": is this a Hugging Face transformers checkpoint?');
  if ((LLAMA_MODEL_TYPES as readonly string[]).includes(modelType)) return llamaSpec(cfg, modelType);
  if (modelType === 'gpt2') return gpt2Spec(cfg);
  throw new ConfigError(`config.json: model_type "${modelType}" is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`);
}

export function targetableModules(spec: ModelSpec): string[] {
  return spec.family === 'gpt2' ? GPT2_TARGETS : LLAMA_TARGETS;
}
