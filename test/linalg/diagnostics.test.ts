/** Spectral diagnostics on known spectra and constructed singular-vector sets. */
import { describe, expect, it } from 'vitest';
import { effectiveRank, energyAtRank, intruderDimensions, rankForEnergy } from '../../src/linalg/diagnostics';
import { randomOrthonormal } from '../support/linalg64';

describe('effectiveRank', () => {
  it('is the count for a flat spectrum, 1 for a single value, exp(entropy) in between', () => {
    expect(effectiveRank([2, 2, 2, 2, 2])).toBeCloseTo(5, 12);
    expect(effectiveRank([3, 0, 0])).toBeCloseTo(1, 12);
    expect(effectiveRank([])).toBe(0);
    expect(effectiveRank([0, 0])).toBe(0);
    // p = (1/2, 1/4, 1/4): H = 1.5 ln 2, erank = 2^1.5
    expect(effectiveRank([2, 1, 1])).toBeCloseTo(2 ** 1.5, 12);
    // Scale-invariant.
    expect(effectiveRank([20, 10, 10])).toBeCloseTo(effectiveRank([2, 1, 1]), 12);
  });
});

describe('energyAtRank / rankForEnergy', () => {
  const sv = [4, 2, 1, 1, 0]; // σ² = 16, 4, 1, 1, 0: total 22
  it('energyAtRank is the share of Σσ² in the first r values', () => {
    expect(energyAtRank(sv, 0)).toBe(0);
    expect(energyAtRank(sv, 1)).toBeCloseTo(16 / 22, 15);
    expect(energyAtRank(sv, 2)).toBeCloseTo(20 / 22, 15);
    expect(energyAtRank(sv, 4)).toBe(1);
    expect(energyAtRank(sv, 99)).toBe(1);
    expect(energyAtRank([0, 0], 1)).toBe(1);
  });
  it('rankForEnergy is the smallest r reaching the energy', () => {
    expect(rankForEnergy(sv, 0)).toBe(0);
    expect(rankForEnergy(sv, 0.5)).toBe(1);
    expect(rankForEnergy(sv, 16 / 22)).toBe(1);
    expect(rankForEnergy(sv, 0.8)).toBe(2);
    expect(rankForEnergy(sv, 0.95)).toBe(3);
    expect(rankForEnergy(sv, 1)).toBe(4); // the zero value adds nothing
    expect(rankForEnergy(sv, 1.5)).toBe(5);
    expect(rankForEnergy([0, 0, 0], 0.9)).toBe(0);
    expect(() => rankForEnergy(sv, Number.NaN)).toThrow(/NaN/);
    for (const e of [0.1, 0.3, 0.7, 0.9, 0.99]) expect(energyAtRank(sv, rankForEnergy(sv, e))).toBeGreaterThanOrEqual(e);
  });
});

describe('intruderDimensions', () => {
  const m = 40;

  /** Columns [m, k] as a row-major Float32Array. */
  function columns(cols: Float64Array[]): Float32Array {
    const out = new Float32Array(m * cols.length);
    cols.forEach((c, j) => c.forEach((v, i) => (out[i * cols.length + j] = v)));
    return out;
  }

  it('counts tuned vectors far from every base vector, and none for the base itself', () => {
    const Q = randomOrthonormal(m, 8, 3); // 8 orthonormal directions
    const col = (j: number): Float64Array => Float64Array.from({ length: m }, (_, i) => Q[i * 8 + j]);
    const base = columns([0, 1, 2, 3, 4].map(col));
    // Tuned: base 0 and base 1 slightly rotated (kept), then directions 5 and 6 (new: intruders), then base 2
    // scaled by -2 (sign and scale do not matter).
    const tilt = (a: Float64Array, b: Float64Array, t: number): Float64Array => a.map((v, i) => Math.cos(t) * v + Math.sin(t) * b[i]);
    const tuned = columns([tilt(col(0), col(5), 0.2), tilt(col(1), col(6), 0.3), col(5), col(6), col(2).map((v) => -2 * v)]);
    const r = intruderDimensions(tuned, 5, base, 5, m);
    expect(r.count).toBe(2);
    expect(r.maxCos[0]).toBeCloseTo(Math.cos(0.2), 6);
    expect(r.maxCos[1]).toBeCloseTo(Math.cos(0.3), 6);
    expect(r.maxCos[2]).toBeLessThan(1e-6);
    expect(r.maxCos[4]).toBeCloseTo(1, 6);
    expect(intruderDimensions(base, 5, base, 5, m).count).toBe(0);
    // A vector at 60° from its base vector is an intruder at threshold 0.6, not at 0.4.
    const sixty = columns([tilt(col(0), col(7), Math.PI / 3)]);
    expect(intruderDimensions(sixty, 1, base, 5, m, 0.6).count).toBe(1);
    expect(intruderDimensions(sixty, 1, base, 5, m, 0.4).count).toBe(0);
    // Only the first kTuned / kBase columns count: against base vectors 0..1 only, tuned column 4 (base 2) intrudes.
    expect(intruderDimensions(tuned, 5, base, 2, m).count).toBe(3);
  });

  it('rejects inconsistent sizes', () => {
    const a = new Float32Array(m * 3);
    expect(() => intruderDimensions(a, 4, a, 3, m)).toThrow(/uTuned holds 3 columns of length 40, fewer than the 4 asked for/);
    expect(() => intruderDimensions(new Float32Array(41), 1, a, 1, m)).toThrow(/not a multiple of m = 40/);
  });
});
