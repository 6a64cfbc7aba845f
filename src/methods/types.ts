/**
 * The adapter interface: the seam that keeps methods apart from the engine. Every targeted linear layer
 * `y = x Wᵀ (+ b)` holds a frozen base weight and zero or more adapters; the engine asks each adapter for its
 * extra output, its parameter gradients and its contribution to dx. Adding a method touches no engine code.
 */
import type { GpuRuntime } from '../gpu/runtime';
import type { GpuTensor } from '../gpu/tensor';
import type { LinearSpec } from '../model/spec';

export interface TrainableParam {
  /** PEFT key of the tensor, e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight */
  name: string;
  value: GpuTensor;
  grad: GpuTensor;
  /** Whether AdamW's decoupled weight decay applies. */
  decay: boolean;
}

/** Per forward call: training enables dropout; the seed makes dropout masks reproducible and equal in backward. */
export interface PassContext {
  training: boolean;
  seed: number;
}

export interface LinearAdapter {
  /** y[M, out] += f(x[M, in]); saves what backward needs (called once per layer per forward). */
  forward(rt: GpuRuntime, x: GpuTensor, y: GpuTensor, M: number, ctx: PassContext): void;
  /** Parameter gradients += ∂L/∂θ and dx[M, in] += the adapter's part of ∂L/∂x, given dy[M, out]. */
  backward(rt: GpuRuntime, x: GpuTensor, dy: GpuTensor, dx: GpuTensor, M: number, ctx: PassContext): void;
  params(): TrainableParam[];
  /**
   * True for probes with no parameters that still need the backward pass to reach them (LoRA-SB's full-weight
   * gradient at init). Layers with trainable parameters get a backward anyway.
   */
  readonly needsBackward?: boolean;
}

/** A method builds adapters for the linear layers it targets (from its config), on the GPU. */
export interface AdapterFactory {
  targets(linear: LinearSpec): boolean;
  create(rt: GpuRuntime, linear: LinearSpec, layerIndex: number, maxRows: number): LinearAdapter;
}
