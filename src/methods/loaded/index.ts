/**
 * Opening an adapter folder of any supported format and applying it: PEFT LoRA and AdaLoRA (as LoRA layers),
 * PEFT IA3 and SHiRA and the webpeft delta (as tensor edits, see fromEdits.ts).
 */
import type { Linear } from '../../engine/linear';
import type { NormWeights } from '../../engine/weights';
import { detectAdapterKind } from '../../formats/adapterKind';
import { ia3VectorToEdits, readIa3Adapter } from '../../formats/ia3';
import { openAdapter } from '../../formats/peft';
import { readShiraAdapter, shiraFlatIndices, shiraLayerToEdit } from '../../formats/shira';
import { type TensorEdit, readDelta } from '../../formats/webpeftDelta';
import type { GpuRuntime } from '../../gpu/runtime';
import type { AdapterKind, NamedBlob } from '../../run/api';
import { loraConfigFromPeft, readLoraValues } from '../lora/peft';
import { LoraRun } from '../lora/run';
import type { LowRankDelta, MethodRun } from '../method';
import { applyEdits } from './fromEdits';
import { LoadedRun } from './run';

/** An adapter folder read and checked against the model, not yet applied (so a bad folder changes nothing). */
export interface PreparedAdapter {
  kind: AdapterKind;
  modules: number;
  r: number;
  /** Applies it to the model's layers (after the caller has removed any previous adapter). */
  attach(): Promise<MethodRun>;
}

export async function prepareAdapter(rt: GpuRuntime, files: NamedBlob[], linears: Linear[], norms: NormWeights[]): Promise<PreparedAdapter> {
  const kind = await detectAdapterKind(files);
  const byPath = new Map(linears.map((l) => [l.spec.modulePath, l.spec]));
  const shapes = new Map(linears.map((l) => [l.spec.modulePath, { inFeatures: l.spec.inFeatures, outFeatures: l.spec.outFeatures }]));
  const specOf = (modulePath: string, file: string) => {
    const s = byPath.get(modulePath);
    if (!s) throw new Error(`${file}: the adapter names ${modulePath}, which is not a linear layer of this model`);
    return s;
  };
  if (kind === 'lora' || kind === 'adalora') {
    const opened = await openAdapter(files);
    const cfg = loraConfigFromPeft(opened);
    const values = await readLoraValues(opened);
    return { kind, modules: opened.modules.length, r: cfg.r, attach: async () => LoraRun.attach(rt, linears, cfg, 0, values) };
  }
  let edits: TensorEdit[];
  let configPatch: Record<string, unknown> = {};
  let method: string = kind;
  let r = 0;
  let modules: number;
  if (kind === 'ia3') {
    const { vectors } = await readIa3Adapter(files, { shapes });
    edits = vectors.flatMap((v) => ia3VectorToEdits(v, specOf(v.modulePath, 'adapter_model.safetensors')));
    modules = vectors.length;
  } else if (kind === 'shira') {
    const { config, layers } = await readShiraAdapter(files, { shapes });
    edits = layers.map((l) => {
      const spec = specOf(l.modulePath, 'adapter_model.safetensors');
      return shiraLayerToEdit({ modulePath: l.modulePath, indices: shiraFlatIndices(l, spec.inFeatures, spec.outFeatures, `adapter_model.safetensors: ${l.modulePath}`), values: l.values }, spec);
    });
    modules = layers.length;
    r = config.r;
  } else {
    const d = await readDelta(files);
    edits = d.edits;
    configPatch = d.configPatch;
    method = d.method;
    modules = new Set(edits.map((e) => e.tensor)).size;
  }
  const lowRank: LowRankDelta[] = [];
  for (const e of edits) {
    if (e.kind !== 'lowrank_add') continue;
    const linear = linears.find((l) => l.spec.weightName === e.tensor);
    if (linear) lowRank.push({ linear: linear.spec, k: e.rank, A: e.A, B: e.B, scaling: e.scaling });
  }
  const source = kind === 'webpeft-delta' ? 'webpeft_delta.json' : 'adapter_model.safetensors';
  return {
    kind,
    modules,
    r,
    attach: async () => new LoadedRun(method, await applyEdits(rt, edits, linears, norms, source), edits, configPatch, lowRank),
  };
}
