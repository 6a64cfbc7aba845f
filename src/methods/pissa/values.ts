/**
 * Trained lora_A / lora_B values written into a run's LoRA layers, keeping its initialisation (A0, B0 and the
 * residual base). This is how PEFT loads a saved PiSSA/OLoRA adapter (init "pissa", rank r): re-run the init on
 * the original base, then load the trained factors.
 */
import { type OpenedAdapter, loraKey, rankFor, scalingFor } from '../../formats/peft';
import type { GpuRuntime } from '../../gpu/runtime';
import type { LoraValues } from '../lora/attach';
import { LoraLayer } from '../lora/layer';
import { readLoraValues } from '../lora/peft';
import type { MethodRun } from '../method';

export function writeLoraValues(rt: GpuRuntime, run: MethodRun, values: LoraValues): void {
  const used = new Set<string>();
  // Dispatches already recorded must read the old values: submit them before the queue writes.
  rt.flush();
  for (const [path, adapter] of run.adapters) {
    if (!(adapter instanceof LoraLayer)) throw new Error(`${run.method}: the adapter of ${path} is not a LoRA layer`);
    const { r, linear } = adapter;
    for (const [which, t, n] of [['A', adapter.A, r * linear.inFeatures], ['B', adapter.B, linear.outFeatures * r]] as const) {
      const key = loraKey(path, which);
      const v = values.get(key);
      if (!v) throw new Error(`adapter has no ${key} for the ${run.method} layer ${path}`);
      if (v.length !== n) throw new Error(`${key} has ${v.length} values, expected ${which === 'A' ? `[${r}, ${linear.inFeatures}]` : `[${linear.outFeatures}, ${r}]`}`);
      rt.write(t, v);
      used.add(key);
    }
  }
  const unused = [...values.keys()].filter((k) => !used.has(k));
  if (unused.length > 0) throw new Error(`adapter tensor ${unused[0]} matches no ${run.method} layer${unused.length > 1 ? ` (and ${unused.length - 1} more)` : ''}`);
}

/**
 * A PEFT adapter saved from a PiSSA/OLoRA run (not the rank-2r conversion) loaded into a run attached with the
 * same settings: every layer's rank and scaling must agree, then the trained factors replace A and B.
 */
export async function loadTrainedAdapter(rt: GpuRuntime, run: MethodRun, adapter: OpenedAdapter): Promise<void> {
  const file = adapter.weights.fileName;
  for (const [path, layer] of run.adapters) {
    if (!(layer instanceof LoraLayer)) continue;
    const r = rankFor(adapter.config, path);
    const s = scalingFor(adapter.config, path);
    if (r !== layer.r) throw new Error(`${file}: ${path} has rank ${r}, the ${run.method} run ${layer.r}`);
    if (Math.abs(s - layer.scale) > 1e-12 * Math.abs(layer.scale)) throw new Error(`${file}: ${path} has scaling ${s}, the ${run.method} run ${layer.scale}`);
  }
  writeLoraValues(rt, run, await readLoraValues(adapter));
}
