/**
 * LoRA-XS (Bałazy et al. 2024): per targeted weight, the top-r SVD W ≈ U_r Σ_r V_rᵀ gives frozen factors
 * B = U_r [out, r] and A = Σ_r V_rᵀ [r, in], and only an r × r matrix R between them trains (layer.ts):
 * y += s · B R A drop(x). This is the authors' code in nn.Linear orientation: they decompose weight.T = [in, out]
 * and set lora_A = (U' Σ)ᵀ, lora_B = V'ᵀ, i.e. Σ sits on the input side (their paper's "A = U_r Σ_r" with
 * h = x W, W [in, out]). R starts at N(0, σ² = (1e-5)²) from the run's seed, as their init_module_weights(σ = 1e-5):
 * the model starts equal to the base up to ~1e-5 · σ₁ per element, and R is not exactly zero so gradients reach
 * every entry through the frozen factors. s is LoRA's scaling for the module (alpha / r, or alpha / √r), as their
 * PEFT-based forward multiplies by self.scaling.
 *
 * LoRA-SB (lorasb.ts) is the same layer with B, A, R from the first accumulated gradient instead.
 */
import type { LoraSettings, MethodOptions } from '../../run/api';
import { Rng } from '../../util/rng';
import type { MethodRun, MethodSetup } from '../method';
import { FactoredRun, type FactoredEntry } from '../common/factoredRun';
import { scaleColumns, transposeHost } from '../common/hostMatrix';
import { expectRankFits, targetLinears } from '../common/targets';
import { originalWeightSvd } from '../common/weightSvd';
import { createXsLayer } from './layer';

export { attachLoraSb } from './lorasb';

/** Standard deviation of R's initial entries (LoRA-XS's init_module_weights sigma). */
export const LORAXS_R_STD = 1e-5;

export async function attachLoraXs(setup: MethodSetup, lora: LoraSettings, options: MethodOptions): Promise<MethodRun> {
  const { rt } = setup;
  const targets = targetLinears('LoRA-XS', setup.linears, lora);
  for (const t of targets) expectRankFits('LoRA-XS', t);
  const rng = new Rng(setup.seed);
  const entries: FactoredEntry[] = [];
  try {
    for (const [i, t] of targets.entries()) {
      const spec = t.linear.spec;
      // Every layer draws from its own fork, so targeting more modules does not change earlier layers' init.
      const layerRng = rng.fork();
      setup.progress(`LoRA-XS: SVD of ${spec.modulePath}`, i / targets.length);
      const svd = await originalWeightSvd(rt, setup.checkpoint, spec, { method: options.svd, rank: t.rank, powerIters: options.powerIters, seed: layerRng.nextU32() });
      const r = svd.k;
      // Σ_r V_rᵀ = (V_r Σ_r)ᵀ.
      const A = transposeHost(scaleColumns(svd.V, spec.inFeatures, r, svd.S), spec.inFeatures, r);
      const R = Float32Array.from({ length: r * r }, () => LORAXS_R_STD * layerRng.normal());
      entries.push({ linear: t.linear, layer: createXsLayer(rt, t, r, lora.dropout, { A, B: svd.U, R }) });
    }
  } catch (e) {
    for (const x of entries) x.layer.release(rt);
    throw e;
  }
  for (const e of entries) e.linear.adapters.push(e.layer);
  setup.progress('LoRA-XS: ready', 1);
  return new FactoredRun('loraxs', entries, lora);
}
