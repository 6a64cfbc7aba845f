/**
 * Any method's update as a plain PEFT LoRA adapter on the ORIGINAL base: per layer lora_A = A [k, in] and
 * lora_B = B [out, k] of ΔW = scaling · B A, with init_lora_weights true and use_rslora false.
 *
 * This is PEFT's own conversion of PiSSA/OLoRA adapters (`save_pretrained(path_initial_model_for_weight_conversion)`):
 * a rank-r PiSSA run exports rank 2r with A' = [A; A0], B' = [B, −B0] and lora_alpha doubled, so the scaling
 * alpha/r is unchanged. Layers of different k get rank_pattern entries; alpha (and alpha_pattern) are chosen
 * so that PEFT's alpha_l / k_l equals each delta's scaling. Conv1D layers keep PEFT's [k, in] / [out, k] shapes
 * and only set fan_in_fan_out, as PEFT does.
 */
import type { Checkpoint } from '../../formats/checkpoint';
import { buildLoraAdapterConfig, loraKey, serializeAdapterConfig } from '../../formats/peft';
import { type TensorToWrite, writeSafetensors } from '../../formats/safetensors';
import type { AdapterFiles } from '../../run/api';
import type { LowRankDelta } from '../method';

export interface ExportDeltasOptions {
  baseModelNameOrPath: string;
  /** The original base checkpoint: every exported key must name one of its linear weights. */
  base: Checkpoint;
  /** The run's target module names (PEFT target_modules, e.g. q_proj, v_proj). */
  targets: string[];
  dropout?: number;
}

export async function exportDeltasAsLora(deltas: LowRankDelta[], opts: ExportDeltasOptions): Promise<AdapterFiles> {
  const kept = deltas.filter((d) => d.k > 0);
  if (kept.length === 0) throw new Error('there is no trained update to export (every adapted layer has rank 0)');
  const layouts = new Set(kept.map((d) => d.linear.layout));
  if (layouts.size > 1) throw new Error('export: nn.Linear and Conv1D layers in one adapter; PEFT has a single fan_in_fan_out flag');
  const tensors: TensorToWrite[] = [];
  for (const d of kept) {
    checkAgainstBase(d, opts.base);
    tensors.push({ name: loraKey(d.linear.modulePath, 'A'), dtype: 'F32', shape: [d.k, d.linear.inFeatures], data: d.A });
    tensors.push({ name: loraKey(d.linear.modulePath, 'B'), dtype: 'F32', shape: [d.linear.outFeatures, d.k], data: d.B });
  }
  const { r, alpha, rankPattern, alphaPattern } = ranksAndAlphas(kept);
  const config = buildLoraAdapterConfig({
    baseModelNameOrPath: opts.baseModelNameOrPath,
    r,
    loraAlpha: alpha,
    targetModules: targetModules(kept, opts),
    useRslora: false,
    loraDropout: opts.dropout ?? 0,
    fanInFanOut: kept[0].linear.layout === 'in_out',
    initLoraWeights: true,
    rankPattern,
    alphaPattern,
  });
  return { config: serializeAdapterConfig(config), weights: writeSafetensors(tensors) };
}

/** The same checks as exportLora: the key names a base weight with these features, and A/B hold [k, in] / [out, k]. */
function checkAgainstBase(d: LowRankDelta, base: Checkpoint): void {
  const s = d.linear;
  const key = loraKey(s.modulePath, 'A');
  if (!base.has(s.weightName)) throw new Error(`export: base checkpoint has no ${s.weightName} for ${key}`);
  const shape = base.entry(s.weightName).shape;
  const [inF, outF] = s.layout === 'out_in' ? [shape[1], shape[0]] : [shape[0], shape[1]];
  if (shape.length !== 2 || inF !== s.inFeatures || outF !== s.outFeatures) {
    throw new Error(`export: ${s.weightName} is [${shape.join(', ')}], adapter expects in ${s.inFeatures}, out ${s.outFeatures}`);
  }
  if (d.A.length !== d.k * s.inFeatures || d.B.length !== s.outFeatures * d.k) {
    throw new Error(`export: ${s.modulePath} has A of ${d.A.length} and B of ${d.B.length} values, expected [${d.k}, ${s.inFeatures}] and [${s.outFeatures}, ${d.k}]`);
  }
  if (!(Number.isFinite(d.scaling) && d.scaling !== 0)) throw new Error(`export: ${s.modulePath} has scaling ${d.scaling}`);
}

/** alpha = scaling · k, snapped to an integer when it is one up to rounding (PEFT writes 16, not 16.000000000000004). */
function alphaOf(d: LowRankDelta): number {
  const a = d.scaling * d.k;
  const n = Math.round(a);
  return Math.abs(a - n) <= 1e-9 * Math.max(1, Math.abs(a)) ? n : a;
}

function sameAlpha(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(a), Math.abs(b));
}

/**
 * r = the largest k; lora_alpha = the alpha of the first layer with that k. Pattern keys are full module paths:
 * peft 0.14 looks them up exactly when no `.*\.key$` match exists, and a full path has no such match.
 */
function ranksAndAlphas(deltas: LowRankDelta[]): { r: number; alpha: number; rankPattern: Record<string, number>; alphaPattern: Record<string, number> } {
  const r = Math.max(...deltas.map((d) => d.k));
  const alpha = alphaOf(deltas.find((d) => d.k === r) as LowRankDelta);
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  for (const d of deltas) {
    if (d.k !== r) rankPattern[d.linear.modulePath] = d.k;
    const a = alphaOf(d);
    if (!sameAlpha(a, alpha)) alphaPattern[d.linear.modulePath] = a;
  }
  return { r, alpha, rankPattern, alphaPattern };
}

/**
 * The run's short target names when the exported layers are exactly the layers those names reach in the base
 * (counted by checkpoint weight names); otherwise the exact module paths, so PEFT makes no adapter for a layer
 * left out (rank 0).
 */
function targetModules(deltas: LowRankDelta[], opts: ExportDeltasOptions): string[] {
  const names = [...new Set(deltas.map((d) => d.linear.name))];
  const weights = opts.base.tensorNames().filter((t) => opts.base.entry(t).shape.length === 2);
  const complete = names.every((n) => {
    const inBase = weights.filter((t) => t === `${n}.weight` || t.endsWith(`.${n}.weight`)).length;
    return opts.targets.includes(n) && inBase === deltas.filter((d) => d.linear.name === n).length;
  });
  return complete ? opts.targets.filter((t) => names.includes(t)) : deltas.map((d) => d.linear.modulePath);
}
