/**
 * The sparse methods' index sets as a run streams them (at step 0, after each prune-and-regrow or re-selection, and
 * at the end): the latest snapshot, and a short history of when the sets changed. Only the latest snapshot is
 * kept in full: a large model sends hundreds of layers with a grid each.
 */
import type { MethodName, SparsitySnapshot } from '../../run/api';
import { appendSparsityPoint, sparsityPoint, type SparsityPoint } from '../sparsity';
import type { Slice } from './types';

export interface SparsityState {
  /** The method of the run the snapshots belong to (null before the first run). */
  method: MethodName | null;
  live: SparsitySnapshot | null;
  snapshots: number;
  history: SparsityPoint[];
}

export interface SparsitySlice {
  sparsity: SparsityState;
  /** A run starts: the last run's snapshots are gone. */
  sparsityStarted(method: MethodName): void;
  sparsityReceived(snapshot: SparsitySnapshot): void;
  /** A new model: the index sets describe weights that are gone. */
  sparsityReset(): void;
}

export const EMPTY_SPARSITY: SparsityState = { method: null, live: null, snapshots: 0, history: [] };

/** Snapshots arrive at most once per step; a run longer than this keeps the most recent points. */
const MAX_HISTORY = 2000;

export const createSparsitySlice: Slice<SparsitySlice> = (set) => ({
  sparsity: EMPTY_SPARSITY,
  sparsityStarted: (method) => set({ sparsity: { ...EMPTY_SPARSITY, method } }),
  sparsityReceived: (live) =>
    set((s) => ({
      sparsity: {
        ...s.sparsity,
        live,
        snapshots: s.sparsity.snapshots + 1,
        history: appendSparsityPoint(s.sparsity.history, sparsityPoint(live)).slice(-MAX_HISTORY),
      },
    })),
  sparsityReset: () => set({ sparsity: EMPTY_SPARSITY }),
});
