/** LoRA (and a LoRA adapter loaded from PEFT files) as a MethodRun: the session's view of any method. */
import type { Checkpoint } from '../../formats/checkpoint';
import type { GpuRuntime } from '../../gpu/runtime';
import type { Linear } from '../../engine/linear';
import type { AdapterFiles } from '../../run/api';
import type { LowRankDelta, MethodRun } from '../method';
import type { LinearAdapter, TrainableParam } from '../types';
import { type LoraValues, attachLora } from './attach';
import type { LoraConfig } from './config';
import type { LoraLayer } from './layer';
import { exportLora } from './peft';

export class LoraRun implements MethodRun {
  readonly method = 'lora';
  readonly adapters: ReadonlyMap<string, LinearAdapter>;

  private constructor(
    readonly config: LoraConfig,
    readonly layers: LoraLayer[],
    private readonly linears: Linear[],
  ) {
    this.adapters = new Map(layers.map((l) => [l.linear.modulePath, l]));
  }

  /** Fresh LoRA adapters (PEFT's init from the seed), or the given values (an imported PEFT adapter). */
  static attach(rt: GpuRuntime, linears: Linear[], cfg: LoraConfig, seed: number, values?: LoraValues): LoraRun {
    return new LoraRun(cfg, attachLora(rt, linears, cfg, seed, values), linears);
  }

  params(): TrainableParam[] {
    return this.layers.flatMap((l) => l.params());
  }

  parameterCount(): number {
    return this.layers.reduce((n, l) => n + l.r * (l.linear.inFeatures + l.linear.outFeatures), 0);
  }

  async deltas(rt: GpuRuntime): Promise<LowRankDelta[]> {
    const out: LowRankDelta[] = [];
    for (const l of this.layers) out.push({ linear: l.linear, k: l.r, B: await rt.read(l.B), A: await rt.read(l.A), scaling: l.scale });
    return out;
  }

  exportAdapter(rt: GpuRuntime, base: Checkpoint, baseModelNameOrPath: string): Promise<AdapterFiles> {
    return exportLora(rt, this.layers, this.config, baseModelNameOrPath, base);
  }

  async release(rt: GpuRuntime): Promise<void> {
    for (const lin of this.linears) {
      for (const l of this.layers) {
        const i = lin.adapters.indexOf(l);
        if (i >= 0) lin.adapters.splice(i, 1);
      }
    }
    for (const l of this.layers) l.release(rt);
  }
}
