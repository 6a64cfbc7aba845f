/**
 * PEFT's RankAllocator on the GPU. Per layer, EMA states [2, n] of lora_A, lora_E and lora_B stay on the GPU and
 * are updated from the parameters and their gradients after each optimizer step; on a masking step the triplet
 * scores of all layers (#layers × init_r floats) are the only readback: the threshold is chosen on the CPU
 * (schedule.ts) and the keep flags go back up for one masking dispatch per layer.
 *
 * Gradients are the ones AdamW just used, orthogonal-regulariser term included (PEFT's p.grad after
 * loss.backward() of a loss that contains it). Unlike a HF Trainer run they are not clipped in place: our AdamW
 * applies the clip factor inside its update and leaves the buffers as they are.
 */
import { fill } from '../../gpu/ops/elementwise';
import { adaloraImportance, adaloraMaskCore, adaloraTripletScores } from '../../gpu/ops/adalora';
import type { GpuRuntime } from '../../gpu/runtime';
import type { GpuTensor } from '../../gpu/tensor';
import type { FactoredLayer, FactorName } from '../lowrank/factored';
import type { AdaloraConfig } from './config';
import { type Budgets, allocatorAction, keepMask } from './schedule';

const FACTORS: readonly FactorName[] = ['A', 'core', 'B'];

interface Tracked {
  layer: FactoredLayer;
  /** Position of this layer's ranks in the scores / keep vectors. */
  offset: number;
  /** [2, n] per factor: exp_avg_ipt then exp_avg_unc. */
  state: Record<FactorName, GpuTensor>;
}

export class RankAllocator {
  readonly budgets: Budgets;
  private readonly tracked: Tracked[];
  /** [#layers · init_r] */
  private readonly scores: GpuTensor;
  private readonly keep: GpuTensor;
  /** The last mask chosen (PEFT's rank_pattern), 1 = kept; all ones before the first masking step. */
  private keepHost: Float32Array;
  private finalKeep: Float32Array | null = null;

  constructor(
    rt: GpuRuntime,
    private readonly cfg: AdaloraConfig,
    layers: readonly FactoredLayer[],
  ) {
    const k = cfg.initR;
    this.tracked = layers.map((layer, i) => {
      if (layer.k !== k || layer.coreKind !== 'diag' || !layer.core) throw new Error(`AdaLoRA: ${layer.linear.modulePath} is not a rank-${k} diagonal-core layer`);
      const size = { A: k * layer.linear.inFeatures, core: k, B: layer.linear.outFeatures * k };
      const state = Object.fromEntries(FACTORS.map((f) => [f, rt.tensor(`adalora.ema ${f} ${layer.linear.modulePath}`, [2, size[f]])])) as Record<FactorName, GpuTensor>;
      return { layer, offset: i * k, state };
    });
    this.budgets = { init: k * layers.length, target: cfg.targetR * layers.length };
    this.scores = rt.tensor('adalora.scores', [k * layers.length]);
    this.keep = rt.tensor('adalora.keep', [k * layers.length]);
    this.keepHost = new Float32Array(k * layers.length).fill(1);
  }

  /** PEFT's rank_pattern: per layer, which of its init_r triplets the last mask kept. */
  rankPattern(): Map<string, boolean[]> {
    const k = this.cfg.initR;
    return new Map(this.tracked.map((t) => [t.layer.linear.modulePath, Array.from(this.keepHost.subarray(t.offset, t.offset + k), (v) => v !== 0)]));
  }

  /** One step of PEFT's update_and_allocate, `step` being the 0-based index of the step just taken. */
  async step(rt: GpuRuntime, step: number): Promise<void> {
    const action = allocatorAction(this.cfg, this.budgets, step);
    if (action.kind === 'update') {
      this.updateImportance(rt);
      if (action.mask) await this.maskToBudget(rt, action.budget);
    } else if (action.kind === 'final') {
      await this.maskToBudget(rt, action.budget);
      this.finalKeep = this.keepHost;
      for (const t of this.tracked) for (const f of FACTORS) fill(rt, t.state[f], 0); // PEFT's reset_ipt
    } else {
      if (!this.finalKeep) throw new Error('AdaLoRA: no final mask to hold (the final allocation step was skipped)');
      this.applyMask(rt, this.finalKeep);
    }
    rt.flush();
  }

  /** PEFT's update_ipt for every factor of every layer. */
  updateImportance(rt: GpuRuntime): void {
    for (const t of this.tracked) {
      for (const f of FACTORS) {
        const value = f === 'core' ? t.layer.core : f === 'A' ? t.layer.A : t.layer.B;
        const grad = t.layer.grad(f);
        if (!value || !grad) throw new Error(`AdaLoRA: ${t.layer.linear.modulePath} has no trainable ${f}`);
        adaloraImportance(rt, { state: t.state[f], theta: value, grad, beta1: this.cfg.beta1, beta2: this.cfg.beta2 });
      }
    }
  }

  /** Triplet scores of every layer, read back: [#layers · init_r], layer-major. */
  async tripletScores(rt: GpuRuntime): Promise<Float32Array> {
    const { initR: k } = this.cfg;
    for (const t of this.tracked) {
      const { inFeatures: inF, outFeatures: outF } = t.layer.linear;
      adaloraTripletScores(rt, { scores: this.scores, offset: t.offset, stateA: t.state.A, stateE: t.state.core, stateB: t.state.B, k, inF, outF });
    }
    return rt.read(this.scores);
  }

  /** PEFT's mask_to_budget: prune the lowest-scoring triplets down to `budget` kept (ties prune more). */
  async maskToBudget(rt: GpuRuntime, budget: number): Promise<void> {
    const scores = await this.tripletScores(rt);
    this.keepHost = keepMask(scores, this.budgets, budget);
    this.applyMask(rt, this.keepHost);
  }

  private applyMask(rt: GpuRuntime, keep: Float32Array): void {
    // Lands before the next submit, i.e. before the dispatches below run.
    rt.write(this.keep, keep);
    for (const t of this.tracked) adaloraMaskCore(rt, { E: t.layer.core as GpuTensor, keep: this.keep, offset: t.offset, k: this.cfg.initR });
  }

  /** EMA states of one layer (tests compare them with a float64 re-implementation). */
  stateOf(modulePath: string): Record<FactorName, GpuTensor> | undefined {
    return this.tracked.find((t) => t.layer.linear.modulePath === modulePath)?.state;
  }

  release(rt: GpuRuntime): void {
    for (const t of this.tracked) for (const f of FACTORS) rt.release(t.state[f]);
    rt.release(this.scores);
    rt.release(this.keep);
  }
}
