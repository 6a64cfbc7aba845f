/**
 * An adapter loaded from disk in a format other than LoRA (IA3, SHiRA, webpeft delta), applied as frozen
 * adapters. It re-exports as a webpeft delta and merges like a trained run, so `export --adapter` and
 * `logits --adapter` work for every format.
 */
import type { Checkpoint } from '../../formats/checkpoint';
import type { TensorEdit } from '../../formats/webpeftDelta';
import type { GpuRuntime } from '../../gpu/runtime';
import type { AdapterFiles } from '../../run/api';
import { deltaAdapterFiles } from '../common/deltaFiles';
import type { LowRankDelta, MethodEdits, MethodRun } from '../method';
import type { LinearAdapter, TrainableParam } from '../types';
import type { AppliedEdits } from './fromEdits';

export class LoadedRun implements MethodRun {
  readonly adapters = new Map<string, LinearAdapter>();

  constructor(
    readonly method: string,
    private readonly applied: AppliedEdits,
    private readonly fileEdits: TensorEdit[],
    private readonly configPatch: Record<string, unknown>,
    private readonly lowRank: LowRankDelta[],
  ) {
    for (const { linear, adapter } of applied.attached) this.adapters.set(linear.spec.modulePath, adapter);
  }

  params(): TrainableParam[] {
    return [];
  }

  parameterCount(): number {
    return 0;
  }

  async deltas(): Promise<LowRankDelta[]> {
    return this.lowRank;
  }

  async edits(): Promise<MethodEdits> {
    return { edits: this.fileEdits.filter((e) => e.kind !== 'lowrank_add'), configPatch: { ...this.configPatch } };
  }

  async exportAdapter(_rt: GpuRuntime, _base: Checkpoint, baseModelNameOrPath: string): Promise<AdapterFiles> {
    return deltaAdapterFiles({ method: this.method, baseModelNameOrPath, configPatch: this.configPatch, edits: this.fileEdits });
  }

  setEnabled(enabled: boolean): void {
    for (const n of this.applied.norms) {
      if (enabled) n.install();
      else n.uninstall();
    }
  }

  async release(rt: GpuRuntime): Promise<void> {
    for (const { linear, adapter } of this.applied.attached) {
      const i = linear.adapters.indexOf(adapter);
      if (i >= 0) linear.adapters.splice(i, 1);
      adapter.release(rt);
    }
    for (const n of this.applied.norms) n.release();
  }
}
