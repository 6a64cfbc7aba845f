/** A webpeft delta (webpeft_delta.json + .safetensors) as the adapter-file pair the page and the CLI save. */
import { DELTA_JSON, DELTA_SAFETENSORS, type DeltaFile, type TensorEdit, writeDelta } from '../../formats/webpeftDelta';
import type { AdapterFiles } from '../../run/api';
import type { GpuRuntime } from '../../gpu/runtime';
import type { LowRankDelta, MethodRun } from '../method';

export function deltaAdapterFiles(d: DeltaFile): AdapterFiles {
  const files = writeDelta(d);
  const json = files.find((f) => f.name === DELTA_JSON);
  const st = files.find((f) => f.name === DELTA_SAFETENSORS);
  if (!json || !st) throw new Error('writeDelta did not produce both delta files');
  return { config: new TextDecoder().decode(json.data), weights: st.data, configName: DELTA_JSON, weightsName: DELTA_SAFETENSORS };
}

/** Low-rank deltas as `lowrank_add` edits of the stored weights (DSEE's LoRA part; any run exported as a delta). */
export function lowRankEdits(deltas: LowRankDelta[]): TensorEdit[] {
  return deltas
    .filter((d) => d.k > 0)
    .map((d) => {
      const s = d.linear;
      const shape = s.layout === 'out_in' ? [s.outFeatures, s.inFeatures] : [s.inFeatures, s.outFeatures];
      return { kind: 'lowrank_add', tensor: s.weightName, shape, transposed: s.layout === 'in_out', A: d.A, B: d.B, rank: d.k, scaling: d.scaling };
    });
}

/** A run's whole update as a webpeft delta: its low-rank deltas as `lowrank_add`, then its other edits. */
export async function runDeltaFiles(rt: GpuRuntime, run: Pick<MethodRun, 'method' | 'deltas' | 'edits'>, baseModelNameOrPath: string, settings?: Record<string, unknown>): Promise<AdapterFiles> {
  const extra = run.edits ? await run.edits(rt) : { edits: [], configPatch: {} };
  const edits = [...lowRankEdits(await run.deltas(rt)), ...extra.edits];
  return deltaAdapterFiles({ method: run.method, baseModelNameOrPath, configPatch: extra.configPatch, edits, settings });
}
