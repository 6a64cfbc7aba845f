/**
 * A fine-tuning method attached to a loaded model: what the session trains, exports and measures. Every method
 * (LoRA, PiSSA, SVFit, AdaLoRA, ...) builds one of these in its own folder; the session and the training loop
 * only see this interface, so adding a method touches no engine code.
 *
 * The one shared currency is `delta()`: every method can say, exactly, what it has added to each original
 * checkpoint weight as a low-rank product ΔW = scaling · B A. That single fact gives every method a plain-LoRA
 * export on the ORIGINAL base (PEFT's rank-2r conversion for PiSSA-like methods), a merged full checkpoint, and
 * the spectra of ΔW and W + ΔW.
 */
import type { Checkpoint } from '../formats/checkpoint';
import type { GpuRuntime } from '../gpu/runtime';
import type { Linear } from '../engine/linear';
import type { OptimizerMoments } from '../engine/optimizer';
import type { NormWeights } from '../engine/weights';
import type { TensorEdit } from '../formats/webpeftDelta';
import type { ModelSpec } from '../model/spec';
import type { LinearSpec } from '../model/spec';
import type { AdapterFiles, LayerSparsity } from '../run/api';
import type { LinearAdapter, TrainableParam } from './types';

/** ΔW of one linear layer in nn.Linear orientation: ΔW[out, in] = scaling · B[out, k] · A[k, in]. */
export interface LowRankDelta {
  linear: LinearSpec;
  k: number;
  /** [out, k] row-major */
  B: Float32Array;
  /** [k, in] row-major */
  A: Float32Array;
  scaling: number;
}

/** What a method's setup may use besides the model: the checkpoint (original weights) and calibration passes. */
export interface MethodSetup {
  rt: GpuRuntime;
  linears: Linear[];
  /**
   * The model beyond its linears: its spec and every norm (ln1, ln2 per block, final), for the methods that train
   * norms or add biases (norm-only, BitFit, SSF). The session always gives it; weight-only unit tests may not.
   */
  model?: { spec: ModelSpec; norms: NormWeights[] };
  /** The original weights, as stored (F16/BF16/F32), read lazily. */
  checkpoint: Checkpoint;
  seed: number;
  /**
   * Runs `batches` training batches through the model with the adapters currently attached (probes included):
   * forward only, or forward and backward when `backward` (gradients reach adapters that have parameters).
   * EVA collects layer inputs this way; LoRA-SB the first full-weight gradient.
   */
  calibrate(batches: number, backward: boolean): Promise<void>;
  /** Progress of a slow setup (SVDs of many layers), fraction in [0, 1]. */
  progress(message: string, fraction: number): void;
}

export interface MethodEdits {
  edits: TensorEdit[];
  configPatch: Record<string, unknown>;
}

export interface MethodRun {
  /** PEFT-ish name of the method, e.g. "lora", "pissa". */
  readonly method: string;
  /** The adapters attached to the model's linear layers, by module path. */
  readonly adapters: ReadonlyMap<string, LinearAdapter>;
  params(): TrainableParam[];
  /** After all micro-batches' backward of a step, before clipping and AdamW: add regulariser gradients. */
  beforeOptimizerStep?(rt: GpuRuntime, step: number, totalSteps: number): void | Promise<void>;
  /** After AdamW of a step (gradients still hold that step's values): budget schedules, masks, re-selection. */
  afterOptimizerStep?(rt: GpuRuntime, step: number, totalSteps: number, optimizer: OptimizerMoments): Promise<void>;
  /** Exact ΔW of every adapted layer against the original checkpoint weight, as far as it is low-rank. */
  deltas(rt: GpuRuntime): Promise<LowRankDelta[]>;
  /**
   * Everything else the method changed (sparse entries, per-channel scales, biases, norms) against the original
   * checkpoint, in stored layout and application order, and the config.json keys a merged checkpoint needs (a
   * Llama given biases by BitFit needs attention_bias). Applied after the low-rank deltas.
   */
  edits?(rt: GpuRuntime): Promise<MethodEdits>;
  /**
   * Switches what the method changed outside the linears' adapter lists (trained norm weights) off and on, so
   * "without adapter" is the original model.
   */
  setEnabled?(enabled: boolean): void;
  /** Sparse methods: the kept index sets per layer and how they changed, for the page. */
  sparsity?(): LayerSparsity[];
  /** The adapter files PEFT loads on the ORIGINAL base (`PeftModel.from_pretrained`). */
  exportAdapter(rt: GpuRuntime, base: Checkpoint, baseModelNameOrPath: string): Promise<AdapterFiles>;
  /**
   * What the method did to the frozen base weights (PiSSA, MiLoRA, OLoRA, SORSA replace W by a residual):
   * W_now − W_original per changed layer. Lets the session show the ORIGINAL base ("without adapter") by
   * adding the opposite back; absent or empty when the base is untouched.
   */
  baseChange?(): LowRankDelta[];
  /** Trainable parameter count. */
  parameterCount(): number;
  /** Detaches the adapters, frees their buffers and restores any base weight the method replaced. */
  release(rt: GpuRuntime): Promise<void>;
}
