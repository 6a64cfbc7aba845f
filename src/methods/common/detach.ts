/** Taking a method's adapters off the model's linear layers and freeing them, in the one safe order. */
import type { Linear } from '../../engine/linear';
import type { GpuRuntime } from '../../gpu/runtime';
import type { LinearAdapter } from '../types';

export interface AttachedAdapter {
  linear: Linear;
  layer: LinearAdapter & { release(rt: GpuRuntime): void };
}

export function detachAndRelease(rt: GpuRuntime, attached: readonly AttachedAdapter[]): void {
  for (const e of attached) {
    const i = e.linear.adapters.indexOf(e.layer);
    if (i >= 0) e.linear.adapters.splice(i, 1);
  }
  // Recorded dispatches may still read these buffers: submit them before anything is destroyed.
  rt.flush();
  for (const e of attached) e.layer.release(rt);
}
