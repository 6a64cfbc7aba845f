/**
 * One zustand store built from typed slices. `createStudioStore` makes a fresh one (tests, and the page once at
 * start-up); components read the page's store through `useStudio(selector)` and select narrowly. Results from the
 * worker enter only through the bridge (src/ui/bridge.ts), which calls the slice actions.
 */
import { useStore } from 'zustand';
import { createStore, type StoreApi } from 'zustand/vanilla';
import { createAdapterSlice } from './adapterSlice';
import { createAlertsSlice } from './alertsSlice';
import { createDatasetSlice } from './datasetSlice';
import { createDeviceSlice } from './deviceSlice';
import { createModelSlice } from './modelSlice';
import { createRunSlice } from './runSlice';
import { createSamplesSlice } from './samplesSlice';
import { createSettingsSlice } from './settingsSlice';
import { createSparsitySlice } from './sparsitySlice';
import { createSpectraSlice } from './spectraSlice';
import type { Studio } from './types';

export type { Studio, Loadable } from './types';
export type StudioStore = StoreApi<Studio>;

export function createStudioStore(): StudioStore {
  return createStore<Studio>()((...a) => ({
    ...createDeviceSlice(...a),
    ...createAlertsSlice(...a),
    ...createModelSlice(...a),
    ...createDatasetSlice(...a),
    ...createSettingsSlice(...a),
    ...createRunSlice(...a),
    ...createSamplesSlice(...a),
    ...createAdapterSlice(...a),
    ...createSpectraSlice(...a),
    ...createSparsitySlice(...a),
  }));
}

/** The page's store. */
export const studio: StudioStore = createStudioStore();

export function useStudio<T>(selector: (s: Studio) => T): T {
  return useStore(studio, selector);
}

/** Values derived from several slices that more than one component needs. */
export function isBusy(s: Studio): boolean {
  return (
    s.run.status === 'running' ||
    s.model.status === 'loading' ||
    s.dataset.status === 'loading' ||
    s.samples.base.status === 'generating' ||
    s.samples.adapted.status === 'generating' ||
    s.adapter.evaluation.status === 'evaluating' ||
    s.adapter.exporting ||
    s.adapter.mergedExporting ||
    s.adapter.loaded.status === 'loading'
  );
}

/**
 * An adapter exists once a run has finished or was stopped after at least one step, or an adapter folder was
 * opened. Opening one replaces the run's adapter in the engine, so while it loads, and after it failed, there is none.
 */
export function hasAdapter(s: Studio): boolean {
  const loaded = s.adapter.loaded.status;
  if (loaded === 'ready') return true;
  if (loaded !== 'empty') return false;
  return (s.run.status === 'done' || s.run.status === 'stopped') && (s.run.summary?.steps ?? 0) > 0;
}
