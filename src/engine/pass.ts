/** What one forward (and its backward) is running on: shapes, training flag/seed, and the KV cache when generating. */
import type { GpuTensor } from '../gpu/tensor';
import type { PassContext } from '../methods/types';

export interface KvCache {
  /** Per layer [capacity, kvHeads * headDim]. */
  k: GpuTensor[];
  v: GpuTensor[];
  capacity: number;
}

export interface Pass {
  /** Sequences and tokens per sequence; rows M = B * T. */
  B: number;
  T: number;
  M: number;
  ctx: PassContext;
  /** Generation (B = 1): new K/V rows are appended at `position`, which is also the first row's position. */
  cache?: KvCache;
  position: number;
}

export function trainingPass(B: number, T: number, training: boolean, seed: number): Pass {
  return { B, T, M: B * T, ctx: { training, seed }, position: 0 };
}
