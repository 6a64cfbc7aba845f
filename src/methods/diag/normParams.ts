/**
 * A norm whose affine parameters train (norm-only tuning; BitFit's LayerNorm biases), or carry loaded values.
 * The frozen checkpoint tensors stay untouched: the norm is pointed at copies while installed and back at the
 * originals when uninstalled, so "without adapter" and release restore the original model exactly.
 */
import type { NormWeights } from '../../engine/weights';
import type { GpuRuntime } from '../../gpu/runtime';
import type { GpuTensor } from '../../gpu/tensor';
import type { TrainableParam } from '../types';

export interface NormValues {
  weight?: Float32Array;
  bias?: Float32Array;
}

export class NormParams {
  private readonly original: { weight: GpuTensor; bias?: GpuTensor };
  private readonly copies: { weight?: GpuTensor; bias?: GpuTensor } = {};
  private readonly grads: { weight?: GpuTensor; bias?: GpuTensor } = {};
  private installed = false;

  constructor(
    private readonly rt: GpuRuntime,
    readonly norm: NormWeights,
    parts: { weight: boolean; bias: boolean },
    /** Loaded values; absent: start from the checkpoint's own. */
    init: NormValues | undefined,
    readonly trainable: boolean,
  ) {
    this.original = { weight: norm.weight, bias: norm.bias };
    if (parts.bias && !norm.bias) throw new Error(`${norm.weightName}: this norm has no bias (RMSNorm), so its bias cannot train`);
    for (const part of ['weight', 'bias'] as const) {
      if (!parts[part]) continue;
      const src = this.original[part] as GpuTensor;
      const name = (part === 'weight' ? norm.weightName : norm.biasName) as string;
      const copy = rt.tensor(name, src.shape);
      const v = init?.[part];
      if (v) {
        if (v.length !== src.shape[0]) throw new Error(`${name}: ${v.length} values for a norm of width ${src.shape[0]}`);
        rt.write(copy, v);
      } else rt.copy(src, copy);
      this.copies[part] = copy;
      if (trainable) this.grads[part] = rt.tensor(`grad ${name}`, src.shape);
    }
    this.install();
  }

  install(): void {
    if (this.installed) return;
    if (this.copies.weight) this.norm.weight = this.copies.weight;
    if (this.copies.bias) this.norm.bias = this.copies.bias;
    if (this.trainable) this.norm.grad = { ...this.grads };
    this.installed = true;
  }

  uninstall(): void {
    if (!this.installed) return;
    this.norm.weight = this.original.weight;
    this.norm.bias = this.original.bias;
    delete this.norm.grad;
    this.installed = false;
  }

  params(): TrainableParam[] {
    const out: TrainableParam[] = [];
    for (const part of ['weight', 'bias'] as const) {
      const grad = this.grads[part];
      const value = this.copies[part];
      if (grad && value) out.push({ name: value.label, value, grad, decay: false });
    }
    return out;
  }

  /** New minus original value of each trained part, and the tensor names they belong to. */
  async deltas(): Promise<Array<{ tensor: string; delta: Float32Array }>> {
    const out: Array<{ tensor: string; delta: Float32Array }> = [];
    for (const part of ['weight', 'bias'] as const) {
      const copy = this.copies[part];
      if (!copy) continue;
      const now = await this.rt.read(copy);
      const was = await this.rt.read(this.original[part] as GpuTensor);
      out.push({ tensor: copy.label, delta: now.map((v, i) => v - was[i]) });
    }
    return out;
  }

  release(): void {
    this.uninstall();
    for (const t of [this.copies.weight, this.copies.bias, this.grads.weight, this.grads.bias]) if (t) this.rt.release(t);
  }
}
