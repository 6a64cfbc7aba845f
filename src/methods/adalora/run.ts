/**
 * An AdaLoRA run: PEFT's SVD-parametrised layers (FactoredLayer with a diagonal core E), the orthogonal
 * regulariser before each optimizer step, the RankAllocator after it, and the export.
 *
 * Export as plain LoRA, not peft_type ADALORA. PEFT's AdaLoRA load path needs total_step in the config (it raises
 * without it) and a rank_pattern of per-triplet booleans tied to its own key names, and it re-creates layers of
 * rank init_r before masking; a LoRA adapter with rank_pattern loads in every PEFT version and everywhere else
 * LoRA loads. Each layer exports its kept triplets only (E ≠ 0, which after a masking step is exactly the mask):
 * lora_A = (A ⊙ E)[kept] [k_l, in], lora_B = B[:, kept] [out, k_l], scaling lora_alpha / (init_r + 1e-5)
 * unchanged (ranknum stays init_r in PEFT), so exportDeltasAsLora writes alpha_l = scaling · k_l. ΔW is exactly
 * the run's; layers with nothing kept are left out.
 */
import type { Checkpoint } from '../../formats/checkpoint';
import type { Linear } from '../../engine/linear';
import { orthRegGrad } from '../../gpu/ops/orthreg';
import type { GpuRuntime } from '../../gpu/runtime';
import type { GpuTensor } from '../../gpu/tensor';
import type { AdapterFiles } from '../../run/api';
import { exportDeltasAsLora } from '../lowrank/export';
import type { FactoredLayer } from '../lowrank/factored';
import type { LowRankDelta, MethodRun } from '../method';
import type { LinearAdapter, TrainableParam } from '../types';
import type { RankAllocator } from './allocator';
import type { AdaloraConfig } from './config';
import { detachAndRelease } from '../common/detach';

export interface AdaloraEntry {
  linear: Linear;
  layer: FactoredLayer;
}

export class AdaloraRun implements MethodRun {
  readonly method = 'adalora';
  readonly adapters: ReadonlyMap<string, LinearAdapter>;
  private released = false;

  constructor(
    readonly entries: readonly AdaloraEntry[],
    readonly config: AdaloraConfig,
    readonly allocator: RankAllocator,
    /** [init_r, init_r] scratch of the orthogonal regulariser, shared by all its dispatches. */
    private readonly orthWork: GpuTensor,
  ) {
    this.adapters = new Map(entries.map((e) => [e.linear.spec.modulePath, e.layer]));
  }

  params(): TrainableParam[] {
    return this.entries.flatMap((e) => e.layer.params());
  }

  parameterCount(): number {
    return this.entries.reduce((n, e) => n + e.layer.parameterCount(), 0);
  }

  /**
   * PEFT's AdaLoraModel.forward adds orth_reg_weight · mean over every lora_A and lora_B P of ‖P Pᵀ − I‖_F (lora_A)
   * or ‖PᵀP − I‖_F (lora_B), not squared, averaged over num_param = 2 × #layers: its gradient is added here once
   * per step (the loss reported by the engine does not include the regulariser's value).
   */
  beforeOptimizerStep(rt: GpuRuntime): void {
    const gamma = this.config.orthRegWeight / (2 * this.entries.length);
    const k = this.config.initR;
    for (const { layer } of this.entries) {
      const { inFeatures, outFeatures, modulePath } = layer.linear;
      const dA = layer.grad('A');
      const dB = layer.grad('B');
      if (!dA || !dB) throw new Error(`AdaLoRA: ${modulePath} has no gradient for lora_A or lora_B`);
      orthRegGrad(rt, { X: layer.A, grad: dA, work: this.orthWork, axis: 'rows', mode: 'norm', k, n: inFeatures, gamma });
      orthRegGrad(rt, { X: layer.B, grad: dB, work: this.orthWork, axis: 'cols', mode: 'norm', k, n: outFeatures, gamma });
    }
  }

  /** PEFT's update_and_allocate(global_step) after optimizer.step(), global_step = the 0-based step index. */
  async afterOptimizerStep(rt: GpuRuntime, step: number): Promise<void> {
    await this.allocator.step(rt, step);
  }

  async deltas(rt: GpuRuntime): Promise<LowRankDelta[]> {
    const out: LowRankDelta[] = [];
    for (const { layer } of this.entries) out.push(keptTriplets(layer, await layer.values(rt)));
    return out;
  }

  async exportAdapter(rt: GpuRuntime, base: Checkpoint, baseModelNameOrPath: string): Promise<AdapterFiles> {
    return exportDeltasAsLora(await this.deltas(rt), { baseModelNameOrPath, base, targets: this.config.targets, dropout: this.config.dropout });
  }

  async release(rt: GpuRuntime): Promise<void> {
    if (this.released) return;
    this.released = true;
    detachAndRelease(rt, this.entries);
    this.allocator.release(rt);
    rt.release(this.orthWork);
  }
}

/** ΔW = s · B diag(E) A restricted to the triplets with E ≠ 0: A' = (A ⊙ E)[kept], B' = B[:, kept]. */
export function keptTriplets(layer: FactoredLayer, v: { A: Float32Array; B: Float32Array; core?: Float32Array }): LowRankDelta {
  const { inFeatures: n, outFeatures: m } = layer.linear;
  const k = layer.k;
  const E = v.core as Float32Array;
  const kept = Array.from({ length: k }, (_, j) => j).filter((j) => E[j] !== 0);
  const A = new Float32Array(kept.length * n);
  const B = new Float32Array(m * kept.length);
  kept.forEach((j, r) => {
    for (let i = 0; i < n; i++) A[r * n + i] = v.A[j * n + i] * E[j];
    for (let o = 0; o < m; o++) B[o * kept.length + r] = v.B[o * k + j];
  });
  return { linear: layer.linear, k: kept.length, A, B, scaling: layer.scale };
}
