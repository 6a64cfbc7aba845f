/**
 * Where a bias may be added to a linear layer so that the merged checkpoint still loads in transformers. A bias
 * the checkpoint has is always fine. Llama's config can create the missing ones: attention_bias gives q, k, v
 * and o projections biases, mlp_bias gives gate, up and down; every layer the flag covers then needs a bias
 * tensor, so the untrained ones get zeros. Qwen2 (biases on q, k, v only) and Mistral have no such flags.
 */
import type { LinearSpec, ModelSpec } from '../../model/spec';

const LLAMA_ATTENTION = new Set(['q_proj', 'k_proj', 'v_proj', 'o_proj']);
const LLAMA_MLP = new Set(['gate_proj', 'up_proj', 'down_proj']);

export interface BiasPlan {
  /** config.json keys that make transformers create the new biases. */
  configPatch: Record<string, unknown>;
  /** Layers without a bias in the checkpoint that the merged model will have one for (trained or zero). */
  created: LinearSpec[];
}

/** The bias tensor name of a layer: the checkpoint's, or the name transformers gives a new one. */
export function biasName(l: LinearSpec): string {
  return l.biasName ?? l.weightName.replace(/weight$/, 'bias');
}

/**
 * Plans biases for the `wanted` layers among all of the model's `linears`; throws, naming the layer and the
 * architecture, when one cannot hold a bias.
 */
export function planBiases(method: string, spec: ModelSpec, linears: LinearSpec[], wanted: LinearSpec[]): BiasPlan {
  const configPatch: Record<string, unknown> = {};
  for (const l of wanted) {
    if (l.biasName) continue;
    const flag = spec.modelType === 'llama' ? (LLAMA_ATTENTION.has(l.name) ? 'attention_bias' : LLAMA_MLP.has(l.name) ? 'mlp_bias' : undefined) : undefined;
    if (!flag) {
      throw new Error(`${method}: ${l.modulePath} has no bias, and transformers' ${spec.modelType} cannot hold one, so the trained shift could not be exported; remove ${l.name} from the targets`);
    }
    configPatch[flag] = true;
  }
  const covered = (l: LinearSpec): boolean => (configPatch.attention_bias === true && LLAMA_ATTENTION.has(l.name)) || (configPatch.mlp_bias === true && LLAMA_MLP.has(l.name));
  return { configPatch, created: linears.filter((l) => !l.biasName && covered(l)) };
}
