/** Spectra as the charts and tables show them. Pure functions, no React, tested in test/ui. */
import type { LayerSpectrum, SpectraSnapshot } from '../run/api';

/**
 * Singular values this far below the largest on the same chart are rounding noise (ΔW of PiSSA at step 0 comes out
 * near 1e-15, or exactly 0); they would stretch the log axis over dozens of empty decades, which uPlot cannot
 * label below 1e-32 either.
 */
export const NOISE_FLOOR = 1e-10;

/**
 * uPlot columns for curves of singular values against their index (1-based). A log axis cannot show zero or
 * negative values, so those, values under the noise floor, and anything not finite become gaps; shorter curves are
 * padded with gaps.
 */
export function spectrumColumns(curves: readonly (readonly (number | null)[])[]): (number | null)[][] {
  const n = curves.reduce((m, c) => Math.max(m, c.length), 0);
  const top = curves.reduce((m, c) => c.reduce<number>((a, v) => (v !== null && Number.isFinite(v) && v > a ? v : a), m), 0);
  const floor = Math.max(top * NOISE_FLOOR, Number.MIN_VALUE);
  const x = Array.from({ length: n }, (_, i) => i + 1);
  const ys = curves.map((c) =>
    x.map((_, i) => {
      const v = c[i];
      return v !== null && v !== undefined && Number.isFinite(v) && v >= floor ? v : null;
    }),
  );
  return [x, ...ys];
}

/**
 * The kept (first `rank`) and the remaining singular values as two curves over the same indices; they share the
 * value at the boundary so the line is unbroken.
 */
export function splitAtRank(values: readonly number[], rank: number): { kept: (number | null)[]; rest: (number | null)[] } {
  return {
    kept: values.map((v, i) => (i < rank ? v : null)),
    rest: values.map((v, i) => (i >= rank - 1 ? v : null)),
  };
}

/** The item picked by key, or the first one when nothing (or something no longer listed) is picked. */
export function pick<T>(items: readonly T[] | undefined, selected: string | null, key: (t: T) => string): T | undefined {
  if (!items || items.length === 0) return undefined;
  return items.find((t) => key(t) === selected) ?? items[0];
}

export interface SnapshotSummary {
  layers: number;
  meanEffectiveRank: number;
  intruders: number;
  /** Layers with at least one intruder dimension. */
  layersWithIntruders: number;
}

export function summarizeSnapshot(s: Pick<SpectraSnapshot, 'layers'>): SnapshotSummary {
  const n = s.layers.length;
  const sum = (f: (l: LayerSpectrum) => number) => s.layers.reduce((a, l) => a + f(l), 0);
  return {
    layers: n,
    meanEffectiveRank: n > 0 ? sum((l) => l.effectiveRank) / n : Number.NaN,
    intruders: sum((l) => l.intruders),
    layersWithIntruders: s.layers.filter((l) => l.intruders > 0).length,
  };
}

/** 0.9312 → "93.1%"; values within 0.05% of 100% keep enough digits not to read as "100.0%". */
export function formatEnergy(fraction: number): string {
  if (!Number.isFinite(fraction)) return '—';
  const p = 100 * fraction;
  if (p < 100 && p >= 99.95) return `${p.toFixed(3)}%`;
  return `${p.toFixed(1)}%`;
}

/** Singular values span decades: 3 significant digits, exponent form outside [1e-3, 1e4). */
export function formatSigma(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e4 ? v.toPrecision(3) : v.toExponential(2);
}
