/**
 * The transformer: embeddings, blocks, final norm, LM head and loss, forward and backward, on frozen weights
 * with adapters attached to its linear layers. No generic autograd: the backward is the forward list reversed.
 */
import type { AttentionShape } from '../gpu/ops/attention';
import { crossEntropy } from '../gpu/ops/cross_entropy';
import { embeddingForward } from '../gpu/ops/embedding';
import { fill } from '../gpu/ops/elementwise';
import { matmul } from '../gpu/ops/matmul';
import { layernormBackward, layernormForward, rmsnormBackward, rmsnormForward } from '../gpu/ops/norm';
import { sumInto } from '../gpu/ops/reduce';
import { ropeTables } from '../gpu/ops/rope';
import type { GpuRuntime } from '../gpu/runtime';
import { type GpuTensor, view } from '../gpu/tensor';
import type { ModelSpec } from '../model/spec';
import { Arena } from './arena';
import { gpt2BlockBackward, gpt2BlockForward } from './blocks/gpt2';
import { llamaBlockBackward, llamaBlockForward } from './blocks/llama';
import type { BlockModel } from './blocks/types';
import type { KvCache, Pass } from './pass';
import type { ModelWeights } from './weights';
import type { Linear } from './linear';

export class Transformer implements BlockModel {
  readonly arena: Arena;
  readonly rope: { cos: GpuTensor; sin: GpuTensor };
  /** Input token ids and next-token targets (-100 = no loss) of the current pass, [maxRows]. */
  readonly ids: GpuTensor;
  readonly targets: GpuTensor;

  constructor(
    readonly rt: GpuRuntime,
    readonly spec: ModelSpec,
    readonly weights: ModelWeights,
    maxRows: number,
  ) {
    this.arena = new Arena(rt, maxRows);
    this.ids = rt.tensor('ids', [maxRows], 'i32');
    this.targets = rt.tensor('targets', [maxRows], 'i32');
    const half = Math.max(1, spec.headDim / 2);
    const positions = spec.family === 'llama' ? spec.maxPositions : 1;
    const tables = spec.family === 'llama' ? ropeTables(spec.ropeTheta, spec.headDim, positions, spec.ropeScaling) : { cos: new Float32Array(half), sin: new Float32Array(half) };
    this.rope = { cos: rt.upload('rope.cos', [positions, half], tables.cos), sin: rt.upload('rope.sin', [positions, half], tables.sin) };
  }

  get linears(): Linear[] {
    return this.weights.blocks.flatMap((b) => b.linears);
  }

  /** Writes a pass's inputs. Call before recording the pass: queue writes land before the next submit. */
  setInputs(ids: Int32Array, targets?: Int32Array): void {
    this.rt.write(this.ids, ids);
    if (targets) this.rt.write(this.targets, targets);
  }

  /** Runs embeddings and all blocks and the final norm; returns the final hidden states [M, C]. */
  forwardHidden(p: Pass): GpuTensor {
    const { rt, spec, arena } = this;
    arena.setRows(p.M);
    const C = spec.hidden;
    const positions = this.weights.positions ? { table: this.weights.positions, T: p.T, offset: p.position } : undefined;
    embeddingForward(rt, { out: arena.get('res.0', C), ids: view(this.ids, [p.M]), table: this.weights.embed, M: p.M, C, V: spec.vocab, positions });
    for (let l = 0; l < spec.layers; l++) {
      if (spec.family === 'llama') llamaBlockForward(this, l, p);
      else gpt2BlockForward(this, l, p);
    }
    const out = arena.get('final', C);
    const x = arena.get(`res.${spec.layers}`, C);
    const fn = this.weights.finalNorm;
    if (spec.family === 'llama') rmsnormForward(rt, { out, rstd: arena.flat('rstdF'), x, weight: fn.weight, M: p.M, C, eps: spec.normEps });
    else layernormForward(rt, { out, mean: arena.flat('meanF'), rstd: arena.flat('rstdF'), x, weight: fn.weight, bias: fn.bias as GpuTensor, M: p.M, C, eps: spec.normEps });
    return out;
  }

  /** logits [rows, V] = hidden [rows, C] · headᵀ. */
  logits(hidden: GpuTensor, rows: number, out: GpuTensor): void {
    matmul(this.rt, { out, a: hidden, b: this.weights.lmHead, M: rows, N: this.spec.vocab, K: this.spec.hidden, transB: true });
  }

