/**
 * A LoRA run on a re-initialised base (PiSSA, MiLoRA, OLoRA): LoRA layers start at A0, B0 ≠ 0 and the base weight
 * holds the residual W − s·B0 A0, so the model starts equal to the base. Training is plain LoRA (the tested
 * LoraLayer path); only the bookkeeping differs:
 *   ΔW against the ORIGINAL weight = s·(B A − B0 A0) = s · [B, −B0] [A; A0], a rank-2r delta,
 * which is PEFT's conversion to a plain LoRA, and release puts the original weights back.
 */
import type { Checkpoint } from '../../formats/checkpoint';
import type { GpuRuntime } from '../../gpu/runtime';
import type { Linear } from '../../engine/linear';
import type { AdapterFiles } from '../../run/api';
import type { LoraLayer } from '../lora/layer';
import type { LowRankDelta, MethodRun } from '../method';
import type { LinearAdapter, TrainableParam } from '../types';
import { exportDeltasAsLora } from '../lowrank/export';
import { restoreOriginalWeight } from '../lowrank/baseWeights';

export interface ResidualLayer {
  linear: Linear;
  lora: LoraLayer;
  /** Initial factors (host copies): A0 [r, in], B0 [out, r]. */
  A0: Float32Array;
  B0: Float32Array;
}

export class ResidualLoraRun implements MethodRun {
  readonly adapters: ReadonlyMap<string, LinearAdapter>;
  private released = false;

  constructor(
    readonly method: string,
    readonly layers: readonly ResidualLayer[],
    private readonly checkpoint: Checkpoint,
    /** What the export needs from the settings: PEFT target_modules and lora_dropout. */
    private readonly settings: { targets: string[]; dropout: number },
  ) {
    this.adapters = new Map(layers.map((l) => [l.linear.spec.modulePath, l.lora]));
  }

  params(): TrainableParam[] {
    return this.layers.flatMap((l) => l.lora.params());
  }

  parameterCount(): number {
    return this.layers.reduce((n, l) => n + l.lora.r * (l.linear.spec.inFeatures + l.linear.spec.outFeatures), 0);
  }

  async deltas(rt: GpuRuntime): Promise<LowRankDelta[]> {
    const out: LowRankDelta[] = [];
    for (const l of this.layers) {
      const { r, scale } = l.lora;
      const { inFeatures: inF, outFeatures: outF } = l.linear.spec;
      const A = await rt.read(l.lora.A);
      const B = await rt.read(l.lora.B);
      const A2 = new Float32Array(2 * r * inF); // [A; A0]  [2r, in]
      A2.set(A, 0);
      A2.set(l.A0, r * inF);
      const B2 = new Float32Array(outF * 2 * r); // [B, −B0]  [out, 2r]
      for (let o = 0; o < outF; o++) {
        for (let i = 0; i < r; i++) {
          B2[o * 2 * r + i] = B[o * r + i];
          B2[o * 2 * r + r + i] = -l.B0[o * r + i];
        }
      }
      out.push({ linear: l.linear.spec, k: 2 * r, A: A2, B: B2, scaling: scale });
    }
    return out;
  }

  /** The base holds W − s·B0 A0: the change is −s·B0 A0. */
  baseChange(): LowRankDelta[] {
    return this.layers.map((l) => ({ linear: l.linear.spec, k: l.lora.r, B: l.B0.map((v) => -v), A: l.A0, scaling: l.lora.scale }));
  }

  async exportAdapter(rt: GpuRuntime, base: Checkpoint, baseModelNameOrPath: string): Promise<AdapterFiles> {
    return exportDeltasAsLora(await this.deltas(rt), { baseModelNameOrPath, base, targets: this.settings.targets, dropout: this.settings.dropout });
  }

  /** Detaches and frees the LoRA layers and writes the checkpoint's original weights back. */
  async release(rt: GpuRuntime): Promise<void> {
    if (this.released) return;
    this.released = true;
    await releaseResidualLayers(rt, this.layers, this.checkpoint);
  }
}

/** Undoes an attach, also a partial one that failed half-way. */
export async function releaseResidualLayers(rt: GpuRuntime, layers: readonly ResidualLayer[], checkpoint: Checkpoint): Promise<void> {
  for (const l of layers) {
    const at = l.linear.adapters.indexOf(l.lora);
    if (at >= 0) l.linear.adapters.splice(at, 1);
    await restoreOriginalWeight(rt, l.linear, checkpoint);
    l.lora.release(rt);
  }
  rt.flush();
}
