import type { LoraSettings, MethodName, MethodOptions } from '../../run/api';
import { DEFAULT_DATA, DEFAULT_LORA, DEFAULT_METHOD, DEFAULT_METHOD_OPTIONS, DEFAULT_TRAIN, defaultTargetsFor, targetsFit, type DataOptions, type TrainOptions } from './defaults';
import type { Slice } from './types';

export type TrainableCount =
  | { status: 'unknown' }
  | { status: 'counting' }
  | { status: 'ready'; count: number }
  | { status: 'error'; error: string };

export interface SettingsSlice {
  settings: { method: MethodName; options: MethodOptions; lora: LoraSettings; train: TrainOptions; data: DataOptions };
  trainable: TrainableCount;
  /**
   * IA3 targets other modules than the rest by default (PEFT's IA3 defaults: k, v and the MLP's down projection):
   * switching into or out of IA3 puts the targets of the other side here and brings back what was stashed (or
   * the new side's defaults), so switching back restores the person's choice.
   */
  stashedTargets: string[] | null;
  /** Switching method keeps the LoRA block and every option value (switching back restores them). */
  setMethod(method: MethodName): void;
  setMethodOptions(patch: Partial<MethodOptions>): void;
  setLora(patch: Partial<LoraSettings>): void;
  toggleTarget(name: string, on: boolean): void;
  setTrain(patch: Partial<TrainOptions>): void;
  setData(patch: Partial<DataOptions>): void;
  setTrainable(count: TrainableCount): void;
}

/** Methods whose default targets differ from LoRA's. */
const targetSide = (m: MethodName): 'ia3' | 'lora' => (m === 'ia3' ? 'ia3' : 'lora');

export const createSettingsSlice: Slice<SettingsSlice> = (set) => ({
  settings: { method: DEFAULT_METHOD, options: DEFAULT_METHOD_OPTIONS, lora: DEFAULT_LORA, train: DEFAULT_TRAIN, data: DEFAULT_DATA },
  trainable: { status: 'unknown' },
  stashedTargets: null,
  setMethod: (method) =>
    set((s) => {
      if (targetSide(method) === targetSide(s.settings.method)) return { settings: { ...s.settings, method } };
      const model = s.model.status === 'ready' ? s.model.value : undefined;
      const stash = s.stashedTargets;
      const usable = stash !== null && stash.length > 0 && (!model || targetsFit(stash, model));
      const targets = usable ? [...stash] : defaultTargetsFor(method, model);
      return { settings: { ...s.settings, method, lora: { ...s.settings.lora, targets } }, stashedTargets: s.settings.lora.targets };
    }),
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
