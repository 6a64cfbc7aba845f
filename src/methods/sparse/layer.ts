/**
 * The sparse delta of one linear layer: y += x Δᵀ with Δ held as its kept entries only (indices + values), so
 * memory grows with the entries kept, never with the layer. Backward computes the kept values' gradient as a
 * sampled dense-dense product and dx through the same entries. A layer may also collect the gradient of a
 * candidate set (entries it does not keep) for regrowth: Σ over the interval's micro-batches, per candidate.
 */
import { scatterAdd, sparseDx, sparseForward, sparseValueGrad } from '../../gpu/ops/sparse';
import { type SparseEntries, type SparseIndex, buildSparseIndex, releaseSparseIndex, uploadSparseIndex } from '../../gpu/ops/sparseIndex';
import type { GpuRuntime } from '../../gpu/runtime';
import type { GpuTensor } from '../../gpu/tensor';
import type { LinearSpec } from '../../model/spec';
import type { LinearAdapter, PassContext, TrainableParam } from '../types';

export interface Candidates {
  /** Sorted flat indices o · in + i of the candidates (none of them kept). */
  flat: Uint32Array;
  entries: SparseEntries;
  /** f32 [C]: Σ of each candidate's gradient since the candidates were drawn. */
  acc: GpuTensor;
}

export class SparseLayer implements LinearAdapter {
  /** Sorted flat indices o · in + i (nn.Linear orientation) of the kept entries; the host copy of the index. */
  flat: Uint32Array;
  private index: SparseIndex;
  readonly values: GpuTensor;
  private readonly grad: GpuTensor | null;
  private readonly param: TrainableParam | null;
  candidates: Candidates | null = null;
  /** u32 [nnz] flat indices on the GPU, for scattering Δ into a dense matrix (SaRA's regulariser); made on demand. */
  private flatTensor: GpuTensor | null = null;

  constructor(
    private readonly rt: GpuRuntime,
    readonly linear: LinearSpec,
    flat: Uint32Array,
    init: Float32Array | undefined,
    /** Parameter name (PEFT's shira_weight key where the export is SHiRA). */
    readonly name: string,
    readonly trainable: boolean,
  ) {
    this.flat = flat;
    this.index = this.upload(flat);
    if (init && init.length !== flat.length) throw new Error(`${linear.modulePath}: ${init.length} sparse values for ${flat.length} indices`);
    this.values = init ? rt.upload(name, [flat.length], init) : rt.tensor(name, [flat.length]);
    this.grad = trainable ? rt.tensor(`grad ${name}`, [flat.length]) : null;
    // One TrainableParam object for the run's life: the optimizer keys its moments by it.
    this.param = this.grad ? { name, value: this.values, grad: this.grad, decay: true } : null;
  }

  get nnz(): number {
    return this.flat.length;
  }

  private upload(flat: Uint32Array): SparseIndex {
    const { outFeatures: N, inFeatures: K, modulePath } = this.linear;
    return uploadSparseIndex(this.rt, `${modulePath}.sparse`, buildSparseIndex(flat, N, K));
  }

  forward(rt: GpuRuntime, x: GpuTensor, y: GpuTensor, M: number, _ctx: PassContext): void {
    if (this.nnz === 0) return;
    sparseForward(rt, { y, x, index: this.index, values: this.values, M, N: this.linear.outFeatures, K: this.linear.inFeatures });
  }

  backward(rt: GpuRuntime, x: GpuTensor, dy: GpuTensor, dx: GpuTensor, M: number, _ctx: PassContext): void {
    const { outFeatures: N, inFeatures: K } = this.linear;
    if (this.grad && this.nnz > 0) sparseValueGrad(rt, { grad: this.grad, dy, x, index: this.index, M, N, K });
    const c = this.candidates;
    if (c && c.entries.nnz > 0) sparseValueGrad(rt, { grad: c.acc, dy, x, index: c.entries, M, N, K });
    if (this.nnz > 0) sparseDx(rt, { dx, dy, index: this.index, values: this.values, M, N, K });
  }

