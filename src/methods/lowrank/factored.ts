/**
 * A factored low-rank adapter at one linear layer, the shape shared by the SVD family:
 *
 *   y += s · core(drop(x) Aᵀ) Bᵀ,   A [k, in], B [out, k], core one of
 *     'none'    h2 = h                       (plain LoRA shape; PiSSA-like methods)
 *     'diag'    h2 = h ⊙ d,   d [k]          (SVFit Δσ, SORSA Σ, AdaLoRA Λ)
 *     'square'  h2 = h Rᵀ,    R [k, k]       (LoRA-XS, LoRA-SB)
 *
 * so ΔW = s · B core A with core = diag(d) or R. Each of A, core and B is trainable or frozen: a frozen factor
 * has no gradient buffer and its gradient product is skipped; dx is always computed (layers below still train).
 * The down- and up-projections and dx reuse LoRA's skinny kernels (src/gpu/ops/lora.ts); dropout is LoRA's
 * (PEFT nn.Dropout on x before A) with the same per-layer salt scheme.
 *
 * Backward, with dh2 = s · dy B:
 *   dB += s · dyᵀ h2;   dd += colsum(h ⊙ dh2), dh = dh2 ⊙ d;   dR += dh2ᵀ h, dh = dh2 R;   dA += dhᵀ drop(x);
 *   dx += drop'(dh A).
 * h and h2 are saved by forward for backward (the engine runs a layer's backward after its forward).
 */
import { diagGrad, diagScale } from '../../gpu/ops/lowrank_core';
import { loraDh, loraDown, loraDx, loraGradA, loraGradB, loraUp, type LoraDropout } from '../../gpu/ops/lora';
import { matmul } from '../../gpu/ops/matmul';
import type { GpuRuntime } from '../../gpu/runtime';
import { type GpuTensor, view } from '../../gpu/tensor';
import type { LinearSpec } from '../../model/spec';
import type { LinearAdapter, PassContext, TrainableParam } from '../types';

export type CoreKind = 'none' | 'diag' | 'square';
export type FactorName = 'A' | 'core' | 'B';

export interface FactoredLayerOptions {
  linear: LinearSpec;
  k: number;
  core: CoreKind;
  /** s, multiplies the adapter's output */
  scale: number;
  /** PEFT lora_dropout on x, 0 ≤ p < 1 */
  dropout: number;
  /** Mixed into the pass seed so every layer draws its own dropout mask (LoRA uses layer index + 1). */
  salt: number;
  /** A [k, in], B [out, k], core [k] (diag) or [k, k] (square; R row-major, h2 = h Rᵀ). */
  init: { A: Float32Array; B: Float32Array; core?: Float32Array };
  /** Which factors train; a core of kind 'none' never does. */
  trainable: { A: boolean; core: boolean; B: boolean };
  /** Tensor names (PEFT-style keys) of the factors; only trainable ones are reported by params(). */
  names: { A: string; B: string; core?: string };
  /** Whether AdamW's decoupled weight decay applies, per factor (default true). */
  decay?: Partial<Record<FactorName, boolean>>;
}

interface Scratch {
  h: GpuTensor;
  h2: GpuTensor;
  dh2: GpuTensor;
  dh: GpuTensor;
}

export class FactoredLayer implements LinearAdapter {
  readonly linear: LinearSpec;
  readonly k: number;
  readonly coreKind: CoreKind;
  readonly scale: number;
  readonly dropout: number;
  /** [k, in] */
  readonly A: GpuTensor;
  /** [out, k] */
  readonly B: GpuTensor;
  /** [k] (diag) or [k, k] (square); null for 'none' */
  readonly core: GpuTensor | null;
  private readonly grads: Partial<Record<FactorName, GpuTensor>> = {};
  private readonly opts: FactoredLayerOptions;
  /** [rows, k] activations of the last forward and their gradients, grown to the largest token count seen. */
  private buffers: { h: GpuTensor; h2: GpuTensor | null; dh2: GpuTensor; dh: GpuTensor | null; rows: number } | null = null;
  /** Outgrown scratch buffers, freed on release (a recorded dispatch may still use them until then). */
  private retired: GpuTensor[] = [];
  private released = false;

