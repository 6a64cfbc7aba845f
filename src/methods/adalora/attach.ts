/**
 * AdaLoRA at init: on every targeted layer, PEFT's SVDLinear parametrisation
 *   y += drop(x) (A ⊙ E)ᵀ Bᵀ · lora_alpha / (ranknum + 1e-5),   ranknum = init_r,
 * i.e. a FactoredLayer with a diagonal core E: lora_A [init_r, in] ~ N(0, 0.02), lora_E [init_r] = 0 (so the
 * model starts equal to the base), lora_B [out, init_r] ~ N(0, 0.02), all three trained (AdamW decays all three,
 * as a HF Trainer does for parameters that are not biases or norms). Plus the RankAllocator for the schedule.
 */
import { orthRegWorkspace } from '../../gpu/ops/orthreg';
import type { LoraSettings, MethodOptions } from '../../run/api';
import { Rng } from '../../util/rng';
import { FactoredLayer } from '../lowrank/factored';
import type { MethodRun, MethodSetup } from '../method';
import { keyStem, targetLinears } from '../common/targets';
import { RankAllocator } from './allocator';
import { adaloraConfigOf, adaloraScaling } from './config';
import { type AdaloraEntry, AdaloraRun } from './run';

/** PEFT's reset_lora_parameters: nn.init.normal_(std=0.02). */
const INIT_STD = 0.02;

export async function attachAdalora(setup: MethodSetup, lora: LoraSettings, options: MethodOptions, totalSteps: number): Promise<MethodRun> {
  const cfg = adaloraConfigOf(lora, options, totalSteps);
  const { rt } = setup;
  const targets = targetLinears('AdaLoRA', setup.linears, lora);
  const rng = new Rng(setup.seed);
  const k = cfg.initR;
  const scale = adaloraScaling(cfg);
  const entries: AdaloraEntry[] = targets.map((t) => {
    const s = t.linear.spec;
    // Every layer draws from its own fork, so targeting more modules does not change earlier layers' init.
    const layerRng = rng.fork();
    const A = Float32Array.from({ length: k * s.inFeatures }, () => INIT_STD * layerRng.normal());
    const B = Float32Array.from({ length: s.outFeatures * k }, () => INIT_STD * layerRng.normal());
    const stem = keyStem(s.modulePath);
    const layer = new FactoredLayer(rt, {
      linear: s,
      k,
      core: 'diag',
      scale,
      dropout: cfg.dropout,
      salt: t.index + 1,
      init: { A, B, core: new Float32Array(k) },
      trainable: { A: true, core: true, B: true },
      // PEFT's AdaLoRA state-dict keys (ParameterDicts: no ".weight").
      names: { A: `${stem}.lora_A`, core: `${stem}.lora_E`, B: `${stem}.lora_B` },
    });
    t.linear.adapters.push(layer);
    return { linear: t.linear, layer };
  });
  const allocator = new RankAllocator(rt, cfg, entries.map((e) => e.layer));
  setup.progress('AdaLoRA: initialised', 1);
  return new AdaloraRun(entries, cfg, allocator, orthRegWorkspace(rt, k, 'adalora.orth G'));
}
