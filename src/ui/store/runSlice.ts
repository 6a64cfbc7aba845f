import type { RunSummary, StepMetrics, TrainSettings } from '../../run/api';
import { appendMetric } from './metrics';
import type { Slice } from './types';

export type RunStatus = 'idle' | 'running' | 'done' | 'stopped' | 'error';

export interface RunState {
  status: RunStatus;
  /** Steps requested for the current or last run. */
  totalSteps: number;
  /** What the current or last run was sent (its method and options say what its adapter exports as). */
  settings?: TrainSettings;
  metrics: StepMetrics[];
  summary?: RunSummary;
  error?: string;
  stopRequested: boolean;
  /** The method's setup before the first step (SVDs, calibration batches). */
  setup?: { message: string; fraction: number };
}

export interface RunSlice {
  run: RunState;
  runStarted(totalSteps: number, settings?: TrainSettings): void;
  metricsReceived(m: StepMetrics): void;
  stopRequested(): void;
  runFinished(summary: RunSummary): void;
  runFailed(error: string): void;
  setupProgress(message: string, fraction: number): void;
  /** Back to idle with no metrics (a new model was loaded). */
  runReset(): void;
}

export const IDLE_RUN: RunState = { status: 'idle', totalSteps: 0, metrics: [], stopRequested: false };

export const createRunSlice: Slice<RunSlice> = (set) => ({
  run: IDLE_RUN,
  runStarted: (totalSteps, settings) => set({ run: { ...IDLE_RUN, status: 'running', totalSteps, settings } }),
  metricsReceived: (m) => set((s) => ({ run: { ...s.run, metrics: appendMetric(s.run.metrics, m) } })),
  stopRequested: () => set((s) => ({ run: { ...s.run, stopRequested: true } })),
  runFinished: (summary) =>
    set((s) => ({ run: { ...s.run, status: summary.stopped ? 'stopped' : 'done', summary, stopRequested: false } })),
  runFailed: (error) => set((s) => ({ run: { ...s.run, status: 'error', error, stopRequested: false } })),
  runReset: () => set({ run: IDLE_RUN }),
  setupProgress: (message, fraction) => set((s) => ({ run: { ...s.run, setup: { message, fraction } } })),
});
