/**
 * What the page shows of a sparse layer: density kept, how its index set changed, and a picture of where the
 * kept entries sit (counts over a coarse grid of the [out, in] weight, and the share of rows and columns touched).
 */
import type { LayerSparsity } from '../../run/api';

export interface IndexChanges {
  updates: number;
  dropped: number;
  regrown: number;
  lastDropped: number;
  lastRegrown: number;
}

export function noChanges(): IndexChanges {
  return { updates: 0, dropped: 0, regrown: 0, lastDropped: 0, lastRegrown: 0 };
}

/** Grid cells per side (fewer when the weight has fewer rows or columns). */
export const SPARSITY_GRID = 32;

export function layerSparsity(modulePath: string, flat: Uint32Array, out: number, inF: number, changes: IndexChanges): LayerSparsity {
  const gridRows = Math.min(SPARSITY_GRID, out);
  const gridCols = Math.min(SPARSITY_GRID, inF);
  const grid = new Array<number>(gridRows * gridCols).fill(0);
  const rows = new Uint8Array(out);
  const cols = new Uint8Array(inF);
  for (const f of flat) {
    const o = Math.floor(f / inF);
    const i = f % inF;
    rows[o] = 1;
    cols[i] = 1;
    grid[Math.floor((o * gridRows) / out) * gridCols + Math.floor((i * gridCols) / inF)]++;
  }
  const count = (a: Uint8Array): number => a.reduce((s, v) => s + v, 0);
  return {
    modulePath,
    shape: [out, inF],
    kept: flat.length,
    density: flat.length / (out * inF),
    ...changes,
    rowsTouched: count(rows) / out,
    colsTouched: count(cols) / inF,
    gridRows,
    gridCols,
    grid,
  };
}
