/**
 * SVFit: train only the top singular values of each targeted weight, with its singular vectors frozen.
 *
 *   W = U diag(σ) Vᵀ (SVD of the original weight), k = fewest σ holding options.svfitEnergy of Σσ² (rank.ts)
 *   y = x Wᵀ + drop(x) V_k diag(Δσ) U_kᵀ,   i.e. W + U_k diag(Δσ) V_kᵀ ≡ U_k diag(σ_k + Δσ) V_kᵀ + the rest of W
 *
 * A FactoredLayer with frozen A = V_kᵀ [k, in], frozen B = U_k [out, k], trainable diagonal core Δσ [k] starting at
 * zero (so the model starts exactly at the base), scaling 1 (the core is the singular-value change itself; LoRA's
 * alpha/r has no role). The base weight is untouched, so ΔW = U_k diag(Δσ) V_kᵀ exactly, of rank k.
 * Dropout is LoRA's lora_dropout on the adapter path. Weight decay on Δσ pulls the update, not the weight, to 0.
 */
import type { LoraSettings, MethodOptions } from '../../run/api';
import { Rng } from '../../util/rng';
import { FactoredLayer } from '../lowrank/factored';
import type { MethodRun, MethodSetup } from '../method';
import { FactoredRun, type FactoredEntry } from '../common/factoredRun';
import { transposeHost } from '../common/hostMatrix';
import { keyStem, targetLinears } from '../common/targets';
import { svfitSvd, validateEnergy } from './rank';

/** Parameter key of a layer's Δσ. */
export function svfitKey(modulePath: string): string {
  return `${keyStem(modulePath)}.svfit_delta_sigma`;
}

export async function attachSvfit(setup: MethodSetup, lora: LoraSettings, options: MethodOptions): Promise<MethodRun> {
  const { rt } = setup;
  validateEnergy(options.svfitEnergy);
  const targets = targetLinears('SVFit', setup.linears, lora);
  const rng = new Rng(setup.seed);
  const entries: FactoredEntry[] = [];
  try {
    for (const [i, t] of targets.entries()) {
      const spec = t.linear.spec;
      setup.progress(`SVFit: SVD of ${spec.modulePath}`, i / targets.length);
      const svd = await svfitSvd(rt, setup.checkpoint, spec, {
        energy: options.svfitEnergy,
        method: options.svd,
        powerIters: options.powerIters,
        seed: rng.nextU32(),
        startRank: 2 * t.rank,
      });
      const p = spec.modulePath;
      const layer = new FactoredLayer(rt, {
        linear: spec,
        k: svd.k,
        core: 'diag',
        scale: 1,
        dropout: lora.dropout,
        salt: t.index + 1,
        init: { A: transposeHost(svd.V, spec.inFeatures, svd.k), B: svd.U, core: new Float32Array(svd.k) },
        trainable: { A: false, core: true, B: false },
        names: { A: `${keyStem(p)}.svfit_V`, B: `${keyStem(p)}.svfit_U`, core: svfitKey(p) },
      });
      entries.push({ linear: t.linear, layer });
    }
  } catch (e) {
    for (const x of entries) x.layer.release(rt);
    throw e;
  }
  for (const e of entries) e.linear.adapters.push(e.layer);
  setup.progress('SVFit: ready', 1);
  return new FactoredRun('svfit', entries, lora);
}
