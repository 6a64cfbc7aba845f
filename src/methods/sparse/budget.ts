/**
 * How many entries each layer of a sparse method keeps. A density d keeps round(d · in · out); "match LoRA rank"
 * keeps r · (in + out), LoRA's trainable count at rank r and exactly the budget PEFT's SHiRA format requires.
 * SaRA keeps its fraction of the smallest weights.
 */
import type { LinearSpec } from '../../model/spec';
import type { MethodOptions } from '../../run/api';

export type SparseMethod = 'sparse' | 'sara' | 'subnet' | 'dsee';

export function sparseBudget(method: SparseMethod, o: MethodOptions, l: LinearSpec, r: number): number {
  const size = l.inFeatures * l.outFeatures;
  const fraction = method === 'sara' ? o.saraFraction : o.density;
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`${method}: ${method === 'sara' ? 'SaRA fraction' : 'density'} must be in (0, 1], got ${fraction}`);
  if (method !== 'sara' && o.matchLoraRank) return Math.min(size, r * (l.inFeatures + l.outFeatures));
  return Math.min(size, Math.max(1, Math.round(fraction * size)));
}
