/**
 * The Llama family: llama, mistral, qwen2 (and SmolLM, which is llama). RMSNorm, RoPE, SiLU-gated MLP,
 * grouped-query attention, untied or tied embeddings. Qwen2 always has q/k/v biases.
 */
import { ConfigError, type LinearSpec, type ModelSpec, type RopeScaling, num, positiveInt } from './spec';

export const LLAMA_MODEL_TYPES = ['llama', 'mistral', 'qwen2'] as const;
export const LLAMA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

export function llamaSpec(cfg: Record<string, unknown>, modelType: string): ModelSpec {
  const hidden = positiveInt(cfg, 'hidden_size');
  const heads = positiveInt(cfg, 'num_attention_heads');
  const kvHeads = positiveInt(cfg, 'num_key_value_heads', heads);
  const headDim = positiveInt(cfg, 'head_dim', Math.floor(hidden / heads));
  if (heads % kvHeads !== 0) throw new ConfigError(`config.json: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  const act = cfg.hidden_act ?? 'silu';
  if (act !== 'silu') throw new ConfigError(`config.json: hidden_act "${String(act)}" is not supported for ${modelType} (only "silu")`);
  const qwen = modelType === 'qwen2';
  const attentionBias = cfg.attention_bias === true;
  return {
    family: 'llama',
    modelType,
    architecture: architectureName(cfg, modelType),
    vocab: positiveInt(cfg, 'vocab_size'),
    hidden,
    layers: positiveInt(cfg, 'num_hidden_layers'),
    heads,
    kvHeads,
    headDim,
    intermediate: positiveInt(cfg, 'intermediate_size'),
    maxPositions: positiveInt(cfg, 'max_position_embeddings', 2048),
    normEps: num(cfg, 'rms_norm_eps', 1e-6),
    ropeTheta: num(cfg, 'rope_theta', 10000),
    ropeScaling: ropeScaling(cfg),
    tiedEmbeddings: cfg.tie_word_embeddings === undefined ? false : cfg.tie_word_embeddings === true,
    qkvBias: qwen || attentionBias,
    outBias: attentionBias,
    mlpBias: cfg.mlp_bias === true,
    attnScale: 1 / Math.sqrt(headDim),
    slidingWindow: slidingWindow(cfg, modelType),
    bosId: typeof cfg.bos_token_id === 'number' ? cfg.bos_token_id : undefined,
    eosId: eosFrom(cfg),
  };
}

function slidingWindow(cfg: Record<string, unknown>, modelType: string): number | undefined {
  const w = cfg.sliding_window;
  if (typeof w !== 'number') return undefined;
  // Qwen2 configs carry a window but only use it with use_sliding_window.
  if (modelType === 'qwen2' && cfg.use_sliding_window !== true) return undefined;
  return w;
}

function ropeScaling(cfg: Record<string, unknown>): RopeScaling | undefined {
  const rs = cfg.rope_scaling;
  if (rs === null || rs === undefined) return undefined;
  if (typeof rs !== 'object') throw new ConfigError('config.json: rope_scaling must be an object or null');
  const r = rs as Record<string, unknown>;
  const type = r.rope_type ?? r.type;
  if (type === 'default') return undefined;
  if (type === 'linear') return { type: 'linear', factor: num(r, 'factor') };
  if (type === 'llama3') {
    return {
      type: 'llama3',
      factor: num(r, 'factor'),
      lowFreqFactor: num(r, 'low_freq_factor'),
      highFreqFactor: num(r, 'high_freq_factor'),
      originalMaxPositions: num(r, 'original_max_position_embeddings'),
    };
  }
  throw new ConfigError(`config.json: rope_scaling type "${String(type)}" is not supported (supported: linear, llama3)`);
}

export function architectureName(cfg: Record<string, unknown>, modelType: string): string {
  const archs = cfg.architectures;
  if (Array.isArray(archs) && typeof archs[0] === 'string') return archs[0];
  return modelType;
}

export function eosFrom(cfg: Record<string, unknown>): number | number[] | undefined {
  const e = cfg.eos_token_id;
  if (typeof e === 'number') return e;
  if (Array.isArray(e) && e.every((x) => typeof x === 'number')) return e as number[];
  return undefined;
}

/** The seven linear layers of block `i`, in forward order. */
export function llamaLinears(spec: ModelSpec, i: number): LinearSpec[] {
  const p = `model.layers.${i}`;
  const C = spec.hidden;
  const qOut = spec.heads * spec.headDim;
  const kvOut = spec.kvHeads * spec.headDim;
  const lin = (sub: string, name: string, inF: number, outF: number, bias: boolean): LinearSpec => ({
    name,
    modulePath: `${p}.${sub}.${name}`,
    weightName: `${p}.${sub}.${name}.weight`,
    biasName: bias ? `${p}.${sub}.${name}.bias` : undefined,
    inFeatures: inF,
    outFeatures: outF,
    layout: 'out_in',
  });
  return [
    lin('self_attn', 'q_proj', C, qOut, spec.qkvBias),
    lin('self_attn', 'k_proj', C, kvOut, spec.qkvBias),
    lin('self_attn', 'v_proj', C, kvOut, spec.qkvBias),
    lin('self_attn', 'o_proj', qOut, C, spec.outBias),
    lin('mlp', 'gate_proj', C, spec.intermediate, spec.mlpBias),
    lin('mlp', 'up_proj', C, spec.intermediate, spec.mlpBias),
    lin('mlp', 'down_proj', spec.intermediate, C, spec.mlpBias),
  ];
}

export function llamaNorms(i: number): { ln1: string; ln2: string } {
  return { ln1: `model.layers.${i}.input_layernorm.weight`, ln2: `model.layers.${i}.post_attention_layernorm.weight` };
}

export const LLAMA_GLOBALS = { embed: 'model.embed_tokens.weight', finalNorm: 'model.norm.weight', lmHead: 'lm_head.weight' };
