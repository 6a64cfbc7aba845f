/**
 * GPT-2: LayerNorm, learned positions, fused c_attn, GELU (tanh form) MLP, Conv1D weights stored [in, out].
 * Checkpoints name tensors with or without the `transformer.` prefix; the PEFT module paths always have it,
 * because they follow GPT2LMHeadModel's module tree.
 */
import { architectureName, eosFrom } from './llama';
import { ConfigError, type LinearSpec, type ModelSpec, num, positiveInt } from './spec';

export const GPT2_TARGETS = ['c_attn', 'c_proj', 'c_fc'];
const TANH_GELUS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'];

export function gpt2Spec(cfg: Record<string, unknown>): ModelSpec {
  const hidden = positiveInt(cfg, 'n_embd');
  const heads = positiveInt(cfg, 'n_head');
  if (hidden % heads !== 0) throw new ConfigError(`config.json: n_embd ${hidden} is not divisible by n_head ${heads}`);
  const act = String(cfg.activation_function ?? 'gelu_new');
  if (!TANH_GELUS.includes(act)) throw new ConfigError(`config.json: activation_function "${act}" is not supported for gpt2 (supported: ${TANH_GELUS.join(', ')})`);
  if (cfg.scale_attn_by_inverse_layer_idx === true) throw new ConfigError('config.json: scale_attn_by_inverse_layer_idx is not supported');
  const headDim = hidden / heads;
  return {
    family: 'gpt2',
    modelType: 'gpt2',
    architecture: architectureName(cfg, 'gpt2'),
    vocab: positiveInt(cfg, 'vocab_size'),
    hidden,
    layers: positiveInt(cfg, 'n_layer'),
    heads,
    kvHeads: heads,
    headDim,
    intermediate: positiveInt(cfg, 'n_inner', 4 * hidden),
    maxPositions: positiveInt(cfg, 'n_positions', 1024),
    normEps: num(cfg, 'layer_norm_epsilon', 1e-5),
    ropeTheta: 0,
    tiedEmbeddings: cfg.tie_word_embeddings === undefined ? true : cfg.tie_word_embeddings === true,
    qkvBias: true,
    outBias: true,
    mlpBias: true,
    attnScale: cfg.scale_attn_weights === false ? 1 : 1 / Math.sqrt(headDim),
    bosId: typeof cfg.bos_token_id === 'number' ? cfg.bos_token_id : undefined,
    eosId: eosFrom(cfg),
  };
}

/** The four Conv1D layers of block `i` in forward order; `prefix` is '' or 'transformer.' as the checkpoint has it. */
export function gpt2Linears(spec: ModelSpec, i: number, prefix: string): LinearSpec[] {
  const C = spec.hidden;
  const lin = (sub: string, name: string, inF: number, outF: number): LinearSpec => ({
    name,
    modulePath: `transformer.h.${i}.${sub}.${name}`,
    weightName: `${prefix}h.${i}.${sub}.${name}.weight`,
    biasName: `${prefix}h.${i}.${sub}.${name}.bias`,
    inFeatures: inF,
    outFeatures: outF,
    layout: 'in_out',
  });
  return [lin('attn', 'c_attn', C, 3 * C), lin('attn', 'c_proj', C, C), lin('mlp', 'c_fc', C, spec.intermediate), lin('mlp', 'c_proj', spec.intermediate, C)];
}

export function gpt2Norms(i: number, prefix: string): { ln1: string; ln2: string } {
  return { ln1: `${prefix}h.${i}.ln_1`, ln2: `${prefix}h.${i}.ln_2` };
}

export function gpt2Globals(prefix: string): { embed: string; positions: string; finalNorm: string; lmHead: string } {
  return { embed: `${prefix}wte.weight`, positions: `${prefix}wpe.weight`, finalNorm: `${prefix}ln_f`, lmHead: 'lm_head.weight' };
}

/** 'transformer.' when the checkpoint uses GPT2LMHeadModel names, '' for bare GPT2Model names. */
export function gpt2Prefix(tensorNames: Iterable<string>): string {
  for (const n of tensorNames) if (n.startsWith('transformer.')) return 'transformer.';
  return '';
}
