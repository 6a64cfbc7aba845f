/**
 * Singular-value spectra the studio shows: of each target weight before training (to pick r and the method),
 * and, while training, of ΔW, of W + ΔW against W, the effective rank of ΔW and the intruder dimensions of
 * "LoRA vs Full Fine-tuning: An Illusion of Equivalence" (top singular vectors of the fine-tuned weight that
 * are far from every singular vector of the base weight).
 *
 * Orientation: everything is reported for W as nn.Linear holds it, [out, in]; GPT-2's Conv1D stores Wᵀ, whose
 * left singular vectors are W's right ones, so the output-space vectors come from V there.
 */
import type { Checkpoint } from '../formats/checkpoint';
import type { GpuRuntime } from '../gpu/runtime';
import type { GpuTensor } from '../gpu/tensor';
import { effectiveRank, energyAtRank, intruderDimensions } from '../linalg/diagnostics';
import { lowRankSingularValues } from '../linalg/lowrank';
import { exactSvd, randomizedSvd, releaseSvd, singularValues, type Svd } from '../linalg/svd';
import type { LinearSpec } from '../model/spec';
import type { LowRankDelta } from '../methods/method';
import { addLowRankStored, readOriginalStored, storedShape } from '../methods/lowrank/baseWeights';
import type { LayerSpectrum, SpectraSnapshot, WeightSpectrum } from './api';

/** Fine-tuned singular vectors examined for intruders (the paper looks at the top 10). */
export const INTRUDER_TOP_K = 10;
export const INTRUDER_THRESHOLD = 0.5;
/** Singular values of W and W + ΔW streamed per layer. */
const SHOWN_VALUES = 32;
/** Above this many columns/rows the merged weight's top vectors come from the randomized SVD. */
const EXACT_LIMIT = 512;

async function uploadOriginal(rt: GpuRuntime, ckpt: Checkpoint, l: LinearSpec): Promise<GpuTensor> {
  return rt.upload(`spectra ${l.weightName}`, storedShape(l), await readOriginalStored(ckpt, l));
}

/** Singular values of every target weight, with the energy the layer's rank would keep. */
export async function targetWeightSpectra(
  rt: GpuRuntime,
  ckpt: Checkpoint,
  targets: LinearSpec[],
  rankOf: (l: LinearSpec, sv: Float64Array) => number,
  onProgress?: (done: number, total: number) => void,
): Promise<WeightSpectrum[]> {
  const out: WeightSpectrum[] = [];
  for (const l of targets) {
    const W = await uploadOriginal(rt, ckpt, l);
    try {
      const [rows, cols] = storedShape(l);
      const sv = await singularValues(rt, W, rows, cols);
      const rank = rankOf(l, sv);
      out.push({ name: l.weightName, modulePath: l.modulePath, shape: [l.outFeatures, l.inFeatures], singularValues: Array.from(sv), rank, energyAtRank: energyAtRank(sv, rank) });
    } finally {
      rt.release(W);
    }
    onProgress?.(out.length, targets.length);
  }
  return out;
}

/** W (stored orientation) += scaling · ΔW, ΔW = B[out,k] A[k,in]. */
export function addDelta(rt: GpuRuntime, W: GpuTensor, d: LowRankDelta, B: GpuTensor, A: GpuTensor): void {
  addLowRankStored(rt, W, d.linear, B, A, d.k, d.scaling);
}

/** Output-space singular vectors [out, k] of a stored weight's SVD, read back. */
async function outputVectors(rt: GpuRuntime, l: LinearSpec, s: Svd): Promise<Float32Array> {
  return rt.read(l.layout === 'out_in' ? s.U : s.V);
}

interface BaseLayer {
  spec: LinearSpec;
  /** All output-space singular vectors of the original weight, [out, kBase]. */
  U: Float32Array;
  kBase: number;
  top: number[];
}