  /**
   * Forward with loss: per-row losses into arena 'losses'; Σ losses · lossScale added into lossOut[lossIndex].
   * With `backward`, also ∂L/∂logits (scaled by lossScale) and the full backward pass into adapter gradients.
   */
  forwardLoss(p: Pass, lossScale: number, lossOut: GpuTensor, lossIndex: number, backward: boolean): void {
    const { rt, spec, arena } = this;
    const hidden = this.forwardHidden(p);
    const V = spec.vocab;
    const logits = arena.get('logits', V);
    this.logits(hidden, p.M, logits);
    const losses = arena.flat('losses');
    const dlogits = backward ? arena.get('dlogits', V) : undefined;
    crossEntropy(rt, { losses, dlogits, logits, targets: view(this.targets, [p.M]), M: p.M, V, gradScale: lossScale });
    sumInto(rt, { out: lossOut, index: lossIndex, x: losses, n: p.M, scale: lossScale, accumulate: true });
    if (dlogits) this.backward(p, dlogits);
  }

  private backward(p: Pass, dlogits: GpuTensor): void {
    const { rt, spec, arena } = this;
    const C = spec.hidden;
    const dfinal = arena.get('g.final', C);
    matmul(rt, { out: dfinal, a: dlogits, b: this.weights.lmHead, M: p.M, N: C, K: spec.vocab, transB: false });
    const dres = arena.get('g.res', C);
    const x = arena.get(`res.${spec.layers}`, C);
    const fn = this.weights.finalNorm;
    // dres starts at zero: the norm backward accumulates into it.
    fill(rt, dres, 0);
    if (spec.family === 'llama') rmsnormBackward(rt, { dx: dres, dout: dfinal, x, rstd: arena.flat('rstdF'), weight: fn.weight, dweight: fn.grad?.weight, M: p.M, C });
    else layernormBackward(rt, { dx: dres, dout: dfinal, x, mean: arena.flat('meanF'), rstd: arena.flat('rstdF'), weight: fn.weight, dweight: fn.grad?.weight, dbias: fn.grad?.bias, M: p.M, C });
    const lowest = this.lowestTrainableLayer();
    for (let l = spec.layers - 1; l >= lowest; l--) {
      if (spec.family === 'llama') llamaBlockBackward(this, l, p, dres);
      else gpt2BlockBackward(this, l, p, dres);
    }
  }

  /** Layers below the lowest one with trainable adapters or norms need no backward (the base is frozen). */
  private lowestTrainableLayer(): number {
    const i = this.weights.blocks.findIndex((b) => b.linears.some((lin) => lin.trainable) || b.ln1.grad !== undefined || b.ln2.grad !== undefined);
    return i < 0 ? this.spec.layers : i;
  }

  attentionShape(p: Pass, l: number, k: GpuTensor, v: GpuTensor): AttentionShape & { k: GpuTensor; v: GpuTensor } {
    const { spec } = this;
    const base = { nHeads: spec.heads, nKvHeads: spec.kvHeads, headDim: spec.headDim, scale: spec.attnScale };
    if (!p.cache) return { ...base, B: p.B, Tq: p.T, Tk: p.T, kvStride: p.T, qPosOffset: 0, k, v };
    const cache: KvCache = p.cache;
    const kvDim = spec.kvHeads * spec.headDim;
    if (p.position + p.M > cache.capacity) throw new Error(`generation reached the KV cache capacity of ${cache.capacity} tokens`);
    this.rt.copy(k, cache.k[l], p.M * kvDim, 0, p.position * kvDim);
    this.rt.copy(v, cache.v[l], p.M * kvDim, 0, p.position * kvDim);
    return { ...base, B: 1, Tq: p.M, Tk: p.position + p.M, kvStride: cache.capacity, qPosOffset: p.position, k: cache.k[l], v: cache.v[l] };
  }

  /** Allocates a KV cache for generation (released by the caller). */
  createKvCache(capacity: number): KvCache {
    const kvDim = this.spec.kvHeads * this.spec.headDim;
    const k: GpuTensor[] = [];
    const v: GpuTensor[] = [];
    for (let l = 0; l < this.spec.layers; l++) {
      k.push(this.rt.tensor(`kcache.${l}`, [capacity, kvDim]));
      v.push(this.rt.tensor(`vcache.${l}`, [capacity, kvDim]));
    }
    return { k, v, capacity };
  }

  releaseKvCache(cache: KvCache): void {
    for (const t of [...cache.k, ...cache.v]) this.rt.release(t);
  }
}
