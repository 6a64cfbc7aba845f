/**
 * Visible error messages. Each alert belongs to a source (what failed), so a later success of the same kind
 * clears it: loading a good model removes the "could not load the model" alert.
 */
import type { Slice } from './types';

export type AlertSource = 'worker' | 'device' | 'model' | 'dataset' | 'settings' | 'train' | 'sample' | 'evaluate' | 'export' | 'adapter' | 'spectra' | 'page';

export interface Alert {
  id: number;
  source: AlertSource;
  title: string;
  message: string;
}

export interface AlertsSlice {
  alerts: Alert[];
  pushAlert(source: AlertSource, title: string, message: string): void;
  dismissAlert(id: number): void;
  clearAlerts(source: AlertSource): void;
}

let nextId = 1;

export const createAlertsSlice: Slice<AlertsSlice> = (set) => ({
  alerts: [],
  pushAlert: (source, title, message) =>
    set((s) => {
      // The same message twice in a row (a retried action) is shown once.
      const dup = s.alerts.find((a) => a.source === source && a.title === title && a.message === message);
      if (dup) return s;
      return { alerts: [...s.alerts, { id: nextId++, source, title, message }] };
    }),
  dismissAlert: (id) => set((s) => ({ alerts: s.alerts.filter((a) => a.id !== id) })),
  clearAlerts: (source) => set((s) => ({ alerts: s.alerts.filter((a) => a.source !== source) })),
});
