/**
 * A MethodRun over plain LoRA layers with per-layer rank and scaling (EVA's result): training, ΔW = s·B A per
 * layer, and the PEFT export as LoRA with rank_pattern / alpha_pattern.
 */
import type { Checkpoint } from '../../formats/checkpoint';
import type { GpuRuntime } from '../../gpu/runtime';
import type { Linear } from '../../engine/linear';
import type { AdapterFiles } from '../../run/api';
import type { LoraLayer } from '../lora/layer';
import { exportDeltasAsLora } from '../lowrank/export';
import type { LowRankDelta, MethodRun } from '../method';
import type { LinearAdapter, TrainableParam } from '../types';

export interface AttachedLora {
  linear: Linear;
  layer: LoraLayer;
}

export class LoraLayersRun implements MethodRun {
  readonly adapters: ReadonlyMap<string, LinearAdapter>;

  constructor(
    readonly method: string,
    private readonly attached: readonly AttachedLora[],
    /** PEFT's target_modules and lora_dropout of the export. */
    private readonly exportOptions: { targets: string[]; dropout: number },
  ) {
    this.adapters = new Map(attached.map((a) => [a.linear.spec.modulePath, a.layer]));
  }

  /** Ranks per module path (0 for targeted layers EVA gave nothing are simply absent). */
  ranks(): Map<string, number> {
    return new Map(this.attached.map((a) => [a.linear.spec.modulePath, a.layer.r]));
  }

  params(): TrainableParam[] {
    return this.attached.flatMap((a) => a.layer.params());
  }

  async deltas(rt: GpuRuntime): Promise<LowRankDelta[]> {
    const out: LowRankDelta[] = [];
    for (const { layer } of this.attached) {
      out.push({ linear: layer.linear, k: layer.r, A: await rt.read(layer.A), B: await rt.read(layer.B), scaling: layer.scale });
    }
    return out;
  }

  async exportAdapter(rt: GpuRuntime, base: Checkpoint, baseModelNameOrPath: string): Promise<AdapterFiles> {
    return exportDeltasAsLora(await this.deltas(rt), { baseModelNameOrPath, base, targets: this.exportOptions.targets, dropout: this.exportOptions.dropout });
  }

  parameterCount(): number {
    return this.attached.reduce((n, { layer }) => n + layer.r * (layer.linear.inFeatures + layer.linear.outFeatures), 0);
  }

  async release(rt: GpuRuntime): Promise<void> {
    for (const { linear, layer } of this.attached) {
      const i = linear.adapters.indexOf(layer);
      if (i >= 0) linear.adapters.splice(i, 1);
    }
    // Recorded dispatches may still read these buffers: submit them before anything is destroyed.
    rt.flush();
    for (const { layer } of this.attached) layer.release(rt);
  }
}
