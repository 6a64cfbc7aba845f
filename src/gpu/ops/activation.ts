/**
 * Pointwise activations: GPT-2's tanh-approximated GELU ("gelu_new") and Llama's SwiGLU (silu(gate) * up),
 * with gradients. Gradients are written, not accumulated: their inputs are fresh intermediate tensors.
 * All tensors are flat: only the element count n is checked (any shape with n elements is accepted).
 */
import shader from '../../../shaders/activation.wgsl?raw';
import { type Binding, ceilDiv, grid1d, ro, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import { type GpuTensor, numel, shapeString } from '../tensor';

export interface GeluForwardArgs {
  out: GpuTensor;
  x: GpuTensor;
  n: number;
}

export interface GeluBackwardArgs {
  /** Written (not accumulated). */
  dx: GpuTensor;
  dout: GpuTensor;
  x: GpuTensor;
  n: number;
}

export interface SwigluForwardArgs {
  out: GpuTensor;
  gate: GpuTensor;
  up: GpuTensor;
  n: number;
}

export interface SwigluBackwardArgs {
  /** Written (not accumulated). */
  dgate: GpuTensor;
  /** Written (not accumulated). */
  dup: GpuTensor;
  dout: GpuTensor;
  gate: GpuTensor;
  up: GpuTensor;
  n: number;
}

function checkN(op: string, n: number, tensors: Record<string, GpuTensor>): void {
  if (!Number.isInteger(n) || n < 0) throw new Error(`${op}: n = ${n} must be a non-negative integer`);
  for (const [arg, t] of Object.entries(tensors)) {
    if (numel(t.shape) !== n) throw new Error(`${op}: ${arg} (${t.label}) has shape ${shapeString(t.shape)} (${numel(t.shape)} elements), expected ${n} elements`);
  }
}

function launch(rt: GpuRuntime, entryPoint: string, n: number, bindings: Binding[]): void {
  if (n === 0) return;
  rt.dispatch({ name: entryPoint, shader, entryPoint, uniforms: [n], bindings, workgroups: grid1d(ceilDiv(n, 256)) });
}

/** out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
export function geluForward(rt: GpuRuntime, a: GeluForwardArgs): void {
  checkN('geluForward', a.n, { out: a.out, x: a.x });
  launch(rt, 'gelu_forward', a.n, [rw(a.out), ro(a.x)]);
}

/** dx = dout * gelu'(x) (written). */
export function geluBackward(rt: GpuRuntime, a: GeluBackwardArgs): void {
  checkN('geluBackward', a.n, { dx: a.dx, dout: a.dout, x: a.x });
  launch(rt, 'gelu_backward', a.n, [rw(a.dx), ro(a.dout), ro(a.x)]);
}

/** out = silu(gate) * up: Llama's MLP act_fn(gate_proj(x)) * up_proj(x). */
export function swigluForward(rt: GpuRuntime, a: SwigluForwardArgs): void {
  checkN('swigluForward', a.n, { out: a.out, gate: a.gate, up: a.up });
  launch(rt, 'swiglu_forward', a.n, [rw(a.out), ro(a.gate), ro(a.up)]);
}

/** dgate = dout * up * silu'(gate), dup = dout * silu(gate) (both written). */
export function swigluBackward(rt: GpuRuntime, a: SwigluBackwardArgs): void {
  checkN('swigluBackward', a.n, { dgate: a.dgate, dup: a.dup, dout: a.dout, gate: a.gate, up: a.up });
  launch(rt, 'swiglu_backward', a.n, [rw(a.dgate), rw(a.dup), ro(a.dout), ro(a.gate), ro(a.up)]);
}
