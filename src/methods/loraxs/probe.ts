/**
 * A parameter-free adapter that accumulates a layer's full-weight gradient during calibration passes (LoRA-SB's
 * init): G [out, in] += alpha · dyᵀ x, the gradient of the loss with respect to W in nn.Linear orientation
 * (y = x Wᵀ ⇒ ∂L/∂W = dyᵀ x), whatever the base buffer's storage layout. It adds nothing to y or dx.
 */
import { matmul } from '../../gpu/ops/matmul';
import type { GpuRuntime } from '../../gpu/runtime';
import type { GpuTensor } from '../../gpu/tensor';
import type { LinearSpec } from '../../model/spec';
import type { LinearAdapter, TrainableParam } from '../types';

export class GradientProbe implements LinearAdapter {
  /** No parameters, but the backward pass must reach this layer. */
  readonly needsBackward = true;
  /** [out, in] */
  readonly G: GpuTensor;

  constructor(
    rt: GpuRuntime,
    readonly linear: LinearSpec,
    /** Multiplies every batch's dyᵀ x, e.g. −1 / batches for the negative mean gradient. */
    private readonly alpha: number,
  ) {
    if (!Number.isFinite(alpha)) throw new Error(`${linear.modulePath}: gradient probe scale ${alpha} is not finite`);
    this.G = rt.tensor(`${linear.modulePath} gradient probe [out, in]`, [linear.outFeatures, linear.inFeatures]);
  }

  forward(): void {
    // The probe only watches the backward pass.
  }

  backward(rt: GpuRuntime, x: GpuTensor, dy: GpuTensor, _dx: GpuTensor, M: number): void {
    const { inFeatures: K, outFeatures: N } = this.linear;
    matmul(rt, { out: this.G, a: dy, b: x, M: N, N: K, K: M, transA: true, accumulate: true, alpha: this.alpha });
  }

  params(): TrainableParam[] {
    return [];
  }
}
