/**
 * SVFit's rank: per layer, the fewest top singular values holding a fraction `energy` of ‖W‖²_F = Σσ²
 * ("singular values that capture over 99% of the matrix's information").
 *
 * The exact SVD has every σ and uses linalg's rankForEnergy (the same function the session's live parameter
 * count uses). A randomized SVD only has the top R, but the total Σσ² = ‖W‖²_F is known exactly from W itself, so
 * the criterion needs no full spectrum: the sketch rank grows by doubling until its top values reach the energy
 * (at worst min(out, in), where the exact SVD is used instead). k then agrees with the exact criterion up to
 * the randomized SVD's accuracy on σ.
 */
import type { Checkpoint } from '../../formats/checkpoint';
import type { GpuRuntime } from '../../gpu/runtime';
import { rankForEnergy } from '../../linalg/diagnostics';
import type { LinearSpec } from '../../model/spec';
import { readOriginalStored, storedShape } from '../lowrank/baseWeights';
import { sumSquares } from '../common/hostMatrix';
import { type HostSvd, storedSvd } from '../common/weightSvd';

export function validateEnergy(energy: number): void {
  if (!(Number.isFinite(energy) && energy > 0 && energy <= 1)) throw new Error(`SVFit energy must be in (0, 1], got ${energy}`);
}

/** Fewest leading values whose squares reach `energy` · total; null when all of `sv` fall short. */
export function rankForEnergyOfTotal(sv: ArrayLike<number>, total: number, energy: number): number | null {
  let acc = 0;
  for (let i = 0; i < sv.length; i++) {
    acc += sv[i] * sv[i];
    // Relative slack: with energy 1 the float sum of σ² may land a rounding error below ‖W‖²_F.
    if (acc >= energy * total * (1 - 1e-6)) return i + 1;
  }
  return null;
}

/** The first `k` triplets of a host SVD. */
export function truncateSvd(s: HostSvd, k: number, outF: number, inF: number): HostSvd {
  if (k === s.k) return s;
  const cut = (x: Float32Array, rows: number): Float32Array => {
    const out = new Float32Array(rows * k);
    for (let i = 0; i < rows; i++) for (let j = 0; j < k; j++) out[i * k + j] = x[i * s.k + j];
    return out;
  };
  return { k, U: cut(s.U, outF), S: s.S.slice(0, k), V: cut(s.V, inF) };
}

export interface SvfitSvdOptions {
  energy: number;
  method: 'exact' | 'randomized';
  powerIters: number;
  seed: number;
  /** First sketch rank of the randomized search (e.g. 2 · LoRA rank). */
  startRank: number;
}

/** The layer's original weight's top-k SVD with k from the energy criterion (nn.Linear orientation). */
export async function svfitSvd(rt: GpuRuntime, ckpt: Checkpoint, spec: LinearSpec, o: SvfitSvdOptions): Promise<HostSvd> {
  validateEnergy(o.energy);
  const { inFeatures: inF, outFeatures: outF } = spec;
  const full = Math.min(inF, outF);
  const host = await readOriginalStored(ckpt, spec);
  const W = rt.upload(`${spec.weightName} (for SVD)`, storedShape(spec), host);
  try {
    if (o.method === 'randomized') {
      const total = sumSquares(host);
      for (let R = Math.min(full, Math.max(1, o.startRank)); R < full; R = Math.min(full, 2 * R)) {
        const s = await storedSvd(rt, W, spec, { method: 'randomized', rank: R, powerIters: o.powerIters, seed: o.seed });
        const k = rankForEnergyOfTotal(s.S, total, o.energy);
        if (k !== null) return truncateSvd(s, k, outF, inF);
      }
    }
    const s = await storedSvd(rt, W, spec, { method: 'exact', powerIters: o.powerIters, seed: o.seed });
    return truncateSvd(s, Math.max(1, Math.min(s.k, rankForEnergy(s.S, o.energy))), outF, inF);
  } finally {
    rt.flush();
    rt.release(W);
  }
}
