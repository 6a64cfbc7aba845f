import type { AttentionShape } from '../../gpu/ops/attention';
import type { GpuRuntime } from '../../gpu/runtime';
import type { GpuTensor } from '../../gpu/tensor';
import type { ModelSpec } from '../../model/spec';
import type { Arena } from '../arena';
import type { Pass } from '../pass';
import type { ModelWeights } from '../weights';

/** What a block's forward/backward reads: the runtime, shapes, weights, activations and RoPE tables. */
export interface BlockModel {
  rt: GpuRuntime;
  spec: ModelSpec;
  weights: ModelWeights;
  arena: Arena;
  rope: { cos: GpuTensor; sin: GpuTensor };
  /**
   * The attention's key/value source for this pass: the freshly computed k, v when training; when generating,
   * k, v are appended to layer l's KV cache first and attention reads the cache.
   */
  attentionShape(p: Pass, l: number, k: GpuTensor, v: GpuTensor): AttentionShape & { k: GpuTensor; v: GpuTensor };
}
