/**
 * A frozen linear layer with its adapters. The base weight is only ever bound read-only; only adapters train.
 * nn.Linear stores W as [out, in] (y = x Wᵀ); GPT-2's Conv1D stores [in, out] (y = x W).
 *
 * Most adapters add to the output (LoRA, sparse deltas, BitFit's bias). IA3 and SSF scale the base product's
 * input or output instead: such an adapter exposes a `wrap`, and the base matmul reads and writes through it.
 */
import { matmul } from '../gpu/ops/matmul';
import type { GpuRuntime } from '../gpu/runtime';
import type { GpuTensor } from '../gpu/tensor';
import type { LinearSpec } from '../model/spec';
import type { BaseWrap, LinearAdapter, PassContext } from '../methods/types';

export class Linear {
  readonly adapters: LinearAdapter[] = [];
  adaptersEnabled = true;

  constructor(
    readonly spec: LinearSpec,
    readonly weight: GpuTensor,
    readonly bias: GpuTensor | undefined,
  ) {}

  private get wrap(): BaseWrap | undefined {
    if (!this.adaptersEnabled) return undefined;
    const wraps = this.adapters.filter((a) => a.wrap);
    if (wraps.length > 1) throw new Error(`${this.spec.modulePath}: two adapters scale the same layer (IA3 and SSF cannot be stacked)`);
    return wraps[0]?.wrap;
  }

  /** y[M, out] (=|+=) x[M, in] Wᵀ + b + adapters(x). */
  forward(rt: GpuRuntime, x: GpuTensor, y: GpuTensor, M: number, ctx: PassContext, accumulate = false): void {
    const { inFeatures: K, outFeatures: N, layout } = this.spec;
    const wrap = this.wrap;
    const a = wrap ? wrap.input(rt, x, M) : x;
    const z = wrap ? wrap.output(rt, M) : null;
    matmul(rt, { out: z ?? y, a, b: this.weight, bias: this.bias, M, N, K, transB: layout === 'out_in', accumulate: z ? false : accumulate });
    if (wrap && z) wrap.finishForward(rt, z, y, M, accumulate);
    if (this.adaptersEnabled) for (const ad of this.adapters) ad.forward(rt, x, y, M, ctx);
  }

  /** dx[M, in] (=|+=) dy[M, out] W, plus the adapters' parts; adapter parameter gradients accumulate. */
  backward(rt: GpuRuntime, x: GpuTensor, dy: GpuTensor, dx: GpuTensor, M: number, ctx: PassContext, accumulate = false): void {
    const { inFeatures: K, outFeatures: N, layout } = this.spec;
    const wrap = this.wrap;
    const g = wrap ? wrap.outputGrad(rt, dy, M) : dy;
    const dxa = wrap ? wrap.inputGrad(rt, M) : null;
    matmul(rt, { out: dxa ?? dx, a: g, b: this.weight, M, N: K, K: N, transB: layout === 'in_out', accumulate: dxa ? false : accumulate });
    if (wrap && dxa) wrap.finishBackward(rt, x, dxa, dx, M, accumulate);
    if (this.adaptersEnabled) for (const ad of this.adapters) ad.backward(rt, x, dy, dx, M, ctx);
  }

  get trainable(): boolean {
    return this.adaptersEnabled && this.adapters.some((a) => a.params().length > 0 || a.needsBackward === true);
  }
}
