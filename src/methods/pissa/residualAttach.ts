/**
 * The attach loop shared by the methods that re-initialise the base (PiSSA, MiLoRA, OLoRA): for every targeted
 * linear, read the ORIGINAL weight from the checkpoint, let the method compute A0 [r, in] and B0 [out, r] from it,
 * put a LoraLayer with those values on the layer and write W − s·B0 A0 into the layer's base weight buffer.
 * Rank and scaling follow LoRA's config (alpha/r, or alpha/√r with rsLoRA). A failure half-way undoes the layers
 * already done, so the model is never left with some residuals written.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import type { GpuTensor } from '../../gpu/tensor';
import type { LinearSpec } from '../../model/spec';
import type { LoraSettings } from '../../run/api';
import { rankFor, scalingFor, targetsModule, validateLoraConfig } from '../lora/config';
import { LoraLayer } from '../lora/layer';
import type { MethodSetup } from '../method';
import { loraConfigFrom } from '../common/targets';
import { readOriginalStored, storedShape, writeResidual } from '../lowrank/baseWeights';
import { type ResidualLayer, ResidualLoraRun, releaseResidualLayers } from './run';

/** One layer's initial factors from its original weight (stored layout, on the GPU; the callee only reads it). */
export type InitFactors = (rt: GpuRuntime, W: GpuTensor, spec: LinearSpec, r: number, scaling: number, layerIndex: number) => Promise<{ A: Float32Array; B: Float32Array }>;


/** A seed per layer from the run's seed and the layer's index, independent of which other layers are targeted. */
export function layerSeed(seed: number, layerIndex: number): number {
  return (Math.imul((seed ^ 0x5bd1e995) >>> 0, 0x9e3779b1) + Math.imul(layerIndex + 1, 0x85ebca6b)) >>> 0;
}

export async function attachResidualLora(setup: MethodSetup, lora: LoraSettings, method: string, label: string, init: InitFactors): Promise<ResidualLoraRun> {
  const cfg = loraConfigFrom(lora);
  validateLoraConfig(cfg);
  const { rt, checkpoint } = setup;
  const targets = setup.linears.map((linear, index) => ({ linear, index })).filter(({ linear }) => targetsModule(cfg, linear.spec.modulePath));
  if (targets.length === 0) {
    const names = [...new Set(setup.linears.map((l) => l.spec.name))].join(', ');
    throw new Error(`${label} target_modules ${cfg.targets.join(', ')} match no layer of this model (its linear layers: ${names})`);
  }
  const done: ResidualLayer[] = [];
  try {
    for (const [i, { linear, index }] of targets.entries()) {
      const spec = linear.spec;
      setup.progress(`${label}: initialising ${spec.modulePath}`, i / targets.length);
      const r = rankFor(cfg, spec.modulePath);
      const scaling = scalingFor(cfg, spec.modulePath);
      const original = await readOriginalStored(checkpoint, spec);
      const W = rt.upload(`${spec.weightName} (init)`, storedShape(spec), original);
      let factors: { A: Float32Array; B: Float32Array };
      try {
        factors = await init(rt, W, spec, r, scaling, index);
      } finally {
        rt.release(W);
      }
      const layer = new LoraLayer(rt, spec, r, scaling, cfg.dropout, index + 1, factors);
      linear.adapters.push(layer);
      done.push({ linear, lora: layer, A0: factors.A, B0: factors.B });
      await writeResidual(rt, linear, checkpoint, { B: layer.B, A: layer.A, k: r, scaling }, original);
    }
  } catch (e) {
    await releaseResidualLayers(rt, done, checkpoint);
    throw e;
  }
  setup.progress(`${label}: ${targets.length} layers initialised`, 1);
  return new ResidualLoraRun(method, done, checkpoint, { targets: cfg.targets, dropout: cfg.dropout });
}
