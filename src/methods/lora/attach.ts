/** Puts LoRA adapters on the targeted linear layers of a model, freshly initialised or with given values. */
import type { GpuRuntime } from '../../gpu/runtime';
import type { Linear } from '../../engine/linear';
import { Rng } from '../../util/rng';
import { type LoraConfig, rankFor, scalingFor, targetsModule, validateLoraConfig } from './config';
import { initLoraWeights } from './init';
import { LoraLayer } from './layer';
import { loraKey } from '../../formats/peft';

/** Values by PEFT key (lora_A / lora_B), e.g. read from an adapter_model.safetensors. */
export type LoraValues = Map<string, Float32Array>;

export function attachLora(rt: GpuRuntime, linears: Linear[], cfg: LoraConfig, seed: number, values?: LoraValues): LoraLayer[] {
  validateLoraConfig(cfg);
  const rng = new Rng(seed);
  const layers: LoraLayer[] = [];
  linears.forEach((lin, index) => {
    const s = lin.spec;
    if (!targetsModule(cfg, s.modulePath)) return;
    const r = rankFor(cfg, s.modulePath);
    // Every layer draws from its own fork, so targeting more modules does not change earlier layers' init.
    const layerRng = rng.fork();
    const init = values ? valuesFor(values, s.modulePath, r, s.inFeatures, s.outFeatures) : initLoraWeights(r, s.inFeatures, s.outFeatures, cfg.init, layerRng);
    const layer = new LoraLayer(rt, s, r, scalingFor(cfg, s.modulePath), cfg.dropout, index + 1, init);
    lin.adapters.push(layer);
    layers.push(layer);
  });
  if (layers.length === 0) {
    const names = [...new Set(linears.map((l) => l.spec.name))].join(', ');
    throw new Error(`LoRA target_modules ${cfg.targets.join(', ')} match no layer of this model (its linear layers: ${names})`);
  }
  if (values) {
    const used = new Set(layers.flatMap((l) => [loraKey(l.linear.modulePath, 'A'), loraKey(l.linear.modulePath, 'B')]));
    const unused = [...values.keys()].filter((k) => !used.has(k));
    if (unused.length > 0) throw new Error(`adapter tensor ${unused[0]} matches no targeted layer of this model${unused.length > 1 ? ` (and ${unused.length - 1} more)` : ''}`);
  }
  return layers;
}

function valuesFor(values: LoraValues, modulePath: string, r: number, inF: number, outF: number): { A: Float32Array; B: Float32Array } {
  const A = values.get(loraKey(modulePath, 'A'));
  const B = values.get(loraKey(modulePath, 'B'));
  if (!A || !B) throw new Error(`adapter has no ${loraKey(modulePath, A ? 'B' : 'A')} for targeted module ${modulePath}`);
  if (A.length !== r * inF) throw new Error(`${loraKey(modulePath, 'A')} has ${A.length} values, expected [${r}, ${inF}]`);
  if (B.length !== outF * r) throw new Error(`${loraKey(modulePath, 'B')} has ${B.length} values, expected [${outF}, ${r}]`);
  return { A, B };
}

export function detachAdapters(linears: Linear[]): void {
  for (const l of linears) l.adapters.length = 0;
}
