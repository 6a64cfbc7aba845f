/**
 * Per-channel affine adapter of one linear layer: y = s_out ⊙ ((x ⊙ s_in) Wᵀ + b) + β, each part optional.
 *   IA3 (PEFT): s_out for attention modules (ia3_l [out, 1]), s_in for feed-forward modules (ia3_l [1, in]).
 *   SSF: s_out and β (scale and shift the layer's output features).
 *   BitFit: β alone (a bias delta, also on layers that have no bias).
 * The scales wrap the base product (see BaseWrap in ../types.ts); β is an ordinary additive adapter.
 */
import { addColumns, columnSum, scaleColumns } from '../../gpu/ops/channel';
import { diagGrad } from '../../gpu/ops/lowrank_core';
import type { GpuRuntime } from '../../gpu/runtime';
import { type GpuTensor, view } from '../../gpu/tensor';
import type { LinearSpec } from '../../model/spec';
import type { BaseWrap, LinearAdapter, PassContext, TrainableParam } from '../types';

export interface ChannelAffineValues {
  /** [in] */
  inScale?: Float32Array;
  /** [out] */
  outScale?: Float32Array;
  /** [out] */
  shift?: Float32Array;
}

/** Parameter names (PEFT keys where PEFT has the method) of the parts present. */
export type ChannelAffineNames = { [K in keyof ChannelAffineValues]?: string };

type Part = keyof ChannelAffineValues;

export class ChannelAffineLayer implements LinearAdapter {
  private readonly value = new Map<Part, GpuTensor>();
  private readonly grad = new Map<Part, GpuTensor>();
  private readonly scratch = new Map<string, GpuTensor>();
  readonly wrap?: BaseWrap;

  constructor(
    rt: GpuRuntime,
    readonly linear: LinearSpec,
    init: ChannelAffineValues,
    private readonly names: ChannelAffineNames,
    /** False for an adapter loaded from a file to be applied, not trained. */
    readonly trainable: boolean,
  ) {
    const { inFeatures: K, outFeatures: N, modulePath } = linear;
    const sizes: Record<Part, number> = { inScale: K, outScale: N, shift: N };
    for (const part of ['inScale', 'outScale', 'shift'] as const) {
      const v = init[part];
      if (!v) continue;
      if (v.length !== sizes[part]) throw new Error(`${modulePath}: ${part} has ${v.length} values, the layer needs ${sizes[part]}`);
      this.value.set(part, rt.upload(names[part] ?? `${modulePath}.${part}`, [v.length], v));
      if (trainable) this.grad.set(part, rt.tensor(`grad ${names[part] ?? `${modulePath}.${part}`}`, [v.length]));
    }
    if (this.value.has('inScale') || this.value.has('outScale')) this.wrap = this.makeWrap();
  }

  /** A [M, n] scratch buffer, grown to the largest token count seen (old ones are dropped, not destroyed: a recorded dispatch may still use them). */
  private buffer(rt: GpuRuntime, key: string, M: number, n: number): GpuTensor {
    let t = this.scratch.get(key);
    if (!t || t.shape[0] < M) {
      t = rt.tensor(`${this.linear.modulePath}.${key}`, [M, n]);
      this.scratch.set(key, t);
    }
    return view(t, [M, n]);
  }

  private makeWrap(): BaseWrap {
    const { inFeatures: K, outFeatures: N } = this.linear;
    const sIn = this.value.get('inScale');
    const sOut = this.value.get('outScale');
    const dIn = this.grad.get('inScale');
    const dOut = this.grad.get('outScale');
    return {
      input: (rt, x, M) => {
        if (!sIn) return x;
        const xs = this.buffer(rt, 'ia3_x', M, K);
        scaleColumns(rt, { out: xs, a: x, v: sIn, M, n: K });
        return xs;
      },
      output: (rt, M) => (sOut ? this.buffer(rt, 'z', M, N) : null),
      finishForward: (rt, z, y, M, accumulate) => {
        if (sOut) scaleColumns(rt, { out: y, a: z, v: sOut, M, n: N, accumulate });
      },
      outputGrad: (rt, dy, M) => {
        if (!sOut) return dy;
        // ∂L/∂s_out = colsum(dy ⊙ z), with z the saved unscaled output; ∂L/∂z = dy ⊙ s_out.
        if (dOut) diagGrad(rt, { dd: dOut, h: this.buffer(rt, 'z', M, N), dh2: dy, M, k: N });
        const g = this.buffer(rt, 'gz', M, N);
        scaleColumns(rt, { out: g, a: dy, v: sOut, M, n: N });
        return g;
      },
      inputGrad: (rt, M) => (sIn ? this.buffer(rt, 'gx', M, K) : null),
      finishBackward: (rt, x, g, dx, M, accumulate) => {
        if (!sIn) return;
        if (dIn) diagGrad(rt, { dd: dIn, h: x, dh2: g, M, k: K });
        scaleColumns(rt, { out: dx, a: g, v: sIn, M, n: K, accumulate });
      },
    };
  }

  forward(rt: GpuRuntime, _x: GpuTensor, y: GpuTensor, M: number, _ctx: PassContext): void {
    const shift = this.value.get('shift');
    if (shift) addColumns(rt, { out: y, v: shift, M, n: this.linear.outFeatures });
  }

  backward(rt: GpuRuntime, _x: GpuTensor, dy: GpuTensor, _dx: GpuTensor, M: number, _ctx: PassContext): void {
    const d = this.grad.get('shift');
    if (d) columnSum(rt, { out: d, a: dy, M, n: this.linear.outFeatures });
  }

  params(): TrainableParam[] {
    const out: TrainableParam[] = [];
    // Scales start at 1 and shifts at 0: decaying them toward 0 would fight the identity, so no weight decay.
    for (const [part, grad] of this.grad) out.push({ name: this.names[part] ?? `${this.linear.modulePath}.${part}`, value: this.value.get(part) as GpuTensor, grad, decay: false });
    return out;
  }

  async values(rt: GpuRuntime): Promise<ChannelAffineValues> {
    const out: ChannelAffineValues = {};
    for (const [part, t] of this.value) out[part] = await rt.read(t);
    return out;
  }

  release(rt: GpuRuntime): void {
    for (const t of [...this.value.values(), ...this.grad.values(), ...this.scratch.values()]) rt.release(t);
    this.scratch.clear();
  }
}