  constructor(rt: GpuRuntime, o: FactoredLayerOptions) {
    const { inFeatures: K, outFeatures: N, modulePath } = o.linear;
    const k = o.k;
    if (!Number.isInteger(k) || k < 1) throw new Error(`${modulePath}: factored adapter rank ${k} must be a positive integer`);
    if (!Number.isFinite(o.scale)) throw new Error(`${modulePath}: scale ${o.scale} is not finite`);
    if (!(o.dropout >= 0 && o.dropout < 1)) throw new Error(`${modulePath}: dropout ${o.dropout} must be in [0, 1)`);
    expectLength(modulePath, 'A', o.init.A, k * K, `[${k}, ${K}]`);
    expectLength(modulePath, 'B', o.init.B, N * k, `[${N}, ${k}]`);
    const coreShape = o.core === 'diag' ? [k] : o.core === 'square' ? [k, k] : null;
    if (coreShape) {
      if (!o.init.core) throw new Error(`${modulePath}: a ${o.core} core needs initial values`);
      expectLength(modulePath, 'core', o.init.core, coreShape.reduce((a, b) => a * b, 1), `[${coreShape.join(', ')}]`);
      if (!o.names.core) throw new Error(`${modulePath}: a ${o.core} core needs a name`);
    }
    this.opts = o;
    this.linear = o.linear;
    this.k = k;
    this.coreKind = o.core;
    this.scale = o.scale;
    this.dropout = o.dropout;
    this.A = rt.upload(o.names.A, [k, K], o.init.A);
    this.B = rt.upload(o.names.B, [N, k], o.init.B);
    this.core = coreShape && o.init.core ? rt.upload(o.names.core ?? 'core', coreShape, o.init.core) : null;
    if (o.trainable.A) this.grads.A = rt.tensor(`grad ${o.names.A}`, [k, K]);
    if (o.trainable.B) this.grads.B = rt.tensor(`grad ${o.names.B}`, [N, k]);
    if (o.trainable.core && coreShape) this.grads.core = rt.tensor(`grad ${o.names.core ?? 'core'}`, coreShape);
  }

  private drop(ctx: PassContext): LoraDropout | undefined {
    return ctx.training && this.dropout > 0 ? { p: this.dropout, seed: (ctx.seed ^ Math.imul(this.opts.salt, 0x9e3779b1)) >>> 0 } : undefined;
  }

  private scratch(rt: GpuRuntime, M: number): Scratch {
    const k = this.k;
    if (!this.buffers || this.buffers.rows < M) {
      // Not destroyed now: a recorded, unsubmitted dispatch may still use the old buffers.
      const old = this.buffers;
      if (old) for (const t of [old.h, old.h2, old.dh2, old.dh]) if (t) this.retired.push(t);
      const p = this.linear.modulePath;
      const withCore = this.coreKind !== 'none';
      this.buffers = {
        h: rt.tensor(`${p}.factored_h`, [M, k]),
        h2: withCore ? rt.tensor(`${p}.factored_h2`, [M, k]) : null,
        dh2: rt.tensor(`${p}.factored_dh2`, [M, k]),
        dh: withCore ? rt.tensor(`${p}.factored_dh`, [M, k]) : null,
        rows: M,
      };
    }
    const b = this.buffers;
    const h = view(b.h, [M, k]);
    const dh2 = view(b.dh2, [M, k]);
    // Without a core, h2 is h and dh is dh2.
    return { h, h2: b.h2 ? view(b.h2, [M, k]) : h, dh2, dh: b.dh ? view(b.dh, [M, k]) : dh2 };
  }

  forward(rt: GpuRuntime, x: GpuTensor, y: GpuTensor, M: number, ctx: PassContext): void {
    this.expectLive();
    const { inFeatures: K, outFeatures: N } = this.linear;
    const k = this.k;
    const s = this.scratch(rt, M);
    loraDown(rt, { h: s.h, x, A: this.A, M, K, r: k, dropout: this.drop(ctx) });
    if (this.coreKind === 'diag' && this.core) diagScale(rt, { out: s.h2, h: s.h, d: this.core, M, k });
    if (this.coreKind === 'square' && this.core) matmul(rt, { out: s.h2, a: s.h, b: this.core, M, N: k, K: k, transB: true });
    loraUp(rt, { y, h: s.h2, B: this.B, M, N, r: k, scale: this.scale });
  }

