/** The sparsity slice and the pure helpers of the sparsity panel (summary, update history, the heatmap's cells). */
import { describe, expect, it } from 'vitest';
import type { LayerSparsity, SparsitySnapshot } from '../../src/run/api';
import { appendSparsityPoint, cellDensities, cellSpans, formatShare, sparsityPoint, summarizeSparsity, updateSteps } from '../../src/ui/sparsity';
import { createStudioStore } from '../../src/ui/store';

function layer(over: Partial<LayerSparsity> = {}): LayerSparsity {
  return {
    modulePath: 'model.layers.0.self_attn.q_proj', shape: [4, 6], kept: 6, density: 0.25, updates: 0, dropped: 0, regrown: 0,
    lastDropped: 0, lastRegrown: 0, rowsTouched: 0.75, colsTouched: 0.5, gridRows: 2, gridCols: 3, grid: [1, 0, 2, 0, 3, 0], ...over,
  };
}

function snapshot(step: number, layers: LayerSparsity[]): SparsitySnapshot {
  return { step, layers };
}

describe('sparsity helpers', () => {
  it('splits n indices into cells the way the engine bins them (floor(i · parts / n))', () => {
    for (const [n, parts] of [[64, 32], [172, 32], [5, 3], [7, 7], [100, 1]]) {
      const spans = cellSpans(n, parts);
      expect(spans.reduce((a, b) => a + b, 0), `${n}/${parts}`).toBe(n);
      const direct = new Array<number>(parts).fill(0);
      for (let i = 0; i < n; i++) direct[Math.floor((i * parts) / n)]++;
      expect(spans, `${n}/${parts}`).toEqual(direct);
    }
  });

  it("gives each cell's share of kept entries and the densest", () => {
    // 4×6 in 2×3 cells of 2×2: counts 1, 0, 2 / 0, 3, 0.
    const { values, max } = cellDensities(layer());
    expect(values).toEqual([0.25, 0, 0.5, 0, 0.75, 0]);
    expect(max).toBe(0.75);
    // Uneven cells: 5 rows in 3 cells are 2, 2, 1 rows.
    const uneven = cellDensities({ shape: [5, 1], gridRows: 3, gridCols: 1, grid: [2, 1, 1] });
    expect(uneven.values).toEqual([1, 0.5, 1]);
  });

  it('summarises a snapshot over all layers', () => {
    const s = snapshot(4, [layer({ updates: 2, dropped: 3, regrown: 3 }), layer({ modulePath: 'b', shape: [8, 8], kept: 16, updates: 1, dropped: 5, regrown: 5 })]);
    expect(summarizeSparsity(s)).toEqual({ layers: 2, kept: 22, size: 88, density: 0.25, updates: 2, dropped: 8, regrown: 8 });
    expect(summarizeSparsity(snapshot(0, [])).density).toBeNaN();
  });

  it('keeps one point per step and finds the steps the index sets changed after', () => {
    let h = appendSparsityPoint([], sparsityPoint(snapshot(0, [layer()])));
    h = appendSparsityPoint(h, sparsityPoint(snapshot(2, [layer({ updates: 1, dropped: 2, regrown: 2 })])));
    h = appendSparsityPoint(h, sparsityPoint(snapshot(4, [layer({ updates: 2, dropped: 3, regrown: 3 })])));
    h = appendSparsityPoint(h, sparsityPoint(snapshot(4, [layer({ updates: 2, dropped: 3, regrown: 3 })]))); // the final snapshot
    h = appendSparsityPoint(h, sparsityPoint(snapshot(5, [layer({ updates: 2, dropped: 3, regrown: 3 })])));
    expect(h.map((p) => p.step)).toEqual([0, 2, 4, 5]);
    expect(updateSteps(h)).toEqual([2, 4]);
  });

  it('formats shares', () => {
    expect(formatShare(205 / 4096)).toBe('5.00%');
    expect(formatShare(0.0498)).toBe('4.98%');
    expect(formatShare(1)).toBe('100%');
    expect(formatShare(0)).toBe('0.00%');
    expect(formatShare(1.2e-5)).toBe('0.0012%');
    expect(formatShare(Number.NaN)).toBe('—');
  });
});

describe('sparsity slice', () => {
  it('keeps the latest snapshot, counts them, and starts each run empty with its method', () => {
    const store = createStudioStore();
    const s = () => store.getState();
    expect(s().sparsity).toEqual({ method: null, live: null, snapshots: 0, history: [] });
    s().sparsityStarted('sparse');
    s().sparsityReceived(snapshot(0, [layer()]));
    s().sparsityReceived(snapshot(2, [layer({ updates: 1, dropped: 1, regrown: 1, lastDropped: 1, lastRegrown: 1 })]));
    expect(s().sparsity).toMatchObject({ method: 'sparse', snapshots: 2, live: { step: 2 } });
    expect(s().sparsity.history).toEqual([
      { step: 0, updates: 0, dropped: 0, regrown: 0 },
      { step: 2, updates: 1, dropped: 1, regrown: 1 },
    ]);
    s().sparsityStarted('sara');
    expect(s().sparsity).toEqual({ method: 'sara', live: null, snapshots: 0, history: [] });
    s().sparsityReceived(snapshot(0, [layer()]));
    s().sparsityReset();
    expect(s().sparsity.live).toBeNull();
    expect(s().sparsity.method).toBeNull();
  });
});
