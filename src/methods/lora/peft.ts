/**
 * LoRA ⇄ PEFT files. Import: any LoRA adapter PEFT saved (rank/alpha patterns, rsLoRA, Conv1D fan_in_fan_out),
 * refusing what a plain LoRA engine would silently get wrong. Export: exactly PEFT's key names, shapes, F32
 * dtype, config fields and `{"format":"pt"}` metadata, with every key checked against the base checkpoint first.
 */
import type { Checkpoint } from '../../formats/checkpoint';
import { type OpenedAdapter, adapterLimitations, buildLoraAdapterConfig, loraKey, serializeAdapterConfig } from '../../formats/peft';
import { readTensorF32, writeSafetensors } from '../../formats/safetensors';
import type { GpuRuntime } from '../../gpu/runtime';
import type { AdapterFiles } from '../../run/api';
import type { LoraConfig } from './config';
import type { LoraValues } from './attach';
import type { LoraLayer } from './layer';

export function loraConfigFromPeft(a: OpenedAdapter): LoraConfig {
  const limits = adapterLimitations(a.config);
  if (limits.length > 0) throw new Error(`${a.weights.fileName}: this adapter uses ${limits.join(', ')}, which webpeft cannot apply yet`);
  return {
    r: a.config.r,
    alpha: a.config.lora_alpha,
    useRslora: a.config.use_rslora,
    dropout: a.config.lora_dropout,
    // The file says exactly which modules are adapted; target those paths.
    targets: a.modules,
    init: 'default',
    rankPattern: a.config.rank_pattern,
    alphaPattern: a.config.alpha_pattern,
  };
}

export async function readLoraValues(a: OpenedAdapter): Promise<LoraValues> {
  const values: LoraValues = new Map();
  for (const m of a.modules) {
    for (const which of ['A', 'B'] as const) values.set(loraKey(m, which), await readTensorF32(a.weights, loraKey(m, which)));
  }
  return values;
}

/** Short module names PEFT would list in target_modules for these layers (q_proj, c_attn, ...). */
function targetNames(layers: LoraLayer[]): string[] {
  return [...new Set(layers.map((l) => l.linear.name))];
}

export async function exportLora(rt: GpuRuntime, layers: LoraLayer[], cfg: LoraConfig, baseModelNameOrPath: string, base: Checkpoint): Promise<AdapterFiles> {
  if (layers.length === 0) throw new Error('there is no trained adapter to export');
  const tensors = [];
  for (const l of layers) {
    const s = l.linear;
    // Every exported key must name a linear layer of the base checkpoint with matching features.
    if (!base.has(s.weightName)) throw new Error(`export: base checkpoint has no ${s.weightName} for ${loraKey(s.modulePath, 'A')}`);
    const shape = base.entry(s.weightName).shape;
    const [inF, outF] = s.layout === 'out_in' ? [shape[1], shape[0]] : [shape[0], shape[1]];
    if (inF !== s.inFeatures || outF !== s.outFeatures) throw new Error(`export: ${s.weightName} is [${shape.join(', ')}], adapter expects in ${s.inFeatures}, out ${s.outFeatures}`);
    tensors.push({ name: loraKey(s.modulePath, 'A'), dtype: 'F32' as const, shape: [l.r, s.inFeatures], data: await rt.read(l.A) });
    tensors.push({ name: loraKey(s.modulePath, 'B'), dtype: 'F32' as const, shape: [s.outFeatures, l.r], data: await rt.read(l.B) });
  }
  const config = buildLoraAdapterConfig({
    baseModelNameOrPath,
    r: cfg.r,
    loraAlpha: cfg.alpha,
    targetModules: cfg.targets.some((t) => t.includes('.')) ? targetNames(layers) : cfg.targets.filter((t) => layers.some((l) => l.linear.name === t)),
    useRslora: cfg.useRslora,
    loraDropout: cfg.dropout,
    fanInFanOut: layers[0].linear.layout === 'in_out',
    initLoraWeights: cfg.init === 'gaussian' ? 'gaussian' : true,
    rankPattern: cfg.rankPattern,
    alphaPattern: cfg.alphaPattern,
  });
  return { config: serializeAdapterConfig(config), weights: writeSafetensors(tensors) };
}
