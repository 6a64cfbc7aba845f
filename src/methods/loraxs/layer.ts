/**
 * The LoRA-XS layer shared by LoRA-XS and LoRA-SB: frozen B [out, r] and A [r, in], a trainable r × r matrix R
 * between them (LoRA-XS's `default_lora_latent_mapping`, an nn.Linear(r, r): h2 = h Rᵀ):
 *
 *   y += s · B R A drop(x),   s = LoRA's scaling for the module (alpha / r, or alpha / √r with rsLoRA)
 *
 * Only R trains: r² parameters per layer, whatever the layer's width. The two methods differ only in B, A, R at
 * init. The base weight is untouched, so ΔW = s · B R A (folded on the host as B' = s · B R, A' = A, rank r).
 */
import { loraKey } from '../../formats/peft';
import type { GpuRuntime } from '../../gpu/runtime';
import { FactoredLayer } from '../lowrank/factored';
import { type Target, keyStem } from '../common/targets';

export function latentKey(modulePath: string): string {
  return `${keyStem(modulePath)}.default_lora_latent_mapping.weight`;
}

export interface XsInit {
  /** [r, in] */
  A: Float32Array;
  /** [out, r] */
  B: Float32Array;
  /** [r, r] row-major (nn.Linear weight: h2 = h Rᵀ) */
  R: Float32Array;
}

export function createXsLayer(rt: GpuRuntime, t: Target, r: number, dropout: number, init: XsInit): FactoredLayer {
  const p = t.linear.spec.modulePath;
  return new FactoredLayer(rt, {
    linear: t.linear.spec,
    k: r,
    core: 'square',
    scale: t.scaling,
    dropout,
    salt: t.index + 1,
    init: { A: init.A, B: init.B, core: init.R },
    trainable: { A: false, core: true, B: false },
    names: { A: loraKey(p, 'A'), B: loraKey(p, 'B'), core: latentKey(p) },
  });
}
