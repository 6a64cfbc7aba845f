/**
 * A MethodRun made of FactoredLayers, one per targeted linear layer: what SVFit, SORSA, LoRA-XS and LoRA-SB share
 * (parameters, deltas, PEFT export through the plain-LoRA conversion, detaching and freeing). The method supplies
 * only what differs: how a layer's product becomes ΔW against the original weight, a regulariser, and what it did
 * to the base weights.
 */
import type { Checkpoint } from '../../formats/checkpoint';
import type { Linear } from '../../engine/linear';
import type { GpuRuntime } from '../../gpu/runtime';
import type { AdapterFiles, LoraSettings } from '../../run/api';
import { exportDeltasAsLora } from '../lowrank/export';
import type { FactoredLayer } from '../lowrank/factored';
import type { LowRankDelta, MethodRun } from '../method';
import type { LinearAdapter, TrainableParam } from '../types';
import { detachAndRelease } from './detach';

export interface FactoredEntry {
  linear: Linear;
  layer: FactoredLayer;
}

export interface FactoredRunHooks {
  /**
   * ΔW of one layer against the ORIGINAL weight, given its current product s · B core A as `B` [out, k] (scale
   * folded in) and `A` [k, in]. Default: the product itself (the method left the base weight untouched).
   */
  delta?(e: FactoredEntry, product: { B: Float32Array; A: Float32Array; k: number }): LowRankDelta;
  beforeOptimizerStep?(rt: GpuRuntime, step: number, totalSteps: number): void;
  /** W_now − W_original per layer whose base buffer the method changed. */
  baseChange?(): LowRankDelta[];
  /** After the adapters are detached and freed: put base weights back, free the method's own buffers. */
  release?(rt: GpuRuntime): Promise<void>;
}

export class FactoredRun implements MethodRun {
  readonly adapters: ReadonlyMap<string, LinearAdapter>;
  readonly beforeOptimizerStep?: (rt: GpuRuntime, step: number, totalSteps: number) => void;
  readonly baseChange?: () => LowRankDelta[];
  private released = false;

  constructor(
    readonly method: string,
    readonly entries: FactoredEntry[],
    private readonly lora: LoraSettings,
    private readonly hooks: FactoredRunHooks = {},
  ) {
    this.adapters = new Map(entries.map((e) => [e.linear.spec.modulePath, e.layer]));
    if (hooks.beforeOptimizerStep) this.beforeOptimizerStep = hooks.beforeOptimizerStep;
    if (hooks.baseChange) this.baseChange = hooks.baseChange;
  }

  params(): TrainableParam[] {
    return this.entries.flatMap((e) => e.layer.params());
  }

  parameterCount(): number {
    return this.entries.reduce((n, e) => n + e.layer.parameterCount(), 0);
  }

  async deltas(rt: GpuRuntime): Promise<LowRankDelta[]> {
    const out: LowRankDelta[] = [];
    for (const e of this.entries) {
      const p = await e.layer.product(rt);
      out.push(this.hooks.delta ? this.hooks.delta(e, p) : { linear: e.linear.spec, k: p.k, B: p.B, A: p.A, scaling: 1 });
    }
    return out;
  }

  async exportAdapter(rt: GpuRuntime, base: Checkpoint, baseModelNameOrPath: string): Promise<AdapterFiles> {
    return exportDeltasAsLora(await this.deltas(rt), { baseModelNameOrPath, base, targets: this.lora.targets, dropout: this.lora.dropout });
  }

  async release(rt: GpuRuntime): Promise<void> {
    if (this.released) return;
    this.released = true;
    detachAndRelease(rt, this.entries);
    await this.hooks.release?.(rt);
  }
}