/** Measures the spectra of the adapted layers against their original weights, every N steps of a run. */
export class SpectraTracker {
  private constructor(
    private readonly ckpt: Checkpoint,
    private readonly base: Map<string, BaseLayer>,
    private readonly seed: number,
    readonly threshold: number,
  ) {}

  /** One exact SVD of each adapted layer's original weight, kept (vectors on the CPU) for the whole run. */
  static async create(rt: GpuRuntime, ckpt: Checkpoint, layers: LinearSpec[], seed: number, threshold = INTRUDER_THRESHOLD): Promise<SpectraTracker> {
    const base = new Map<string, BaseLayer>();
    for (const l of layers) {
      const W = await uploadOriginal(rt, ckpt, l);
      const [rows, cols] = storedShape(l);
      const s = await exactSvd(rt, W, rows, cols);
      try {
        base.set(l.modulePath, { spec: l, U: await outputVectors(rt, l, s), kBase: s.k, top: Array.from(s.S.subarray(0, SHOWN_VALUES)) });
      } finally {
        releaseSvd(rt, s);
        rt.release(W);
      }
    }
    return new SpectraTracker(ckpt, base, seed, threshold);
  }

  async snapshot(rt: GpuRuntime, step: number, deltas: LowRankDelta[]): Promise<SpectraSnapshot> {
    const layers: LayerSpectrum[] = [];
    for (const d of deltas) {
      const b = this.base.get(d.linear.modulePath);
      if (!b) continue;
      layers.push(await this.layer(rt, d, b));
    }
    return { step, intruderThreshold: this.threshold, layers };
  }

  private async layer(rt: GpuRuntime, d: LowRankDelta, b: BaseLayer): Promise<LayerSpectrum> {
    const l = d.linear;
    const [rows, cols] = storedShape(l);
    const k = Math.max(1, d.k);
    const B = rt.upload(`spectra ΔB ${l.modulePath}`, [l.outFeatures, k], d.k > 0 ? d.B : new Float32Array(l.outFeatures));
    const A = rt.upload(`spectra ΔA ${l.modulePath}`, [k, l.inFeatures], d.k > 0 ? d.A : new Float32Array(l.inFeatures));
    // Re-read from the checkpoint each snapshot rather than kept: a GPU copy of every adapted weight would
    // double their memory for the whole run.
    const W = await uploadOriginal(rt, this.ckpt, l);
    try {
      const deltaSv = d.k > 0 ? Array.from(await lowRankSingularValues(rt, B, A, l.outFeatures, l.inFeatures, d.k), (v) => v * Math.abs(d.scaling)) : [];
      if (d.k > 0) addDelta(rt, W, d, B, A);
      const shown = Math.min(SHOWN_VALUES, rows, cols);
      const s = Math.min(rows, cols) <= EXACT_LIMIT ? await exactSvd(rt, W, rows, cols, { rank: shown }) : await randomizedSvd(rt, W, rows, cols, { rank: shown, seed: this.seed });
      try {
        const kTuned = Math.min(INTRUDER_TOP_K, s.k);
        const U = await outputVectors(rt, l, s);
        const intr = intruderDimensions(firstColumns(U, l.outFeatures, s.k, kTuned), kTuned, b.U, b.kBase, l.outFeatures, this.threshold);
        return { modulePath: l.modulePath, delta: deltaSv, merged: Array.from(s.S), base: b.top.slice(0, shown), effectiveRank: deltaSv.length > 0 ? effectiveRank(deltaSv) : 0, intruders: intr.count };
      } finally {
        releaseSvd(rt, s);
      }
    } finally {
      rt.release(W);
      rt.release(B);
      rt.release(A);
    }
  }
}

/** The first `k` columns of a row-major [rows, cols] matrix. */
function firstColumns(M: Float32Array, rows: number, cols: number, k: number): Float32Array {
  if (k === cols) return M;
  const out = new Float32Array(rows * k);
  for (let i = 0; i < rows; i++) out.set(M.subarray(i * cols, i * cols + k), i * k);
  return out;
}
