/**
 * The probe EVA hangs on each targeted layer while the calibration batches run: it adds nothing to y and has no
 * parameters; its forward accumulates, on the GPU, the statistics of the layer's input rows x [M, in] that the
 * exact PCA needs:
 *   gram   [in, in] += xᵀ x        (matmul transA, accumulate)
 *   colSum [1, in]  += 1ᵀ x        (a ones row times x)
 *   sumSq  [1]      += Σ x²        (trace of the Gram, kept apart so the total variance needs no Gram readback)
 *   rows            += M           (on the host)
 * Centring (PEFT's IncrementalPCA subtracts the mean) happens once at the end: C = G − s sᵀ / n.
 */
import { matmul } from '../../gpu/ops/matmul';
import { sumSquaresInto } from '../../gpu/ops/reduce';
import type { GpuRuntime } from '../../gpu/runtime';
import { type GpuTensor, view } from '../../gpu/tensor';
import type { LinearSpec } from '../../model/spec';
import type { LinearAdapter, PassContext, TrainableParam } from '../types';

export interface InputStats {
  rows: number;
  /** Σ over rows of x, [in]. */
  colSum: Float32Array;
  /** Σ of every x², i.e. trace(xᵀx). */
  sumSq: number;
}

export class GramProbe implements LinearAdapter {
  readonly gram: GpuTensor;
  private readonly colSum: GpuTensor;
  private readonly sumSq: GpuTensor;
  /** [n] of ones for the column sums, grown to the largest row count seen; outgrown ones are freed at release. */
  private ones: GpuTensor | null = null;
  private readonly retired: GpuTensor[] = [];
  rows = 0;

  constructor(
    private readonly rt: GpuRuntime,
    readonly linear: LinearSpec,
  ) {
    const K = linear.inFeatures;
    this.gram = rt.tensor(`eva.gram ${linear.modulePath}`, [K, K]); // [in, in], zeroed
    this.colSum = rt.tensor(`eva.colsum ${linear.modulePath}`, [1, K]); // [1, in]
    this.sumSq = rt.tensor(`eva.sumsq ${linear.modulePath}`, [1]);
  }

  private onesRow(M: number): GpuTensor {
    if (!this.ones || this.ones.shape[0] < M) {
      // The old buffer may still be bound by a recorded, unsubmitted dispatch: retire it, free it at release.
      if (this.ones) this.retired.push(this.ones);
      this.ones = this.rt.upload(`eva.ones ${this.linear.modulePath}`, [M], new Float32Array(M).fill(1));
    }
    return view(this.ones, [1, M]);
  }

  forward(rt: GpuRuntime, x: GpuTensor, _y: GpuTensor, M: number, _ctx: PassContext): void {
    const K = this.linear.inFeatures;
    const xs = view(x, [M, K]);
    matmul(rt, { out: this.gram, a: xs, b: xs, M: K, N: K, K: M, transA: true, accumulate: true });
    matmul(rt, { out: this.colSum, a: this.onesRow(M), b: xs, M: 1, N: K, K: M, accumulate: true });
    sumSquaresInto(rt, { out: this.sumSq, index: 0, x: xs, n: M * K, accumulate: true });
    this.rows += M;
  }

  backward(): void {
    // A probe takes no part in the backward pass (needsBackward is unset, so the engine never calls this).
  }

  params(): TrainableParam[] {
    return [];
  }

  async stats(rt: GpuRuntime): Promise<InputStats> {
    const colSum = await rt.read(this.colSum);
    const sumSq = (await rt.read(this.sumSq))[0];
    return { rows: this.rows, colSum, sumSq };
  }

  /** gram ← xᵀx − s sᵀ / n: the centred scatter matrix, whose eigenvectors are the principal components. */
  centre(rt: GpuRuntime): void {
    if (this.rows < 2) throw new Error(`EVA: ${this.linear.modulePath} saw ${this.rows} input rows, too few for a PCA`);
    const K = this.linear.inFeatures;
    matmul(rt, { out: this.gram, a: this.colSum, b: this.colSum, M: K, N: K, K: 1, transA: true, accumulate: true, alpha: -1 / this.rows });
  }

  release(rt: GpuRuntime): void {
    for (const t of [this.gram, this.colSum, this.sumSq, this.ones, ...this.retired]) if (t) rt.release(t);
  }
}

/** Σ‖xₜ − μ‖² = trace(C) = Σx² − ‖s‖² / n, in float64. */
export function totalVariance(s: InputStats): number {
  let ss = 0;
  for (const v of s.colSum) ss += v * v;
  return s.sumSq - ss / s.rows;
}

/**
 * Layers whose inputs are the same tensor (q/k/v after one norm, gate/up) accumulate bit-identical statistics,
 * since every kernel here is deterministic. This key plays the part of PEFT's hash of the layer inputs.
 */
export function statsKey(s: InputStats): string {
  const bytes = new Uint8Array(s.colSum.buffer, s.colSum.byteOffset, s.colSum.byteLength);
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return `${s.rows}:${s.sumSq}:${s.colSum.length}:${h.toString(16)}`;
}
