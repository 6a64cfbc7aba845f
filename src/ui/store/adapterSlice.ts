/**
 * The adapter as the download panel sees it: the trained run's, or one opened from a folder (PEFT LoRA/AdaLoRA,
 * IA3, SHiRA, or a webpeft delta) that replaced it in the engine; its exported files (cached) and the validation
 * comparison. The merged model is not cached: it is as large as the checkpoint, so it is exported on each download.
 */
import type { AdapterFiles, AdapterKind } from '../../run/api';
import type { Loadable, Slice } from './types';

export type Evaluation =
  | { status: 'idle' }
  | { status: 'evaluating' }
  | { status: 'done'; base: number; adapted: number }
  | { status: 'error'; error: string };

/** 'default': PEFT's format where PEFT has the method, else a webpeft delta; 'webpeft-delta': asked for a delta. */
export type ExportSlot = 'default' | 'webpeft-delta';

/** What the engine said about an adapter folder it applied. `r`: the LoRA/SHiRA rank, 0 for formats without one. */
export interface LoadedAdapterInfo {
  kind: AdapterKind;
  modules: number;
  r: number;
}

export interface AdapterSlice {
  adapter: {
    /** The adapter as the run (or the opened folder) exports it by default. */
    files?: AdapterFiles;
    /** The same update as a webpeft delta, for methods that have both. */
    delta?: AdapterFiles;
    exporting: boolean;
    mergedExporting: boolean;
    evaluation: Evaluation;
    /**
     * An adapter folder opened on the page ('empty': none, the adapter is the trained run's). Its label is the
     * folder's name. Loading one replaces the run's adapter in the engine; a failed load leaves none.
     */
    loaded: Loadable<LoadedAdapterInfo>;
  };
  exportStarted(): void;
  mergedExportStarted(): void;
  mergedExportEnded(): void;
  exported(files: AdapterFiles, slot?: ExportSlot): void;
  exportFailed(): void;
  setEvaluation(evaluation: Evaluation): void;
  /** Training again (or loading another model) invalidates the exported files, the comparison and an opened adapter. */
  adapterReset(): void;
  /** An adapter folder is being applied: whatever was exported or measured for the previous adapter is stale. */
  adapterLoading(label: string): void;
  adapterLoaded(info: LoadedAdapterInfo, label: string): void;
  adapterLoadFailed(error: string, label: string): void;
}

const EMPTY: AdapterSlice['adapter'] = { exporting: false, mergedExporting: false, evaluation: { status: 'idle' }, loaded: { status: 'empty' } };

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
  adapterLoading: (label) => set({ adapter: { ...EMPTY, loaded: { status: 'loading', label } } }),
  adapterLoaded: (value, label) => set((s) => ({ adapter: { ...s.adapter, loaded: { status: 'ready', value, label } } })),
  adapterLoadFailed: (error, label) => set((s) => ({ adapter: { ...s.adapter, loaded: { status: 'error', error, label } } })),
});

/** How the page names each adapter kind. */
export const ADAPTER_KIND_LABELS: Record<AdapterKind, string> = {
  lora: 'LoRA',
  adalora: 'AdaLoRA',
  ia3: 'IA3',
  shira: 'SHiRA',
  'webpeft-delta': 'webpeft delta',
};
