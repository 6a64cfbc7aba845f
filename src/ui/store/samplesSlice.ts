import type { Slice } from './types';

export type SampleKind = 'base' | 'adapted';

export type SampleState =
  | { status: 'idle' }
  | { status: 'generating' }
  | { status: 'done'; text: string; prompt: string }
  | { status: 'error'; error: string };

export interface SampleOptions {
  prompt: string;
  maxNewTokens: number;
  /** 0 is greedy. */
  temperature: number;
}

export interface SamplesSlice {
  sampleOptions: SampleOptions;
  samples: Record<SampleKind, SampleState>;
  setSampleOptions(patch: Partial<SampleOptions>): void;
  sampleStarted(kind: SampleKind): void;
  sampleDone(kind: SampleKind, prompt: string, text: string): void;
  sampleFailed(kind: SampleKind, error: string): void;
  /** A new adapter makes the old "with adapter" sample stale. */
  clearSample(kind: SampleKind): void;
}

export const DEFAULT_SAMPLE_OPTIONS: SampleOptions = { prompt: 'Once upon a time', maxNewTokens: 48, temperature: 0.8 };

export const createSamplesSlice: Slice<SamplesSlice> = (set) => {
  const put = (kind: SampleKind, state: SampleState) => set((s) => ({ samples: { ...s.samples, [kind]: state } }));
  return {
    sampleOptions: DEFAULT_SAMPLE_OPTIONS,
    samples: { base: { status: 'idle' }, adapted: { status: 'idle' } },
    setSampleOptions: (patch) => set((s) => ({ sampleOptions: { ...s.sampleOptions, ...patch } })),
    sampleStarted: (kind) => put(kind, { status: 'generating' }),
    sampleDone: (kind, prompt, text) => put(kind, { status: 'done', text, prompt }),
    sampleFailed: (kind, error) => put(kind, { status: 'error', error }),
    clearSample: (kind) => put(kind, { status: 'idle' }),
  };
};
