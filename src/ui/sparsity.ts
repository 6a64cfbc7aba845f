/** Sparsity snapshots as the sparsity panel shows them. Pure functions, no React, tested in test/ui. */
import type { LayerSparsity, SparsitySnapshot } from '../run/api';

export interface SparsitySummary {
  layers: number;
  /** Entries kept over all layers, and the entries of the weights they belong to. */
  kept: number;
  size: number;
  density: number;
  /** The most index-set updates any layer has had, and entries dropped and regrown over all layers and updates. */
  updates: number;
  dropped: number;
  regrown: number;
}

export function summarizeSparsity(s: SparsitySnapshot): SparsitySummary {
  let kept = 0;
  let size = 0;
  let updates = 0;
  let dropped = 0;
  let regrown = 0;
  for (const l of s.layers) {
    kept += l.kept;
    size += l.shape[0] * l.shape[1];
    updates = Math.max(updates, l.updates);
    dropped += l.dropped;
    regrown += l.regrown;
  }
  return { layers: s.layers.length, kept, size, density: size > 0 ? kept / size : Number.NaN, updates, dropped, regrown };
}

/** One point of a run's sparsity history: enough to say when the index sets changed and by how much. */
export interface SparsityPoint {
  step: number;
  updates: number;
  dropped: number;
  regrown: number;
}

export function sparsityPoint(s: SparsitySnapshot): SparsityPoint {
  const { updates, dropped, regrown } = summarizeSparsity(s);
  return { step: s.step, updates, dropped, regrown };
}

/** Appends a point; a second snapshot of the same step (the final one after the last update) replaces it. */
export function appendSparsityPoint(history: SparsityPoint[], p: SparsityPoint): SparsityPoint[] {
  const last = history[history.length - 1];
  if (last && last.step === p.step) return [...history.slice(0, -1), p];
  return [...history, p];
}

/** The steps after which the index sets changed (the update count went up). */
export function updateSteps(history: readonly SparsityPoint[]): number[] {
  const out: number[] = [];
  let seen = 0;
  for (const p of history) {
    if (p.updates > seen) out.push(p.step);
    seen = Math.max(seen, p.updates);
  }
  return out;
}

/**
 * How many of n indices fall in each of `parts` cells when index i goes to cell floor(i · parts / n), as the engine
 * bins rows and columns: cell p holds ceil((p + 1) · n / parts) − ceil(p · n / parts) of them.
 */
export function cellSpans(n: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, p) => Math.ceil(((p + 1) * n) / parts) - Math.ceil((p * n) / parts));
}

/** The fraction of each grid cell's entries that are kept (row-major, gridRows × gridCols), and the largest. */
export function cellDensities(l: Pick<LayerSparsity, 'shape' | 'gridRows' | 'gridCols' | 'grid'>): { values: number[]; max: number } {
  const rows = cellSpans(l.shape[0], l.gridRows);
  const cols = cellSpans(l.shape[1], l.gridCols);
  const values = new Array<number>(l.gridRows * l.gridCols);
  let max = 0;
  for (let r = 0; r < l.gridRows; r++) {
    for (let c = 0; c < l.gridCols; c++) {
      const area = rows[r] * cols[c];
      const v = area > 0 ? (l.grid[r * l.gridCols + c] ?? 0) / area : 0;
      values[r * l.gridCols + c] = v;
      if (v > max) max = v;
    }
  }
  return { values, max };
}

/** 0.05005 → "5.01%", 0.000012 → "0.0012%", 1 → "100%". */
export function formatShare(x: number): string {
  if (!Number.isFinite(x)) return '—';
  if (x === 1) return '100%';
  const p = x * 100;
  if (p !== 0 && Math.abs(p) < 0.01) return `${p.toPrecision(2)}%`;
  return `${p.toFixed(2)}%`;
}