  backward(rt: GpuRuntime, x: GpuTensor, dy: GpuTensor, dx: GpuTensor, M: number, ctx: PassContext): void {
    this.expectLive();
    const { inFeatures: K, outFeatures: N } = this.linear;
    const k = this.k;
    const s = this.scratch(rt, M);
    const { A: dA, B: dB, core: dCore } = this.grads;
    if (dB) loraGradB(rt, { dB, dy, h: s.h2, M, N, r: k, scale: this.scale });
    loraDh(rt, { dh: s.dh2, dy, B: this.B, M, N, r: k, scale: this.scale });
    if (this.coreKind === 'diag' && this.core) {
      if (dCore) diagGrad(rt, { dd: dCore, h: s.h, dh2: s.dh2, M, k });
      diagScale(rt, { out: s.dh, h: s.dh2, d: this.core, M, k });
    } else if (this.coreKind === 'square' && this.core) {
      // dR [k, k] += dh2ᵀ h (reduced over the M tokens); dh = dh2 R.
      if (dCore) matmul(rt, { out: dCore, a: s.dh2, b: s.h, M: k, N: k, K: M, transA: true, accumulate: true });
      matmul(rt, { out: s.dh, a: s.dh2, b: this.core, M, N: k, K: k });
    }
    const dropout = this.drop(ctx);
    if (dA) loraGradA(rt, { dA, dh: s.dh, x, M, K, r: k, dropout });
    loraDx(rt, { dx, dh: s.dh, A: this.A, M, K, r: k, dropout });
  }

  params(): TrainableParam[] {
    const out: TrainableParam[] = [];
    const names = this.opts.names;
    const decay = (f: FactorName): boolean => this.opts.decay?.[f] ?? true;
    if (this.grads.A) out.push({ name: names.A, value: this.A, grad: this.grads.A, decay: decay('A') });
    if (this.grads.core && this.core) out.push({ name: names.core ?? 'core', value: this.core, grad: this.grads.core, decay: decay('core') });
    if (this.grads.B) out.push({ name: names.B, value: this.B, grad: this.grads.B, decay: decay('B') });
    return out;
  }

  /** Trainable element count. */
  parameterCount(): number {
    const { inFeatures: K, outFeatures: N } = this.linear;
    const k = this.k;
    const coreSize = this.coreKind === 'diag' ? k : this.coreKind === 'square' ? k * k : 0;
    return (this.grads.A ? k * K : 0) + (this.grads.core ? coreSize : 0) + (this.grads.B ? N * k : 0);
  }

  /** The gradient buffer of a trainable factor (regularisers add to it), undefined when frozen. */
  grad(which: FactorName): GpuTensor | undefined {
    return this.grads[which];
  }

  /** Current values: A [k, in], B [out, k], core [k] or [k, k] (absent for 'none'). */
  async values(rt: GpuRuntime): Promise<{ A: Float32Array; B: Float32Array; core?: Float32Array }> {
    this.expectLive();
    const A = await rt.read(this.A);
    const B = await rt.read(this.B);
    const core = this.core ? await rt.read(this.core) : undefined;
    return { A, B, core };
  }

  /**
   * ΔW = s · B core A as two factors: Bc [out, k] = s · B core (folded on the CPU: k is small) and A [k, in].
   * In nn.Linear orientation, whatever the base weight's storage layout.
   */
  async product(rt: GpuRuntime): Promise<{ B: Float32Array; A: Float32Array; k: number }> {
    const v = await this.values(rt);
    return { B: foldCore(v.B, v.core, this.coreKind, this.linear.outFeatures, this.k, this.scale), A: v.A, k: this.k };
  }

  release(rt: GpuRuntime): void {
    if (this.released) return;
    this.released = true;
    const b = this.buffers;
    const all = [this.A, this.B, this.core, ...Object.values(this.grads), b?.h, b?.h2, b?.dh2, b?.dh, ...this.retired];
    for (const t of all) if (t) rt.release(t);
    this.buffers = null;
    this.retired = [];
  }

  private expectLive(): void {
    if (this.released) throw new Error(`${this.linear.modulePath}: factored adapter used after release`);
  }
}

/** s · B core in float64, rounded to f32: [out, k]. */
export function foldCore(B: Float32Array, core: Float32Array | undefined, kind: CoreKind, out: number, k: number, scale: number): Float32Array {
  const res = new Float32Array(out * k);
  for (let o = 0; o < out; o++) {
    for (let j = 0; j < k; j++) {
      let v: number;
      if (kind === 'diag' && core) v = B[o * k + j] * core[j];
      else if (kind === 'square' && core) {
        v = 0;
        for (let i = 0; i < k; i++) v += B[o * k + i] * core[i * k + j];
      } else v = B[o * k + j];
      res[o * k + j] = scale * v;
    }
  }
  return res;
}

function expectLength(modulePath: string, what: string, data: Float32Array, n: number, shape: string): void {
  if (data.length !== n) throw new Error(`${modulePath}: initial ${what} has ${data.length} values, expected ${shape}`);
}
