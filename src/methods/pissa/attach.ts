/**
 * PiSSA (Meng et al. 2024) and MiLoRA (Wang et al. 2024) on the targeted linear layers, as PEFT's
 * init_lora_weights "pissa" / "pissa_niter_N": LoRA factors from the top-r (PiSSA) or bottom-r (MiLoRA) singular
 * triplets of each weight, the rest left in the frozen base as W_res = W − s·B A. Exports as PEFT's conversion
 * does: a plain rank-2r LoRA on the original base.
 */
import type { LoraSettings, MethodOptions } from '../../run/api';
import type { MethodSetup } from '../method';
import { svdFactors } from './factors';
import { attachResidualLora, layerSeed } from './residualAttach';
import type { ResidualLoraRun } from './run';

export async function attachPissa(setup: MethodSetup, lora: LoraSettings, options: MethodOptions, variant: 'pissa' | 'milora'): Promise<ResidualLoraRun> {
  const smallest = variant === 'milora';
  if (!smallest && options.svd === 'randomized' && !(Number.isInteger(options.powerIters) && options.powerIters >= 0)) {
    throw new Error(`PiSSA: powerIters must be a non-negative integer, got ${options.powerIters}`);
  }
  const label = smallest ? 'MiLoRA' : 'PiSSA';
  return attachResidualLora(setup, lora, variant, label, (rt, W, spec, r, scaling, index) =>
    svdFactors(rt, W, spec, r, scaling, { svd: smallest ? 'exact' : options.svd, powerIters: options.powerIters, seed: layerSeed(setup.seed, index), smallest }),
  );
}
