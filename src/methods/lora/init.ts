/** PEFT-compatible LoRA initial values, drawn from the run's seed. */
import type { Rng } from '../../util/rng';

/** A [r, in]: 'default' = kaiming_uniform_(a=√5) = U(−1/√in, 1/√in); 'gaussian' = N(0, (1/r)²). B [out, r] = 0. */
export function initLoraWeights(r: number, inFeatures: number, outFeatures: number, mode: 'default' | 'gaussian', rng: Rng): { A: Float32Array; B: Float32Array } {
  const A = new Float32Array(r * inFeatures);
  if (mode === 'gaussian') {
    for (let i = 0; i < A.length; i++) A[i] = rng.normal() / r;
  } else {
    const bound = 1 / Math.sqrt(inFeatures);
    for (let i = 0; i < A.length; i++) A[i] = rng.uniform(-bound, bound);
  }
  return { A, B: new Float32Array(outFeatures * r) };
}
