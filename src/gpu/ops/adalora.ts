/**
 * AdaLoRA's RankAllocator kernels (shaders/adalora.wgsl), PEFT's update_ipt / _element_score / _combine_ipt /
 * masked_fill_ on the GPU so a step reads back only one score per singular triplet:
 *   adaloraImportance     per entry of a factor: I = |θ g|, Ī ← β1 Ī + (1 − β1) I, Ū ← β2 Ū + (1 − β2)|I − Ī|
 *   adaloraTripletScores  per rank j of a layer: Ī_E Ū_E [j] + (mean over A's row j + mean over B's column j of Ī Ū)
 *   adaloraMaskCore       E[j] = 0 where keep[offset + j] = 0
 * An EMA state tensor is [2, n]: Ī then Ū of the factor's n entries, in the factor's layout.
 */
import shader from '../../../shaders/adalora.wgsl?raw';
import { ceilDiv, f32, grid1d, ro, rw, type UniformValue } from '../kernel';
import type { GpuRuntime } from '../runtime';
import { type GpuTensor, expectAtLeast, expectShape, numel } from '../tensor';
import { expectDims, expectGrid, expectNoAlias } from './matmul';

function expectF32(op: string, arg: string, t: GpuTensor): void {
  if (t.dtype !== 'f32') throw new Error(`${op}: ${arg} (${t.label}) is ${t.dtype}, expected f32`);
}

function uniforms(p: { n?: number; k?: number; inF?: number; outF?: number; offset?: number; beta1?: number; beta2?: number }): UniformValue[] {
  return [p.n ?? 0, p.k ?? 0, p.inF ?? 0, p.outF ?? 0, p.offset ?? 0, f32(p.beta1 ?? 0), f32(p.beta2 ?? 0)];
}

export interface ImportanceArgs {
  /** [2, n]: exp_avg_ipt then exp_avg_unc, updated in place */
  state: GpuTensor;
  /** the parameter θ, n entries (any shape) */
  theta: GpuTensor;
  /** its gradient, same shape as theta */
  grad: GpuTensor;
  beta1: number;
  beta2: number;
}

/** PEFT's update_ipt for one parameter. */
export function adaloraImportance(rt: GpuRuntime, a: ImportanceArgs): void {
  const op = 'adaloraImportance';
  const n = numel(a.theta.shape);
  expectDims(op, { n });
  for (const [name, b] of [['beta1', a.beta1], ['beta2', a.beta2]] as const) {
    if (!(b > 0 && b < 1)) throw new Error(`${op}: ${name} = ${b} must be in (0, 1)`);
  }
  expectShape(op, 'grad', a.grad, a.theta.shape);
  expectShape(op, 'state', a.state, [2, n]);
  for (const [name, t] of [['state', a.state], ['theta', a.theta], ['grad', a.grad]] as const) expectF32(op, name, t);
  expectNoAlias(op, 'state', a.state, { theta: a.theta, grad: a.grad });
  const workgroups = grid1d(ceilDiv(n, 256));
  expectGrid(op, workgroups);
  rt.dispatch({ name: op, shader, entryPoint: 'ipt_ema', uniforms: uniforms({ n, beta1: a.beta1, beta2: a.beta2 }), bindings: [rw(a.state), ro(a.theta), ro(a.grad)], workgroups });
}

export interface TripletScoreArgs {
  /** scores of all layers; this layer's k land at [offset, offset + k) */
  scores: GpuTensor;
  offset: number;
  /** EMA states [2, k·in], [2, k], [2, out·k] of lora_A [k, in], lora_E [k], lora_B [out, k] */
  stateA: GpuTensor;
  stateE: GpuTensor;
  stateB: GpuTensor;
  k: number;
  inF: number;
  outF: number;
}

/** PEFT's mask_to_budget scores (element score Ī·Ū, row/column means, _combine_ipt) for one layer. */
export function adaloraTripletScores(rt: GpuRuntime, a: TripletScoreArgs): void {
  const op = 'adaloraTripletScores';
  const { k, inF, outF, offset } = a;
  expectDims(op, { k, inF, outF });
  if (!Number.isInteger(offset) || offset < 0) throw new Error(`${op}: offset = ${offset} must be a non-negative integer`);
  expectAtLeast(op, 'scores', a.scores, offset + k);
  expectShape(op, 'stateA', a.stateA, [2, k * inF]);
  expectShape(op, 'stateE', a.stateE, [2, k]);
  expectShape(op, 'stateB', a.stateB, [2, outF * k]);
  for (const [name, t] of [['scores', a.scores], ['stateA', a.stateA], ['stateE', a.stateE], ['stateB', a.stateB]] as const) expectF32(op, name, t);
  expectNoAlias(op, 'scores', a.scores, { stateA: a.stateA, stateE: a.stateE, stateB: a.stateB });
  const workgroups: [number, number, number] = [k, 1, 1];
  expectGrid(op, workgroups);
  rt.dispatch({
    name: op,
    shader,
    entryPoint: 'triplet_score',
    uniforms: uniforms({ k, inF, outF, offset }),
    bindings: [rw(a.scores), ro(a.stateA), ro(a.stateE), ro(a.stateB)],
    workgroups,
  });
}

export interface MaskCoreArgs {
  /** lora_E [k], entries with keep = 0 set to 0 */
  E: GpuTensor;
  /** 1 = keep, 0 = prune, for all layers; this layer's k at [offset, offset + k) */
  keep: GpuTensor;
  offset: number;
  k: number;
}

/** PEFT's lora_E.masked_fill_(~keep, 0). */
export function adaloraMaskCore(rt: GpuRuntime, a: MaskCoreArgs): void {
  const op = 'adaloraMaskCore';
  const { k, offset } = a;
  expectDims(op, { k });
  if (!Number.isInteger(offset) || offset < 0) throw new Error(`${op}: offset = ${offset} must be a non-negative integer`);
  expectShape(op, 'E', a.E, [k]);
  expectAtLeast(op, 'keep', a.keep, offset + k);
  expectF32(op, 'E', a.E);
  expectF32(op, 'keep', a.keep);
  expectNoAlias(op, 'E', a.E, { keep: a.keep });
  rt.dispatch({ name: op, shader, entryPoint: 'mask_core', uniforms: uniforms({ k, offset }), bindings: [rw(a.E), ro(a.keep)], workgroups: [ceilDiv(k, 64), 1, 1] });
}
