/**
 * Singular-value spectra: of each target weight before training (asked of the worker when the settings change),
 * and the snapshots a run streams every few steps (σ(ΔW), σ(W + ΔW) against σ(W), effective rank, intruders).
 * Only the latest snapshot is kept: a large model sends hundreds of layers each time.
 */
import type { SpectraSnapshot, TrainSettings, WeightSpectrum } from '../../run/api';
import type { Slice } from './types';

/** `key` says which settings the spectra belong to (method, options, rank, targets), so a repeat is not re-asked. */
export type WeightSpectraState =
  | { status: 'idle' }
  | { status: 'loading'; key: string; previous?: WeightSpectrum[] }
  | { status: 'ready'; key: string; value: WeightSpectrum[] }
  | { status: 'error'; key: string; error: string };

export interface SpectraState {
  weights: WeightSpectraState;
  /** Tensor name picked in the weight selector; null (or a name no longer listed) shows the first. */
  selectedWeight: string | null;
  /** Ask for the weight spectra on every settings change, or only on the button. */
  auto: boolean;
  /** The latest snapshot of the current or last run, and how many arrived. */
  live: SpectraSnapshot | null;
  snapshots: number;
  selectedLayer: string | null;
}

export interface SpectraSlice {
  spectra: SpectraState;
  weightSpectraLoading(key: string): void;
  weightSpectraLoaded(key: string, value: WeightSpectrum[]): void;
  weightSpectraFailed(key: string, error: string): void;
  /** A request that was dropped before reaching the worker: nothing is on its way any more. */
  weightSpectraSkipped(): void;
  /** A new model (or a lost worker): the old spectra describe weights that are gone. */
  spectraReset(): void;
  selectWeight(name: string): void;
  setSpectraAuto(on: boolean): void;
  liveSpectraReset(): void;
  spectraReceived(snapshot: SpectraSnapshot): void;
  selectLayer(modulePath: string): void;
}

const EMPTY: SpectraState = { weights: { status: 'idle' }, selectedWeight: null, auto: true, live: null, snapshots: 0, selectedLayer: null };

/** What the weight spectra view shows: the loaded list, or the previous one while new settings are computed. */
export function shownWeightSpectra(w: WeightSpectraState): WeightSpectrum[] | undefined {
  if (w.status === 'ready') return w.value;
  if (w.status === 'loading') return w.previous;
  return undefined;
}

export const createSpectraSlice: Slice<SpectraSlice> = (set) => {
  const put = (patch: Partial<SpectraState>) => set((s) => ({ spectra: { ...s.spectra, ...patch } }));
  return {
    spectra: EMPTY,
    weightSpectraLoading: (key) => set((s) => ({ spectra: { ...s.spectra, weights: { status: 'loading', key, previous: shownWeightSpectra(s.spectra.weights) } } })),
    weightSpectraLoaded: (key, value) => put({ weights: { status: 'ready', key, value } }),
    weightSpectraFailed: (key, error) => put({ weights: { status: 'error', key, error } }),
    weightSpectraSkipped: () => put({ weights: { status: 'idle' } }),
    spectraReset: () => set((s) => ({ spectra: { ...EMPTY, auto: s.spectra.auto } })),
    selectWeight: (selectedWeight) => put({ selectedWeight }),
    setSpectraAuto: (auto) => put({ auto }),
    liveSpectraReset: () => put({ live: null, snapshots: 0 }),
    spectraReceived: (live) => set((s) => ({ spectra: { ...s.spectra, live, snapshots: s.spectra.snapshots + 1 } })),
    selectLayer: (selectedLayer) => put({ selectedLayer }),
  };
};

/** What the weight spectra depend on: the method and its options, the rank and the targeted modules. */
export function weightSpectraKey(s: Pick<TrainSettings, 'method' | 'options' | 'lora'>): string {
  return JSON.stringify([s.method, s.options ?? {}, s.lora.rank, [...s.lora.targets].sort()]);
}
