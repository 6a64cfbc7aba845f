/**
 * Applies a list of tensor edits (a webpeft delta, or a PEFT IA3/SHiRA adapter converted to edits) to a loaded
 * model as frozen adapters, without touching the checkpoint's tensors:
 *   sparse_add of a linear weight          → a sparse layer (y += x Δᵀ)
 *   lowrank_add of a linear weight         → a LoRA layer
 *   scale of a linear weight (out/in axis) → output / input channel scaling, with the bias's scale and add
 *                                            folded into the same affine (b' = s ⊙ b + β)
 *   add of a linear bias (present or not)  → a shift
 *   add of a norm weight or bias           → the norm pointed at edited copies
 * Anything else (an embedding, a dense add on a 2-D weight) is refused by name.
 */
import type { Linear } from '../../engine/linear';
import type { NormWeights } from '../../engine/weights';
import type { TensorEdit } from '../../formats/webpeftDelta';
import type { GpuRuntime } from '../../gpu/runtime';
import type { LinearSpec } from '../../model/spec';
import { biasName } from '../diag/biases';
import { ChannelAffineLayer, type ChannelAffineValues } from '../diag/channelLayer';
import { NormParams } from '../diag/normParams';
import { LoraLayer } from '../lora/layer';
import { SparseLayer } from '../sparse/layer';
import type { LinearAdapter } from '../types';

export interface AppliedEdits {
  attached: Array<{ linear: Linear; adapter: LinearAdapter & { release(rt: GpuRuntime): void } }>;
  norms: NormParams[];
}

interface LinearEdits {
  linear: Linear;
  sparse: TensorEdit[];
  lowRank: TensorEdit[];
  weightScale: TensorEdit[];
  bias: TensorEdit[];
}

/** Stored-layout sparse entries → sorted nn.Linear flat indices with their values. */
function linearEntries(e: Extract<TensorEdit, { kind: 'sparse_add' }>, s: LinearSpec): { flat: Uint32Array; values: Float32Array } {
  const K = s.inFeatures;
  const N = s.outFeatures;
  const f = new Float64Array(e.indices.length);
  for (let j = 0; j < f.length; j++) f[j] = s.layout === 'out_in' ? e.indices[j] : (e.indices[j] % N) * K + Math.floor(e.indices[j] / N);
  const order = Array.from({ length: f.length }, (_, j) => j).sort((a, b) => f[a] - f[b]);
  return { flat: Uint32Array.from(order, (j) => f[j]), values: Float32Array.from(order, (j) => e.values[j]) };
}

export async function applyEdits(rt: GpuRuntime, edits: TensorEdit[], linears: Linear[], norms: NormWeights[], source: string): Promise<AppliedEdits> {
  const byTensor = new Map<string, LinearEdits>();
  for (const l of linears) {
    const slot: LinearEdits = { linear: l, sparse: [], lowRank: [], weightScale: [], bias: [] };
    byTensor.set(l.spec.weightName, slot);
    byTensor.set(biasName(l.spec), slot);
  }
  const normEdits = new Map<NormWeights, { weight?: Float32Array; bias?: Float32Array }>();
  const normByName = new Map<string, { norm: NormWeights; part: 'weight' | 'bias' }>();
  for (const n of norms) {
    normByName.set(n.weightName, { norm: n, part: 'weight' });
    if (n.biasName) normByName.set(n.biasName, { norm: n, part: 'bias' });
  }
  for (const e of edits) {
    const slot = byTensor.get(e.tensor);
    if (slot) {
      const isWeight = e.tensor === slot.linear.spec.weightName;
      if (isWeight && e.kind === 'sparse_add') slot.sparse.push(e);
      else if (isWeight && e.kind === 'lowrank_add') slot.lowRank.push(e);
      else if (isWeight && e.kind === 'scale') slot.weightScale.push(e);
      else if (!isWeight && (e.kind === 'add' || e.kind === 'scale')) slot.bias.push(e);
      else throw new Error(`${source}: a ${e.kind} edit of ${e.tensor} cannot be applied (webpeft applies sparse, low-rank and per-channel updates of linear weights)`);
      continue;
    }
    const n = normByName.get(e.tensor);
    if (n && e.kind === 'add') {
      const now = normEdits.get(n.norm) ?? {};
      const base = now[n.part] ?? (await rt.read(n.part === 'weight' ? n.norm.weight : (n.norm.bias as NonNullable<NormWeights['bias']>)));
      now[n.part] = base.map((v, i) => v + e.values[i]);
      normEdits.set(n.norm, now);
      continue;
    }
    throw new Error(`${source}: the update of ${e.tensor} (${e.kind}) names no linear layer or norm of this model`);
  }
  const out: AppliedEdits = { attached: [], norms: [] };
  try {
    for (const slot of new Set(byTensor.values())) attachLinear(rt, slot, out, source);
    for (const [norm, v] of normEdits) out.norms.push(new NormParams(rt, norm, { weight: v.weight !== undefined, bias: v.bias !== undefined }, v, false));
  } catch (err) {
    for (const a of out.attached) a.adapter.release(rt);
    for (const n of out.norms) n.release();
    throw err;
  }
  for (const { linear, adapter } of out.attached) linear.adapters.push(adapter);
  return out;
}

