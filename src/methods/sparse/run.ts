/**
 * A sparse method's run (sparse FT with prune-and-regrow, SaRA, gradient-selected subnetworks, DSEE): a
 * SparseLayer per target linear, plus LoRA on the same layers for DSEE. The sparse part is reported as tensor
 * edits (sparse_add in the checkpoint's stored layout), the LoRA part as low-rank deltas; the merged checkpoint
 * takes both. The export is PEFT's SHiRA where the budget fits it (K = r(in + out) on nn.Linear layers, one r),
 * else our own delta.
 */
import type { Linear } from '../../engine/linear';
import type { OptimizerMoments } from '../../engine/optimizer';
import type { Checkpoint } from '../../formats/checkpoint';
import { writeShiraAdapter } from '../../formats/shira';
import type { TensorEdit } from '../../formats/webpeftDelta';
import type { GpuRuntime } from '../../gpu/runtime';
import type { AdapterFiles, LayerSparsity, MethodOptions } from '../../run/api';
import { Rng } from '../../util/rng';
import { runDeltaFiles } from '../common/deltaFiles';
import type { LoraRun } from '../lora/run';
import type { LowRankDelta, MethodEdits, MethodRun } from '../method';
import type { LinearAdapter, TrainableParam } from '../types';
import type { SparseMethod } from './budget';
import type { SparseLayer } from './layer';
import { addNuclearGradient } from './nuclear';
import { drawCandidates, isRegrowStep, pruneAndRegrow, regrowFractionAt } from './regrow';
import { reselectSmallest, type FrozenEntries } from './sara';
import { type IndexChanges, layerSparsity } from './stats';
import { toStoredOrder } from './select';

export interface SparseEntry {
  linear: Linear;
  layer: SparseLayer;
  changes: IndexChanges;
  /** SaRA: deltas of entries that left the trained set at a re-selection (kept, frozen). */
  frozen?: FrozenEntries;
}

export interface SparseRunParts {
  method: SparseMethod;
  entries: SparseEntry[];
  lora?: LoraRun;
  options: MethodOptions;
  seed: number;
  /** The SHiRA rank when every layer's budget is r(in + out) on an nn.Linear layer, else null. */
  shiraR: number | null;
  settings: Record<string, unknown>;
}

export class SparseRun implements MethodRun {
  readonly method: string;
  readonly adapters = new Map<string, LinearAdapter>();
  private readonly rng: Rng;

  constructor(private readonly parts: SparseRunParts) {
    this.method = parts.method;
    this.rng = new Rng((parts.seed ^ 0x2545f491) >>> 0);
    for (const e of parts.entries) {
      e.linear.adapters.push(e.layer);
      this.adapters.set(e.linear.spec.modulePath, e.layer);
    }
    if (parts.method === 'sparse' && parts.options.regrowEvery > 0) for (const e of parts.entries) drawCandidates(e.layer, parts.options, this.rng);
  }

  params(): TrainableParam[] {
    return [...this.parts.entries.flatMap((e) => e.layer.params()), ...(this.parts.lora?.params() ?? [])];
  }

  parameterCount(): number {
    return this.parts.entries.reduce((n, e) => n + e.layer.nnz, 0) + (this.parts.lora?.parameterCount() ?? 0);
  }

  /** SaRA's nuclear-norm regulariser, added to the kept values' gradients after the step's backward passes. */
  async beforeOptimizerStep(rt: GpuRuntime, step: number): Promise<void> {
    const o = this.parts.options;
    if (this.parts.method !== 'sara' || !(o.saraNuclear > 0)) return;
    for (const [i, e] of this.parts.entries.entries()) await addNuclearGradient(rt, e.layer, e.frozen?.layer ?? null, o.saraNuclear, o.saraNuclearRank, (this.parts.seed + 7919 * step + i) >>> 0);
  }

  async afterOptimizerStep(rt: GpuRuntime, step: number, totalSteps: number, optimizer: OptimizerMoments): Promise<void> {
    const done = step + 1;
    const o = this.parts.options;
    if (this.parts.method === 'sparse' && isRegrowStep(done, totalSteps, o)) {
      const fraction = regrowFractionAt(done, totalSteps, o);
      for (const e of this.parts.entries) {
        const param = e.layer.params()[0];
        const r = await pruneAndRegrow(rt, e.layer, Math.floor(fraction * e.layer.nnz), param ? optimizer.moments(param) : undefined);
        recordChange(e.changes, r.dropped, r.regrown);
        const more = regrowFractionAt(done + o.regrowEvery, totalSteps, o) > 0;
        if (more) drawCandidates(e.layer, o, this.rng);
        else e.layer.setCandidates(null);
      }
    }
    if (this.parts.method === 'sara' && o.saraReselectAt > 0 && done === Math.max(1, Math.round(o.saraReselectAt * totalSteps)) && done < totalSteps) {
      for (const e of this.parts.entries) {
        const param = e.layer.params()[0];
        const r = await reselectSmallest(rt, e, param ? optimizer.moments(param) : undefined);
        recordChange(e.changes, r.dropped, r.regrown);
      }
    }
  }

