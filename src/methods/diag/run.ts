/**
 * The diagonal methods' run (BitFit, IA3, SSF, norm-only): per-channel affine adapters on linear layers and/or
 * trained norm parameters. Nothing of it is low-rank, so `deltas()` is empty and every change is reported as
 * tensor edits in the checkpoint's stored layout: that one list gives the merged checkpoint, our own delta file,
 * and (for IA3) PEFT's adapter.
 */
import type { Linear } from '../../engine/linear';
import type { Checkpoint } from '../../formats/checkpoint';
import { writeIa3Adapter } from '../../formats/ia3';
import type { TensorEdit } from '../../formats/webpeftDelta';
import { runDeltaFiles } from '../common/deltaFiles';
import type { GpuRuntime } from '../../gpu/runtime';
import type { LinearSpec } from '../../model/spec';
import type { AdapterFiles } from '../../run/api';
import type { LowRankDelta, MethodEdits, MethodRun } from '../method';
import type { LinearAdapter, TrainableParam } from '../types';
import { biasName } from './biases';
import type { ChannelAffineLayer } from './channelLayer';
import type { NormParams } from './normParams';

export interface DiagRunParts {
  method: string;
  layers: Array<{ linear: Linear; layer: ChannelAffineLayer }>;
  norms: NormParams[];
  /** config.json keys the merged model needs (BitFit/SSF biases on a Llama) and the layers given zero biases. */
  configPatch: Record<string, unknown>;
  zeroBiases: LinearSpec[];
  /** IA3: exported as PEFT's IA3 adapter; the others as a webpeft delta. */
  ia3?: { targetModules: string[]; feedforwardModules: string[]; fanInFanOut: boolean };
  settings: Record<string, unknown>;
}

export class DiagRun implements MethodRun {
  readonly method: string;
  readonly adapters = new Map<string, LinearAdapter>();

  constructor(private readonly parts: DiagRunParts) {
    this.method = parts.method;
    for (const { linear, layer } of parts.layers) {
      linear.adapters.push(layer);
      this.adapters.set(linear.spec.modulePath, layer);
    }
  }

  params(): TrainableParam[] {
    return [...this.parts.layers.flatMap((l) => l.layer.params()), ...this.parts.norms.flatMap((n) => n.params())];
  }

  parameterCount(): number {
    let n = 0;
    for (const p of this.params()) n += p.value.shape.reduce((a, b) => a * b, 1);
    return n;
  }

  async deltas(): Promise<LowRankDelta[]> {
    return [];
  }

  async edits(rt: GpuRuntime): Promise<MethodEdits> {
    const edits: TensorEdit[] = [];
    for (const { linear, layer } of this.parts.layers) {
      const s = linear.spec;
      const v = await layer.values(rt);
      const stored = s.layout === 'out_in' ? [s.outFeatures, s.inFeatures] : [s.inFeatures, s.outFeatures];
      const outAxis = s.layout === 'out_in' ? 0 : 1;
      // y = s_out ⊙ ((x ⊙ s_in) Wᵀ + b) + β  =  x (diag(s_out) W diag(s_in))ᵀ + (s_out ⊙ b + β)
      if (v.inScale) edits.push({ kind: 'scale', tensor: s.weightName, shape: stored, axis: 1 - outAxis, values: v.inScale });
      if (v.outScale) {
        edits.push({ kind: 'scale', tensor: s.weightName, shape: stored, axis: outAxis, values: v.outScale });
        if (s.biasName) edits.push({ kind: 'scale', tensor: s.biasName, shape: [s.outFeatures], axis: 0, values: v.outScale });
      }
      if (v.shift) edits.push({ kind: 'add', tensor: biasName(s), shape: [s.outFeatures], values: v.shift });
    }
    // Layers the config patch gives a bias that this run did not shift still need the tensor (zeros).
    const written = new Set(edits.filter((e) => e.kind === 'add').map((e) => e.tensor));
    for (const z of this.parts.zeroBiases) {
      const name = biasName(z);
      if (!written.has(name)) edits.push({ kind: 'add', tensor: name, shape: [z.outFeatures], values: new Float32Array(z.outFeatures) });
    }
    for (const n of this.parts.norms) for (const d of await n.deltas()) edits.push({ kind: 'add', tensor: d.tensor, shape: [d.delta.length], values: d.delta });
    return { edits, configPatch: { ...this.parts.configPatch } };
  }

  async exportAdapter(rt: GpuRuntime, _base: Checkpoint, baseModelNameOrPath: string): Promise<AdapterFiles> {
    const ia3 = this.parts.ia3;
    if (ia3) {
      const vectors = [];
      for (const { linear, layer } of this.parts.layers) {
        const v = await layer.values(rt);
        const values = v.inScale ?? v.outScale;
        if (values) vectors.push({ modulePath: linear.spec.modulePath, feedforward: v.inScale !== undefined, values });
      }
      return writeIa3Adapter({ baseModelNameOrPath, targetModules: ia3.targetModules, feedforwardModules: ia3.feedforwardModules, fanInFanOut: ia3.fanInFanOut, vectors });
    }
    return runDeltaFiles(rt, this, baseModelNameOrPath, this.parts.settings);
  }

  setEnabled(enabled: boolean): void {
    for (const n of this.parts.norms) {
      if (enabled) n.install();
      else n.uninstall();
    }
  }

  async release(rt: GpuRuntime): Promise<void> {
    for (const { linear, layer } of this.parts.layers) {
      const i = linear.adapters.indexOf(layer);
      if (i >= 0) linear.adapters.splice(i, 1);
      layer.release(rt);
    }
    for (const n of this.parts.norms) n.release();
  }
}
