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
  /**
   * For adapters that change the base product itself rather than add to it (IA3, SSF): per-channel scaling of
   * the layer's input or output. At most one adapter of a layer has one. Such an adapter's own forward/backward
   * are still called (for additive parts, e.g. SSF's shift) after the wrapped base product.
   */
  readonly wrap?: BaseWrap;
}

/**
 * y = post(base(pre(x))) where pre(x) = x ⊙ s_in and post(z) = z ⊙ s_out (z includes the base bias). The
 * wrap owns the buffers for the scaled input and the unscaled output, so a layer that accumulates into y
 * (o_proj adds into the residual stream) only scales its own product.
 */
export interface BaseWrap {
  /** The input the base matmul reads: x itself, or x ⊙ s_in in the wrap's buffer. */
  input(rt: GpuRuntime, x: GpuTensor, M: number): GpuTensor;
  /** Where the base matmul writes when the output is scaled (the saved z), or null to write into y directly. */
  output(rt: GpuRuntime, M: number): GpuTensor | null;
  /** y (+)= z ⊙ s_out, for a wrap whose output() gave a buffer. */
  finishForward(rt: GpuRuntime, z: GpuTensor, y: GpuTensor, M: number, accumulate: boolean): void;
  /** ∂L/∂z from dy (s_out's gradient accumulates from dy and the saved z); dy itself when the output is not scaled. */
  outputGrad(rt: GpuRuntime, dy: GpuTensor, M: number): GpuTensor;
  /** Where the base backward writes ∂L/∂(x ⊙ s_in) when the input is scaled, or null to write dx directly. */
  inputGrad(rt: GpuRuntime, M: number): GpuTensor | null;
  /** dx (+)= g ⊙ s_in, and s_in's gradient from g and x, for a wrap whose inputGrad() gave a buffer. */
  finishBackward(rt: GpuRuntime, x: GpuTensor, g: GpuTensor, dx: GpuTensor, M: number, accumulate: boolean): void;
}

/** A method builds adapters for the linear layers it targets (from its config), on the GPU. */
export interface AdapterFactory {
  targets(linear: LinearSpec): boolean;
  create(rt: GpuRuntime, linear: LinearSpec, layerIndex: number, maxRows: number): LinearAdapter;
}
