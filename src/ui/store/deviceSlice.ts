import type { DeviceSummary } from '../../run/api';
import type { Slice } from './types';

export type DeviceState =
  | { status: 'starting' }
  | { status: 'ready'; summary: DeviceSummary }
  | { status: 'error'; error: string };

export interface DeviceSlice {
  device: DeviceState;
  deviceStarting(): void;
  deviceReady(summary: DeviceSummary): void;
  deviceFailed(error: string): void;
}

export const createDeviceSlice: Slice<DeviceSlice> = (set) => ({
  device: { status: 'starting' },
  deviceStarting: () => set({ device: { status: 'starting' } }),
  deviceReady: (summary) => set({ device: { status: 'ready', summary } }),
  deviceFailed: (error) => set({ device: { status: 'error', error } }),
});
