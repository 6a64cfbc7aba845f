/**
 * AdamW over the adapters' parameters, with global gradient-norm clipping computed on the GPU: Σ g² of every
 * gradient into stats[0], the clip factor into stats[0] and the norm into stats[1], and AdamW reads the factor
 * from the buffer. Nothing is read back to decide the step, so the step never stalls.
 */
import { fill } from '../gpu/ops/elementwise';
import { adamw, clipScale } from '../gpu/ops/optimizer';
import { sumSquaresInto } from '../gpu/ops/reduce';
import type { GpuRuntime } from '../gpu/runtime';
import { type GpuTensor, numel } from '../gpu/tensor';
import type { TrainableParam } from '../methods/types';

export interface AdamWSettings {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  maxGradNorm: number;
}

/**
 * What a method may see of the optimizer: the moments of one of its parameters, so that a method that moves its
 * parameters (sparse fine-tuning re-selects its index set) can move their AdamW state with them.
 */
export interface OptimizerMoments {
  moments(param: TrainableParam): { m: GpuTensor; v: GpuTensor } | undefined;
}

export class AdamW implements OptimizerMoments {
  private readonly m: GpuTensor[];
  private readonly v: GpuTensor[];
  /** [2]: clip factor, gradient norm (before clipping). */
  readonly stats: GpuTensor;
  private t = 0;

  constructor(
    private readonly rt: GpuRuntime,
    private readonly params: TrainableParam[],
    private readonly s: AdamWSettings,
  ) {
    this.m = params.map((p) => rt.tensor(`adam.m ${p.name}`, p.value.shape));
    this.v = params.map((p) => rt.tensor(`adam.v ${p.name}`, p.value.shape));
    this.stats = rt.tensor('adam.stats', [2]);
  }

  moments(param: TrainableParam): { m: GpuTensor; v: GpuTensor } | undefined {
    const i = this.params.indexOf(param);
    return i < 0 ? undefined : { m: this.m[i], v: this.v[i] };
  }

  zeroGrad(): void {
    for (const p of this.params) fill(this.rt, p.grad, 0);
  }

  /** Records clipping and one AdamW update of every parameter at learning rate lr. */
  step(lr: number): void {
    const { rt, s } = this;
    this.t++;
    this.params.forEach((p, i) => sumSquaresInto(rt, { out: this.stats, index: 0, x: p.grad, n: numel(p.grad.shape), accumulate: i > 0 }));
    clipScale(rt, { stats: this.stats, maxNorm: s.maxGradNorm });
    this.params.forEach((p, i) =>
      adamw(rt, {
        param: p.value,
        grad: p.grad,
        m: this.m[i],
        v: this.v[i],
        n: numel(p.value.shape),
        lr,
        beta1: s.beta1,
        beta2: s.beta2,
        eps: s.eps,
        weightDecay: p.decay ? s.weightDecay : 0,
        step: this.t,
        gradScale: this.stats,
      }),
    );
  }

  release(): void {
    for (const t of [...this.m, ...this.v, this.stats]) this.rt.release(t);
  }
}