  /** Collecting candidate gradients needs the backward pass even when nothing else in the layer trains. */
  get needsBackward(): boolean {
    return this.candidates !== null;
  }

  params(): TrainableParam[] {
    return this.param ? [this.param] : [];
  }

  /**
   * Moves to a new index set of the same size. `from[e]` is the old entry whose value (and AdamW moments, when
   * given) entry e inherits, or -1 for a new entry, which starts at `fresh[e]` (0 by default) with zero moments.
   */
  async replaceEntries(flat: Uint32Array, from: Int32Array, moments?: { m: GpuTensor; v: GpuTensor }, fresh?: Float32Array): Promise<void> {
    if (flat.length !== this.nnz || from.length !== flat.length) throw new Error(`${this.linear.modulePath}: an index-set update must keep ${this.nnz} entries`);
    const rt = this.rt;
    const remap = async (t: GpuTensor, start?: Float32Array): Promise<void> => {
      const old = await rt.read(t);
      const next = new Float32Array(flat.length);
      for (let e = 0; e < flat.length; e++) next[e] = from[e] >= 0 ? old[from[e]] : (start?.[e] ?? 0);
      rt.write(t, next);
    };
    await remap(this.values, fresh);
    if (moments) {
      await remap(moments.m);
      await remap(moments.v);
    }
    releaseSparseIndex(rt, this.index);
    this.releaseFlat();
    this.flat = flat;
    this.index = this.upload(flat);
  }

  /**
   * grad[e] += scale · Σ_j P[j, row_e] · Q[j, col_e] for P [k, out], Q [k, in]: the gradient of a regulariser
   * whose dense gradient is scale · Pᵀ Q (SaRA's nuclear norm: U Vᵀ), sampled at the kept entries.
   */
  addOuterGradient(P: GpuTensor, Q: GpuTensor, k: number, scale: number): void {
    if (!this.grad || this.nnz === 0 || k === 0) return;
    sparseValueGrad(this.rt, { grad: this.grad, dy: P, x: Q, index: this.index, M: k, N: this.linear.outFeatures, K: this.linear.inFeatures, scale });
  }

  /** Records dense [out, in] += Δ (nn.Linear orientation); the flat indices are uploaded once per index set. */
  scatterInto(dense: GpuTensor): void {
    if (this.nnz === 0) return;
    this.flatTensor ??= this.rt.upload(`${this.linear.modulePath}.flat`, [this.nnz], this.flat, 'u32');
    scatterAdd(this.rt, { dense, indices: this.flatTensor, values: this.values, nnz: this.nnz });
  }

  async readValues(): Promise<Float32Array> {
    return this.rt.read(this.values);
  }

  setCandidates(flat: Uint32Array | null): void {
    this.dropCandidates();
    if (!flat) return;
    const { outFeatures: N, inFeatures: K, modulePath } = this.linear;
    const rows = new Uint32Array(flat.length);
    const cols = new Uint32Array(flat.length);
    for (let e = 0; e < flat.length; e++) {
      rows[e] = Math.floor(flat[e] / K);
      cols[e] = flat[e] % K;
    }
    if (flat.length > 0 && rows[flat.length - 1] >= N) throw new Error(`${modulePath}: candidate index out of range`);
    this.candidates = {
      flat,
      entries: { nnz: flat.length, rows: this.rt.upload(`${modulePath}.cand.rows`, [flat.length], rows, 'u32'), cols: this.rt.upload(`${modulePath}.cand.cols`, [flat.length], cols, 'u32') },
      acc: this.rt.tensor(`${modulePath}.cand.acc`, [flat.length]),
    };
  }

  private dropCandidates(): void {
    const c = this.candidates;
    if (!c) return;
    for (const t of [c.entries.rows, c.entries.cols, c.acc]) this.rt.release(t);
    this.candidates = null;
  }

  private releaseFlat(): void {
    if (this.flatTensor) this.rt.release(this.flatTensor);
    this.flatTensor = null;
  }

  release(): void {
    this.dropCandidates();
    this.releaseFlat();
    releaseSparseIndex(this.rt, this.index);
    this.rt.release(this.values);
    if (this.grad) this.rt.release(this.grad);
  }
}