  async deltas(rt: GpuRuntime): Promise<LowRankDelta[]> {
    return this.parts.lora ? this.parts.lora.deltas(rt) : [];
  }

  /** Each layer's sparse ΔW (trained entries plus any frozen by SaRA's re-selection), in linear order. */
  private async sparseDeltas(): Promise<Array<{ entry: SparseEntry; flat: Uint32Array; values: Float32Array }>> {
    const out = [];
    for (const entry of this.parts.entries) {
      const values = await entry.layer.readValues();
      const merged = entry.frozen ? mergeEntries(entry.layer.flat, values, entry.frozen.flat, entry.frozen.values) : { flat: entry.layer.flat, values };
      out.push({ entry, ...merged });
    }
    return out;
  }

  async edits(): Promise<MethodEdits> {
    const edits: TensorEdit[] = [];
    for (const { entry, flat, values } of await this.sparseDeltas()) {
      const s = entry.linear.spec;
      const { stored, order } = toStoredOrder(flat, s);
      const shape = s.layout === 'out_in' ? [s.outFeatures, s.inFeatures] : [s.inFeatures, s.outFeatures];
      edits.push({ kind: 'sparse_add', tensor: s.weightName, shape, indices: stored, values: Float32Array.from(order, (e) => values[e]) });
    }
    return { edits, configPatch: {} };
  }

  async exportAdapter(rt: GpuRuntime, _base: Checkpoint, baseModelNameOrPath: string): Promise<AdapterFiles> {
    const r = this.parts.shiraR;
    const frozen = this.parts.entries.some((e) => e.frozen && e.frozen.flat.length > 0);
    if (r !== null && !this.parts.lora && !frozen) {
      const layers = [];
      for (const { entry, flat, values } of await this.sparseDeltas()) {
        const s = entry.linear.spec;
        layers.push({ modulePath: s.modulePath, inFeatures: s.inFeatures, outFeatures: s.outFeatures, indices: flat, values });
      }
      const targetModules = [...new Set(this.parts.entries.map((e) => e.linear.spec.name))];
      return writeShiraAdapter({ baseModelNameOrPath, r, randomSeed: this.parts.seed, targetModules, layers });
    }
    return runDeltaFiles(rt, this, baseModelNameOrPath, this.parts.settings);
  }

  sparsity(): LayerSparsity[] {
    return this.parts.entries.map((e) => layerSparsity(e.linear.spec.modulePath, e.layer.flat, e.linear.spec.outFeatures, e.linear.spec.inFeatures, e.changes));
  }

  async release(rt: GpuRuntime): Promise<void> {
    for (const e of this.parts.entries) {
      const i = e.linear.adapters.indexOf(e.layer);
      if (i >= 0) e.linear.adapters.splice(i, 1);
      e.layer.release();
      e.frozen?.layer?.release();
      if (e.frozen?.layer) {
        const j = e.linear.adapters.indexOf(e.frozen.layer);
        if (j >= 0) e.linear.adapters.splice(j, 1);
      }
    }
    await this.parts.lora?.release(rt);
  }
}

function recordChange(c: IndexChanges, dropped: number, regrown: number): void {
  c.updates++;
  c.dropped += dropped;
  c.regrown += regrown;
  c.lastDropped = dropped;
  c.lastRegrown = regrown;
}

/** The union of two disjoint sorted entry lists with their values. */
function mergeEntries(fa: Uint32Array, va: Float32Array, fb: Uint32Array, vb: Float32Array): { flat: Uint32Array; values: Float32Array } {
  const flat = new Uint32Array(fa.length + fb.length);
  const values = new Float32Array(flat.length);
  let a = 0;
  let b = 0;
  for (let e = 0; e < flat.length; e++) {
    if (b >= fb.length || (a < fa.length && fa[a] < fb[b])) {
      flat[e] = fa[a];
      values[e] = va[a++];
    } else {
      flat[e] = fb[b];
      values[e] = vb[b++];
    }
  }
  return { flat, values };
}

