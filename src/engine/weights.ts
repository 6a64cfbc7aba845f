/**
 * Uploads a checkpoint's frozen weights to the GPU (f32 whatever the stored dtype), validating every tensor's
 * presence and shape against the ModelSpec before anything is allocated. A missing tensor is refused by name.
 */
import type { Checkpoint } from '../formats/checkpoint';
import type { GpuRuntime } from '../gpu/runtime';
import { type GpuTensor, shapeString } from '../gpu/tensor';
import { gpt2Globals, gpt2Linears, gpt2Norms, gpt2Prefix } from '../model/gpt2';
import { LLAMA_GLOBALS, llamaLinears, llamaNorms } from '../model/llama';
import type { LinearSpec, ModelSpec } from '../model/spec';
import { Linear } from './linear';

export interface NormWeights {
  /** Checkpoint tensor names, e.g. model.layers.0.input_layernorm.weight (what norm-only tuning exports). */
  weightName: string;
  biasName?: string;
  weight: GpuTensor;
  bias?: GpuTensor;
  /**
   * Set while a method trains this norm's affine parameters (norm-only tuning, BitFit's LayerNorm biases): the
   * backward pass accumulates ∂L/∂weight and ∂L/∂bias here. Absent for a frozen norm.
   */
  grad?: { weight?: GpuTensor; bias?: GpuTensor };
}

export interface BlockWeights {
  ln1: NormWeights;
  ln2: NormWeights;
  /** Forward order: llama q,k,v,o,gate,up,down; gpt2 c_attn, attn.c_proj, c_fc, mlp.c_proj. */
  linears: Linear[];
}

export interface ModelWeights {
  embed: GpuTensor;
  positions?: GpuTensor;
  finalNorm: NormWeights;
  /** [V, C]; the embedding itself when tied. */
  lmHead: GpuTensor;
  blocks: BlockWeights[];
}

interface TensorPlan {
  name: string;
  shape: number[];
}

/** Everything the model needs from the checkpoint, with expected shapes. */
export function weightPlan(spec: ModelSpec, tensorNames: string[]): { plan: TensorPlan[]; linears: LinearSpec[][]; prefix: string } {
  const C = spec.hidden;
  const plan: TensorPlan[] = [];
  const linears: LinearSpec[][] = [];
  const prefix = spec.family === 'gpt2' ? gpt2Prefix(tensorNames) : '';
  const g = spec.family === 'gpt2' ? gpt2Globals(prefix) : { ...LLAMA_GLOBALS, positions: '' };
  plan.push({ name: g.embed, shape: [spec.vocab, C] });
  if (spec.family === 'gpt2') plan.push({ name: g.positions, shape: [spec.maxPositions, C] });
  for (let i = 0; i < spec.layers; i++) {
    const lins = spec.family === 'gpt2' ? gpt2Linears(spec, i, prefix) : llamaLinears(spec, i);
    linears.push(lins);
    const norms = spec.family === 'gpt2' ? gpt2Norms(i, prefix) : llamaNorms(i);
    plan.push(...normPlan(spec, norms.ln1), ...normPlan(spec, norms.ln2));
    for (const l of lins) {
      plan.push({ name: l.weightName, shape: l.layout === 'out_in' ? [l.outFeatures, l.inFeatures] : [l.inFeatures, l.outFeatures] });
      if (l.biasName) plan.push({ name: l.biasName, shape: [l.outFeatures] });
    }
  }
  plan.push(...normPlan(spec, g.finalNorm));
  if (!spec.tiedEmbeddings) plan.push({ name: g.lmHead, shape: [spec.vocab, C] });
  return { plan, linears, prefix };
}

function normPlan(spec: ModelSpec, name: string): TensorPlan[] {
  // Llama names are full tensor names; GPT-2 LayerNorm names are module stems with weight and bias.
  if (spec.family === 'llama') return [{ name, shape: [spec.hidden] }];
  return [
    { name: `${name}.weight`, shape: [spec.hidden] },
    { name: `${name}.bias`, shape: [spec.hidden] },
  ];
}

export function validateCheckpoint(spec: ModelSpec, ckpt: Checkpoint): TensorPlan[] {
  const { plan } = weightPlan(spec, ckpt.tensorNames());
  const missing = plan.filter((p) => !ckpt.has(p.name)).map((p) => p.name);
  if (missing.length > 0) {
    const more = missing.length > 5 ? ` and ${missing.length - 5} more` : '';
    throw new Error(`checkpoint is missing tensor${missing.length > 1 ? 's' : ''} ${missing.slice(0, 5).join(', ')}${more} required by ${spec.modelType}`);
  }
  for (const p of plan) {
    const e = ckpt.entry(p.name);
    if (e.shape.length !== p.shape.length || e.shape.some((d, i) => d !== p.shape[i])) {
      throw new Error(`${e.fileName}: tensor ${p.name} has shape ${shapeString(e.shape)}, config.json implies ${shapeString(p.shape)}`);
    }
  }
  return plan;
}

export async function uploadWeights(
  rt: GpuRuntime,
  spec: ModelSpec,
  ckpt: Checkpoint,
  onProgress?: (done: number, total: number) => void,
): Promise<ModelWeights> {
  const plan = validateCheckpoint(spec, ckpt);
  const { linears, prefix } = weightPlan(spec, ckpt.tensorNames());
  const gpu = new Map<string, GpuTensor>();
  let done = 0;
  for (const p of plan) {
    const data = await ckpt.read(p.name);
    gpu.set(p.name, rt.upload(p.name, p.shape, data));
    onProgress?.(++done, plan.length);
  }
  const get = (name: string): GpuTensor => gpu.get(name) as GpuTensor;
  const norm = (name: string): NormWeights =>
    spec.family === 'llama'
      ? { weightName: name, weight: get(name) }
      : { weightName: `${name}.weight`, biasName: `${name}.bias`, weight: get(`${name}.weight`), bias: get(`${name}.bias`) };
  const g = spec.family === 'gpt2' ? gpt2Globals(prefix) : { ...LLAMA_GLOBALS, positions: '' };
  const blocks: BlockWeights[] = linears.map((lins, i) => {
    const norms = spec.family === 'gpt2' ? gpt2Norms(i, prefix) : llamaNorms(i);
    return {
      ln1: norm(norms.ln1),
      ln2: norm(norms.ln2),
      linears: lins.map((l) => new Linear(l, get(l.weightName), l.biasName ? get(l.biasName) : undefined)),
    };
  });
  return {
    embed: get(g.embed),
    positions: spec.family === 'gpt2' ? get(g.positions) : undefined,
    finalNorm: norm(g.finalNorm),
    lmHead: spec.tiedEmbeddings ? get(g.embed) : get(g.lmHead),
    blocks,
  };
}

/** Total parameters the checkpoint holds for this model (tied head counted once). */
export function parameterCount(spec: ModelSpec, tensorNames: string[]): number {
  return weightPlan(spec, tensorNames).plan.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
}

/** Every norm of the model in forward order: ln1 and ln2 of each block, then the final norm. */
export function allNorms(w: ModelWeights): NormWeights[] {
  return [...w.blocks.flatMap((b) => [b.ln1, b.ln2]), w.finalNorm];
}
