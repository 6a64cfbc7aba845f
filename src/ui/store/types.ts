/** The studio store's full shape: the intersection of its slices. */
import type { StateCreator } from 'zustand/vanilla';
import type { AdapterSlice } from './adapterSlice';
import type { AlertsSlice } from './alertsSlice';
import type { DatasetSlice } from './datasetSlice';
import type { DeviceSlice } from './deviceSlice';
import type { ModelSlice } from './modelSlice';
import type { RunSlice } from './runSlice';
import type { SamplesSlice } from './samplesSlice';
import type { SettingsSlice } from './settingsSlice';
import type { SparsitySlice } from './sparsitySlice';
import type { SpectraSlice } from './spectraSlice';

export type Studio = DeviceSlice &
  AlertsSlice &
  ModelSlice &
  DatasetSlice &
  SettingsSlice &
  RunSlice &
  SamplesSlice &
  AdapterSlice &
  SpectraSlice &
  SparsitySlice;

export type Slice<T> = StateCreator<Studio, [], [], T>;

/** Something that is loaded by the worker: nothing yet, in progress, loaded, or failed with a message. */
export type Loadable<T> =
  | { status: 'empty' }
  | { status: 'loading'; label: string }
  | { status: 'ready'; value: T; label: string }
  | { status: 'error'; error: string; label: string };
