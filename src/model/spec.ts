/**
 * ModelSpec: what the engine needs to know about a decoder-only transformer, read from config.json.
 * One family per file (llama.ts covers llama/mistral/qwen2, gpt2.ts covers gpt2); this file holds the shared shape.
 */
export type Family = 'llama' | 'gpt2';

export interface RopeScaling {
  type: 'llama3' | 'linear';
  factor: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalMaxPositions?: number;
}

export interface ModelSpec {
  family: Family;
  modelType: string;
  architecture: string;
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  maxPositions: number;
  normEps: number;
  ropeTheta: number;
  ropeScaling?: RopeScaling;
  tiedEmbeddings: boolean;
  /** Bias on q/k/v projections (Qwen2 always, Llama when attention_bias). */
  qkvBias: boolean;
  /** Bias on the attention output projection (Llama attention_bias; GPT-2 always). */
  outBias: boolean;
  mlpBias: boolean;
  /**
   * Mistral/Qwen2 sliding-window attention span. Attention is full-causal here, which equals sliding-window
   * attention only while sequences are no longer than the window, so longer sequences are refused.
   */
  slidingWindow?: number;
  /** Attention score scale, normally 1/sqrt(headDim). */
  attnScale: number;
  bosId?: number;
  eosId?: number | number[];
}

/** One linear layer of one transformer block as the engine and the adapters see it. */
export interface LinearSpec {
  /** The module's short name, what PEFT's target_modules matches: q_proj, c_attn, ... */
  name: string;
  /** Full module path in the HF model class, e.g. model.layers.0.self_attn.q_proj (PEFT key stem). */
  modulePath: string;
  /** Tensor names in the checkpoint. */
  weightName: string;
  biasName?: string;
  inFeatures: number;
  outFeatures: number;
  /** 'out_in' for nn.Linear ([out, in]); 'in_out' for GPT-2 Conv1D ([in, out], PEFT's fan_in_fan_out). */
  layout: 'out_in' | 'in_out';
}

export class ConfigError extends Error {}

export function num(cfg: Record<string, unknown>, key: string, fallback?: number): number {
  const v = cfg[key];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  throw new ConfigError(`config.json: "${key}" ${v === undefined ? 'is missing' : `is ${JSON.stringify(v)}, not a number`}`);
}

export function positiveInt(cfg: Record<string, unknown>, key: string, fallback?: number): number {
  const v = num(cfg, key, fallback);
  if (!Number.isInteger(v) || v <= 0) throw new ConfigError(`config.json: "${key}" must be a positive integer, got ${v}`);
  return v;
}
