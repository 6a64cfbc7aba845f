/**
 * The LoRA adapter at one linear layer: y += s · (drop(x) Aᵀ) Bᵀ, with skinny kernels (r is never padded to a
 * matmul tile). The down-projection h = drop(x) Aᵀ is saved for the backward pass.
 */
import { loraDh, loraDown, loraDx, loraGradA, loraGradB, loraUp, type LoraDropout } from '../../gpu/ops/lora';
import { loraKey } from '../../formats/peft';
import type { GpuRuntime } from '../../gpu/runtime';
import { type GpuTensor, view } from '../../gpu/tensor';
import type { LinearSpec } from '../../model/spec';
import type { LinearAdapter, PassContext, TrainableParam } from '../types';


export class LoraLayer implements LinearAdapter {
  readonly A: GpuTensor;
  readonly B: GpuTensor;
  private readonly dA: GpuTensor;
  private readonly dB: GpuTensor;
  /** [rows, r] saved down-projection and its gradient, grown to the largest token count seen. */
  private h: GpuTensor | null = null;
  private dh: GpuTensor | null = null;

  constructor(
    rt: GpuRuntime,
    readonly linear: LinearSpec,
    readonly r: number,
    readonly scale: number,
    readonly dropout: number,
    /** Mixed into the pass seed so every layer draws its own dropout mask. */
    private readonly salt: number,
    init: { A: Float32Array; B: Float32Array },
  ) {
    const { inFeatures: K, outFeatures: N, modulePath } = linear;
    this.A = rt.upload(loraKey(modulePath, 'A'), [r, K], init.A); // [r, in]
    this.B = rt.upload(loraKey(modulePath, 'B'), [N, r], init.B); // [out, r]
    this.dA = rt.tensor(`grad ${modulePath}.lora_A`, [r, K]);
    this.dB = rt.tensor(`grad ${modulePath}.lora_B`, [N, r]);
  }

  private drop(ctx: PassContext): LoraDropout | undefined {
    return ctx.training && this.dropout > 0 ? { p: this.dropout, seed: (ctx.seed ^ Math.imul(this.salt, 0x9e3779b1)) >>> 0 } : undefined;
  }

  private scratch(rt: GpuRuntime, M: number): { h: GpuTensor; dh: GpuTensor } {
    if (!this.h || !this.dh || this.h.shape[0] < M) {
      // Not destroyed: a recorded, unsubmitted dispatch may still use the old buffers; they are dropped instead.
      this.h = rt.tensor(`${this.linear.modulePath}.lora_h`, [M, this.r]);
      this.dh = rt.tensor(`${this.linear.modulePath}.lora_dh`, [M, this.r]);
    }
    return { h: view(this.h, [M, this.r]), dh: view(this.dh, [M, this.r]) };
  }

  forward(rt: GpuRuntime, x: GpuTensor, y: GpuTensor, M: number, ctx: PassContext): void {
    const { inFeatures: K, outFeatures: N } = this.linear;
    const { h } = this.scratch(rt, M);
    loraDown(rt, { h, x, A: this.A, M, K, r: this.r, dropout: this.drop(ctx) });
    loraUp(rt, { y, h, B: this.B, M, N, r: this.r, scale: this.scale });
  }

  backward(rt: GpuRuntime, x: GpuTensor, dy: GpuTensor, dx: GpuTensor, M: number, ctx: PassContext): void {
    const { inFeatures: K, outFeatures: N } = this.linear;
    const r = this.r;
    const { h, dh } = this.scratch(rt, M);
    const dropout = this.drop(ctx);
    loraGradB(rt, { dB: this.dB, dy, h, M, N, r, scale: this.scale });
    loraDh(rt, { dh, dy, B: this.B, M, N, r, scale: this.scale });
    loraGradA(rt, { dA: this.dA, dh, x, M, K, r, dropout });
    loraDx(rt, { dx, dh, A: this.A, M, K, r, dropout });
  }

  params(): TrainableParam[] {
    const p = this.linear.modulePath;
    return [
      { name: loraKey(p, 'A'), value: this.A, grad: this.dA, decay: true },
      { name: loraKey(p, 'B'), value: this.B, grad: this.dB, decay: true },
    ];
  }

  release(rt: GpuRuntime): void {
    for (const t of [this.A, this.B, this.dA, this.dB, this.h, this.dh]) if (t) rt.release(t);
  }

  /** Gradients of A and B (for tests against PEFT's). */
  grads(): { A: GpuTensor; B: GpuTensor } {
    return { A: this.dA, B: this.dB };
  }
}
