import type { DatasetSummary } from '../../run/api';
import type { Loadable, Slice } from './types';

export interface DatasetSlice {
  dataset: Loadable<DatasetSummary>;
  datasetLoading(label: string): void;
  datasetLoaded(summary: DatasetSummary, label: string): void;
  datasetFailed(error: string, label: string): void;
}

export const createDatasetSlice: Slice<DatasetSlice> = (set) => ({
  dataset: { status: 'empty' },
  datasetLoading: (label) => set({ dataset: { status: 'loading', label } }),
  datasetLoaded: (value, label) => set({ dataset: { status: 'ready', value, label } }),
  datasetFailed: (error, label) => set({ dataset: { status: 'error', error, label } }),
});
