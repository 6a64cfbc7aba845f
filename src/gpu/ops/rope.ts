/**
 * Rotary position embeddings (HF Llama `rotate_half` convention): host-side cos/sin tables and an in-place GPU
 * rotation whose inverse is the backward pass.
 */
import shader from '../../../shaders/rope.wgsl?raw';
import { ceilDiv, f32, grid1d, ro, rw } from '../kernel';
import type { GpuRuntime } from '../runtime';
import { type GpuTensor, expectShape, shapeString } from '../tensor';

/** HF `rope_scaling` variants we support (transformers modeling_rope_utils: "llama3" and "linear"). */
export type RopeScaling =
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number }
  | { type: 'linear'; factor: number };

/**
 * The looser shape model configs carry (src/model/spec.ts: llama3 fields optional, as parsed from JSON). ropeTables
 * accepts it too and requires the llama3 fields at run time, as HF's _validate_llama3_parameters does.
 */
export interface RopeScalingConfig {
  type: 'llama3' | 'linear';
  factor: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalMaxPositions?: number;
}

export interface RopeApplyArgs {
  /** [rows, nHeads * headDim], rotated in place. */
  x: GpuTensor;
  /** [P, headDim / 2] from ropeTables. */
  cos: GpuTensor;
  sin: GpuTensor;
  rows: number;
  /** Sequence length: row r has position (r % T) + positionOffset. */
  T: number;
  nHeads: number;
  headDim: number;
  positionOffset: number;
  /** Rotate by -angle: the backward pass, applied to the gradient in place. */
  inverse?: boolean;
}

/**
 * The inverse frequencies HF computes for this scaling, in float64. HF evaluates them in float32 (and then
 * pos * inv_freq in float32, which loses ~1e-4 rad at position 4096); we keep float64 until the final cos/sin.
 */
export function ropeInvFreq(theta: number, headDim: number, scaling?: RopeScaling): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  // _compute_default_rope_parameters: 1 / base ** (arange(0, dim, 2) / dim)
  for (let i = 0; i < half; i++) inv[i] = 1 / theta ** ((2 * i) / headDim);
  if (!scaling) return inv;
  if (scaling.type === 'linear') {
    // _compute_linear_scaling_rope_parameters: inv_freq /= factor (positions interpolated by 1/factor).
    return inv.map((f) => f / scaling.factor);
  }
  // _compute_llama3_parameters: keep high frequencies, divide low ones by factor, interpolate in between.
  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositions } = scaling;
  const lowFreqWavelen = originalMaxPositions / lowFreqFactor;
  const highFreqWavelen = originalMaxPositions / highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highFreqWavelen) return f;
    if (wavelen > lowFreqWavelen) return f / factor;
    const smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}

function resolveScaling(s: RopeScaling | RopeScalingConfig | undefined): RopeScaling | undefined {
  if (!s) return undefined;
  if (!(s.factor > 0) || !Number.isFinite(s.factor)) throw new Error(`ropeTables: ${s.type} scaling factor = ${s.factor} must be positive`);
  if (s.type === 'linear') return { type: 'linear', factor: s.factor };
  const { lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositions: orig } = s;
  if (lo === undefined || hi === undefined || orig === undefined) {
    throw new Error('ropeTables: llama3 scaling needs lowFreqFactor, highFreqFactor and originalMaxPositions (rope_scaling low_freq_factor, high_freq_factor, original_max_position_embeddings)');
  }
  if (!(lo > 0 && hi > lo)) throw new Error(`ropeTables: llama3 scaling needs 0 < lowFreqFactor (${lo}) < highFreqFactor (${hi})`);
  if (!(orig > 0)) throw new Error(`ropeTables: llama3 scaling originalMaxPositions = ${orig} must be positive`);
  return { type: 'llama3', factor: s.factor, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositions: orig };
}

/** cos/sin tables [maxPositions, headDim / 2] of angle = pos * inv_freq[i], computed in float64. */
export function ropeTables(theta: number, headDim: number, maxPositions: number, scaling?: RopeScaling | RopeScalingConfig): { cos: Float32Array; sin: Float32Array } {
  if (!(theta > 0) || !Number.isFinite(theta)) throw new Error(`ropeTables: theta = ${theta} must be positive`);
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) throw new Error(`ropeTables: headDim = ${headDim} must be a positive even integer`);
  if (!Number.isInteger(maxPositions) || maxPositions < 1) throw new Error(`ropeTables: maxPositions = ${maxPositions} must be a positive integer`);
  const inv = ropeInvFreq(theta, headDim, resolveScaling(scaling));
  const half = headDim / 2;
  const cos = new Float32Array(maxPositions * half);
  const sin = new Float32Array(maxPositions * half);
  for (let p = 0; p < maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * inv[i];
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/** Rotates every head of every row of x in place by its position's angles (or by minus them when inverse). */
export function ropeApply(rt: GpuRuntime, a: RopeApplyArgs): void {
  const op = 'ropeApply';
  const { rows, T, nHeads, headDim, positionOffset } = a;
  for (const [name, v, min] of [['rows', rows, 0], ['T', T, 1], ['nHeads', nHeads, 1], ['headDim', headDim, 2], ['positionOffset', positionOffset, 0]] as const) {
    if (!Number.isInteger(v) || v < min) throw new Error(`${op}: ${name} = ${v} must be an integer >= ${min}`);
  }
  if (headDim % 2 !== 0) throw new Error(`${op}: headDim = ${headDim} must be even`);
  const half = headDim / 2;
  expectShape(op, 'x', a.x, [rows, nHeads * headDim]);
  if (a.cos.shape.length !== 2 || a.cos.shape[1] !== half) {
    throw new Error(`${op}: cos (${a.cos.label}) has shape ${shapeString(a.cos.shape)}, expected [P, ${half}]`);
  }
  const P = a.cos.shape[0];
  expectShape(op, 'sin', a.sin, [P, half]);
  if (rows === 0) return;
  const lastPosition = Math.min(T, rows) - 1 + positionOffset;
  if (lastPosition >= P) {
    throw new Error(`${op}: position ${lastPosition} (T = ${T}, positionOffset = ${positionOffset}) is past the ${P} positions of the cos/sin tables (${a.cos.label})`);
  }
  const pairs = rows * nHeads * half;
  rt.dispatch({
    name: 'rope_apply', shader, entryPoint: 'rope_apply',
    uniforms: [pairs, half, nHeads, T, positionOffset, f32(a.inverse ? -1 : 1)],
    bindings: [rw(a.x), ro(a.cos), ro(a.sin)],
    workgroups: grid1d(ceilDiv(pairs, 256)),
  });
}
