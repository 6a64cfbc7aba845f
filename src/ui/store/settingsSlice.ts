import type { LoraSettings, MethodName, MethodOptions } from '../../run/api';
import { DEFAULT_DATA, DEFAULT_LORA, DEFAULT_METHOD, DEFAULT_METHOD_OPTIONS, DEFAULT_TRAIN, type DataOptions, type TrainOptions } from './defaults';
import type { Slice } from './types';

export type TrainableCount =
  | { status: 'unknown' }
  | { status: 'counting' }
  | { status: 'ready'; count: number }
  | { status: 'error'; error: string };

export interface SettingsSlice {
  settings: { method: MethodName; options: MethodOptions; lora: LoraSettings; train: TrainOptions; data: DataOptions };
  trainable: TrainableCount;
  /** Switching method keeps the LoRA block and every option value (switching back restores them). */
  setMethod(method: MethodName): void;
  setMethodOptions(patch: Partial<MethodOptions>): void;
  setLora(patch: Partial<LoraSettings>): void;
  toggleTarget(name: string, on: boolean): void;
  setTrain(patch: Partial<TrainOptions>): void;
  setData(patch: Partial<DataOptions>): void;
  setTrainable(count: TrainableCount): void;
}

export const createSettingsSlice: Slice<SettingsSlice> = (set) => ({
  settings: { method: DEFAULT_METHOD, options: DEFAULT_METHOD_OPTIONS, lora: DEFAULT_LORA, train: DEFAULT_TRAIN, data: DEFAULT_DATA },
  trainable: { status: 'unknown' },
  setMethod: (method) => set((s) => ({ settings: { ...s.settings, method } })),
  setMethodOptions: (patch) => set((s) => ({ settings: { ...s.settings, options: { ...s.settings.options, ...patch } } })),
  setLora: (patch) => set((s) => ({ settings: { ...s.settings, lora: { ...s.settings.lora, ...patch } } })),
  toggleTarget: (name, on) =>
    set((s) => {
      const current = s.settings.lora.targets.filter((t) => t !== name);
      const targets = on ? [...current, name] : current;
      return { settings: { ...s.settings, lora: { ...s.settings.lora, targets } } };
    }),
  setTrain: (patch) => set((s) => ({ settings: { ...s.settings, train: { ...s.settings.train, ...patch } } })),
  setData: (patch) => set((s) => ({ settings: { ...s.settings, data: { ...s.settings.data, ...patch } } })),
  setTrainable: (trainable) => set({ trainable }),
});
