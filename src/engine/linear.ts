/**
 * A frozen linear layer with its adapters. The base weight is only ever bound read-only; only adapters train.
 * nn.Linear stores W as [out, in] (y = x Wᵀ); GPT-2's Conv1D stores [in, out] (y = x W).
 */
import { matmul } from '../gpu/ops/matmul';
import type { GpuRuntime } from '../gpu/runtime';
import type { GpuTensor } from '../gpu/tensor';
import type { LinearSpec } from '../model/spec';
import type { LinearAdapter, PassContext } from '../methods/types';

export class Linear {
  readonly adapters: LinearAdapter[] = [];
  adaptersEnabled = true;

  constructor(
    readonly spec: LinearSpec,
    readonly weight: GpuTensor,
    readonly bias: GpuTensor | undefined,
  ) {}

  /** y[M, out] (=|+=) x[M, in] Wᵀ + b + adapters(x). */
  forward(rt: GpuRuntime, x: GpuTensor, y: GpuTensor, M: number, ctx: PassContext, accumulate = false): void {
    const { inFeatures: K, outFeatures: N, layout } = this.spec;
    matmul(rt, { out: y, a: x, b: this.weight, bias: this.bias, M, N, K, transB: layout === 'out_in', accumulate });
    if (this.adaptersEnabled) for (const a of this.adapters) a.forward(rt, x, y, M, ctx);
  }

  /** dx[M, in] (=|+=) dy[M, out] W, plus the adapters' parts; adapter parameter gradients accumulate. */
  backward(rt: GpuRuntime, x: GpuTensor, dy: GpuTensor, dx: GpuTensor, M: number, ctx: PassContext, accumulate = false): void {
    const { inFeatures: K, outFeatures: N, layout } = this.spec;
    matmul(rt, { out: dx, a: dy, b: this.weight, M, N: K, K: N, transB: layout === 'in_out', accumulate });
    if (this.adaptersEnabled) for (const a of this.adapters) a.backward(rt, x, dy, dx, M, ctx);
  }

  get trainable(): boolean {
    return this.adaptersEnabled && this.adapters.some((a) => a.params().length > 0 || a.needsBackward === true);
  }
}
