/**
 * BitFit, IA3, SSF and norm-only: which parameters each trains, on which layers, and how it starts.
 *   BitFit (Ben Zaken et al.): the biases of the target linears (created where transformers can hold them) and,
 *     where the norms have them (GPT-2's LayerNorm), the norm biases.
 *   IA3 (Liu et al., PEFT): a vector per target, ones at init, scaling the output, or the input for PEFT's
 *     feed-forward modules.
 *   SSF (Lian et al.): scale γ (ones) and shift β (zeros) of every target linear's output features.
 *   Norm-only: every RMSNorm/LayerNorm weight (and LayerNorm bias).
 * Every one starts exactly at the base model.
 */
import type { Linear } from '../../engine/linear';
import { isFeedforwardModule } from '../../formats/ia3';
import type { LoraSettings, MethodOptions } from '../../run/api';
import { keyStem, targetLinears } from '../common/targets';
import type { MethodSetup } from '../method';
import { planBiases } from './biases';
import { ChannelAffineLayer } from './channelLayer';
import { NormParams } from './normParams';
import { DiagRun } from './run';

export type DiagMethod = 'bitfit' | 'ia3' | 'ssf' | 'norms';

function modelOf(setup: MethodSetup, method: string): NonNullable<MethodSetup['model']> {
  if (!setup.model) throw new Error(`${method}: needs the model's norms and spec, which this setup does not give`);
  return setup.model;
}

function ones(n: number): Float32Array {
  return new Float32Array(n).fill(1);
}

export function attachDiag(setup: MethodSetup, lora: LoraSettings, options: MethodOptions, method: DiagMethod): DiagRun {
  switch (method) {
    case 'bitfit':
      return attachBitfit(setup, lora);
    case 'ia3':
      return attachIa3(setup, lora, options);
    case 'ssf':
      return attachSsf(setup, lora);
    case 'norms':
      return attachNorms(setup);
  }
}

function attachBitfit(setup: MethodSetup, lora: LoraSettings): DiagRun {
  const { spec, norms } = modelOf(setup, 'bitfit');
  const targets = targetLinears('bitfit', setup.linears, lora).map((t) => t.linear);
  const plan = planBiases('bitfit', spec, setup.linears.map((l) => l.spec), targets.map((l) => l.spec));
  const layers = targets.map((linear) => ({
    linear,
    layer: new ChannelAffineLayer(setup.rt, linear.spec, { shift: new Float32Array(linear.spec.outFeatures) }, { shift: `${linear.spec.modulePath}.bias` }, true),
  }));
  const normParams = norms.filter((n) => n.bias).map((n) => new NormParams(setup.rt, n, { weight: false, bias: true }, undefined, true));
  return new DiagRun({ method: 'bitfit', layers, norms: normParams, configPatch: plan.configPatch, zeroBiases: plan.created, settings: { targets: lora.targets } });
}

function attachIa3(setup: MethodSetup, lora: LoraSettings, options: MethodOptions): DiagRun {
  const targets = targetLinears('ia3', setup.linears, lora).map((t) => t.linear);
  const ff = (l: Linear): boolean => isFeedforwardModule(options.ia3FeedForward, l.spec.modulePath);
  const layers = targets.map((linear) => {
    const s = linear.spec;
    const name = `${keyStem(s.modulePath)}.ia3_l`;
    const init = ff(linear) ? { inScale: ones(s.inFeatures) } : { outScale: ones(s.outFeatures) };
    const names = ff(linear) ? { inScale: name } : { outScale: name };
    return { linear, layer: new ChannelAffineLayer(setup.rt, s, init, names, true) };
  });
  // PEFT requires feedforward_modules ⊆ target_modules: list only the feed-forward names among the targets.
  const feedforwardModules = options.ia3FeedForward.filter((f) => targets.some((l) => l.spec.modulePath.endsWith(f)));
  const fanInFanOut = targets.some((l) => l.spec.layout === 'in_out');
  return new DiagRun({
    method: 'ia3',
    layers,
    norms: [],
    configPatch: {},
    zeroBiases: [],
    ia3: { targetModules: lora.targets, feedforwardModules, fanInFanOut },
    settings: { targets: lora.targets, feedforward: feedforwardModules },
  });
}

function attachSsf(setup: MethodSetup, lora: LoraSettings): DiagRun {
  const { spec } = modelOf(setup, 'ssf');
  const targets = targetLinears('ssf', setup.linears, lora).map((t) => t.linear);
  const plan = planBiases('ssf', spec, setup.linears.map((l) => l.spec), targets.map((l) => l.spec));
  const layers = targets.map((linear) => {
    const s = linear.spec;
    const init = { outScale: ones(s.outFeatures), shift: new Float32Array(s.outFeatures) };
    return { linear, layer: new ChannelAffineLayer(setup.rt, s, init, { outScale: `${s.modulePath}.ssf_scale`, shift: `${s.modulePath}.ssf_shift` }, true) };
  });
  return new DiagRun({ method: 'ssf', layers, norms: [], configPatch: plan.configPatch, zeroBiases: plan.created, settings: { targets: lora.targets } });
}

function attachNorms(setup: MethodSetup): DiagRun {
  const { norms } = modelOf(setup, 'norms');
  const params = norms.map((n) => new NormParams(setup.rt, n, { weight: true, bias: n.bias !== undefined }, undefined, true));
  return new DiagRun({ method: 'norms', layers: [], norms: params, configPatch: {}, zeroBiases: [], settings: {} });
}
