/** Reproducible train/validation split: a seeded shuffle of example indices. */
import { Rng } from '../util/rng';

export interface Split {
  /** Indices into the example list, ascending (file order), so the split is easy to inspect. */
  train: number[];
  val: number[];
}

/**
 * round(valFraction * n) examples go to validation — at least 1 when valFraction > 0 and n ≥ 2, and never all of
 * them (training needs one). Which ones is decided by shuffling 0..n-1 with Rng(seed).
 */
export function splitIndices(n: number, valFraction: number, seed: number): Split {
  if (!(valFraction >= 0 && valFraction < 1)) throw new Error(`valFraction must be in [0, 1), got ${valFraction}`);
  let nVal = Math.round(valFraction * n);
  if (valFraction > 0 && n >= 2) nVal = Math.max(1, nVal);
  nVal = Math.min(nVal, Math.max(0, n - 1));
  const order = new Rng(seed).shuffle(Array.from({ length: n }, (_, i) => i));
  const byIndex = (a: number, b: number): number => a - b;
  return { val: order.slice(0, nVal).sort(byIndex), train: order.slice(nVal).sort(byIndex) };
}
