/**
 * The trained adapter as the download panel sees it: exported files (cached) and the validation comparison. The
 * merged model is not cached: it is as large as the checkpoint, so it is exported on each download.
 */
import type { AdapterFiles } from '../../run/api';
import type { Slice } from './types';

export type Evaluation =
  | { status: 'idle' }
  | { status: 'evaluating' }
  | { status: 'done'; base: number; adapted: number }
  | { status: 'error'; error: string };

/** 'default': PEFT's format where PEFT has the method, else a webpeft delta; 'webpeft-delta': asked for a delta. */
export type ExportSlot = 'default' | 'webpeft-delta';

export interface AdapterSlice {
  adapter: {
    /** The adapter as the run exports it by default. */
    files?: AdapterFiles;
    /** The same update as a webpeft delta, for methods that have both. */
    delta?: AdapterFiles;
    exporting: boolean;
    mergedExporting: boolean;
    evaluation: Evaluation;
  };
  exportStarted(): void;
  mergedExportStarted(): void;
  mergedExportEnded(): void;
  exported(files: AdapterFiles, slot?: ExportSlot): void;
  exportFailed(): void;
  setEvaluation(evaluation: Evaluation): void;
  /** Training again (or loading another model) invalidates the exported files and the comparison. */
  adapterReset(): void;
}

const EMPTY = { exporting: false, mergedExporting: false, evaluation: { status: 'idle' } as Evaluation };

export const createAdapterSlice: Slice<AdapterSlice> = (set) => ({
  adapter: EMPTY,
  exportStarted: () => set((s) => ({ adapter: { ...s.adapter, exporting: true } })),
  mergedExportStarted: () => set((s) => ({ adapter: { ...s.adapter, mergedExporting: true } })),
  mergedExportEnded: () => set((s) => ({ adapter: { ...s.adapter, mergedExporting: false } })),
  exported: (files, slot = 'default') =>
    set((s) => ({ adapter: { ...s.adapter, ...(slot === 'webpeft-delta' ? { delta: files } : { files }), exporting: false } })),
  exportFailed: () => set((s) => ({ adapter: { ...s.adapter, exporting: false } })),
  setEvaluation: (evaluation) => set((s) => ({ adapter: { ...s.adapter, evaluation } })),
  adapterReset: () => set({ adapter: EMPTY }),
});
