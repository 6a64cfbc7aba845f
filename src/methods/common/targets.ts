/** Which linear layers a method adapts, and per-module rank and scaling, from the run's LoRA settings. */
import type { Linear } from '../../engine/linear';
import type { LoraSettings } from '../../run/api';
import { type LoraConfig, rankFor, scalingFor, targetsModule, validateLoraConfig } from '../lora/config';

/** The LoRA settings as the LoRA config the rank/alpha/target helpers take. */
export function loraConfigFrom(s: LoraSettings): LoraConfig {
  return { r: s.rank, alpha: s.alpha, useRslora: s.useRslora, dropout: s.dropout, targets: s.targets, init: s.initLoraWeights };
}

export interface Target {
  linear: Linear;
  /** Position among all the model's linears: salts the layer's dropout mask as LoRA does (index + 1). */
  index: number;
  /** Rank from LoRA's r / rank_pattern, and LoRA's scaling alpha / r (or alpha / √r with rsLoRA). */
  rank: number;
  scaling: number;
}

/** The targeted layers, in model order; refuses settings that reach none (naming the model's layers). */
export function targetLinears(method: string, linears: Linear[], lora: LoraSettings): Target[] {
  const cfg = loraConfigFrom(lora);
  validateLoraConfig(cfg);
  const out: Target[] = [];
  linears.forEach((linear, index) => {
    const p = linear.spec.modulePath;
    if (targetsModule(cfg, p)) out.push({ linear, index, rank: rankFor(cfg, p), scaling: scalingFor(cfg, p) });
  });
  if (out.length === 0) {
    const names = [...new Set(linears.map((l) => l.spec.name))].join(', ');
    throw new Error(`${method}: target modules ${lora.targets.join(', ')} match no layer of this model (its linear layers: ${names})`);
  }
  return out;
}

/** Checks that a rank fits the layer: a rank-r factorisation of an [out, in] weight needs r ≤ min(out, in). */
export function expectRankFits(method: string, t: Target): void {
  const { inFeatures, outFeatures, modulePath } = t.linear.spec;
  const max = Math.min(inFeatures, outFeatures);
  if (t.rank > max) throw new Error(`${method}: rank ${t.rank} is larger than ${modulePath} allows (min(out ${outFeatures}, in ${inFeatures}) = ${max})`);
}

/** PEFT's key stem for a module: base_model.model.<modulePath>. */
export function keyStem(modulePath: string): string {
  return `base_model.model.${modulePath}`;
}