function attachLinear(rt: GpuRuntime, slot: LinearEdits, out: AppliedEdits, source: string): void {
  const s = slot.linear.spec;
  const outAxis = s.layout === 'out_in' ? 0 : 1;
  for (const e of slot.sparse) {
    if (e.kind !== 'sparse_add') continue;
    const { flat, values } = linearEntries(e, s);
    out.attached.push({ linear: slot.linear, adapter: new SparseLayer(rt, s, flat, values, `${s.modulePath}.sparse_delta`, false) });
  }
  for (const e of slot.lowRank) {
    if (e.kind !== 'lowrank_add') continue;
    out.attached.push({ linear: slot.linear, adapter: new LoraLayer(rt, s, e.rank, e.scaling, 0, 0, { A: e.A, B: e.B }) });
  }
  const affine: ChannelAffineValues = {};
  for (const e of slot.weightScale) {
    if (e.kind !== 'scale') continue;
    const part = e.axis === outAxis ? 'outScale' : 'inScale';
    const prev = affine[part];
    affine[part] = prev ? prev.map((v, i) => v * e.values[i]) : Float32Array.from(e.values);
  }
  // The bias after its edits is s_b ⊙ b + β; the layer computes s_out ⊙ (x Wᵀ + b) + β, so s_b must be s_out.
  let biasScale: Float32Array | undefined;
  let shift: Float32Array | undefined;
  for (const e of slot.bias) {
    if (e.kind === 'scale') {
      biasScale = biasScale ? biasScale.map((v, i) => v * e.values[i]) : Float32Array.from(e.values);
      if (shift) shift = shift.map((v, i) => v * e.values[i]);
    } else if (e.kind === 'add') shift = shift ? shift.map((v, i) => v + e.values[i]) : Float32Array.from(e.values);
  }
  if (s.biasName && (biasScale || affine.outScale)) {
    const a = biasScale ?? new Float32Array(s.outFeatures).fill(1);
    const b = affine.outScale ?? new Float32Array(s.outFeatures).fill(1);
    if (a.some((v, i) => Math.abs(v - b[i]) > 1e-6 * Math.max(1, Math.abs(b[i])))) throw new Error(`${source}: ${s.biasName} is scaled differently from the output rows of ${s.weightName}, which webpeft cannot apply as a per-channel scale`);
  }
  if (shift && shift.every((v) => v === 0)) shift = undefined;
  if (shift) affine.shift = shift;
  if (affine.inScale || affine.outScale || affine.shift) out.attached.push({ linear: slot.linear, adapter: new ChannelAffineLayer(rt, s, affine, {}, false) });
}
