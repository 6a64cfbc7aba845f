import type { ModelSummary } from '../../run/api';
import { settingsForModel } from './defaults';
import type { Loadable, Slice } from './types';

export interface ModelSlice {
  model: Loadable<ModelSummary>;
  modelLoading(label: string): void;
  /** Also adapts the settings to the model (the method's default targets, sequence length it can hold). */
  modelLoaded(summary: ModelSummary, label: string): void;
  modelFailed(error: string, label: string): void;
  /** The worker was lost: whatever it held is gone. */
  modelLost(): void;
}

export const createModelSlice: Slice<ModelSlice> = (set) => ({
  model: { status: 'empty' },
  modelLoading: (label) => set({ model: { status: 'loading', label } }),
  modelLoaded: (value, label) =>
    set((s) => {
      const adapted = settingsForModel(value, s.settings.lora, s.settings.train, s.settings.method);
      return { model: { status: 'ready', value, label }, settings: { ...s.settings, ...adapted } };
    }),
  modelFailed: (error, label) => set({ model: { status: 'error', error, label } }),
  modelLost: () => set({ model: { status: 'empty' }, dataset: { status: 'empty' } }),
});
