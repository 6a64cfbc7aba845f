/**
 * The activations arena: every activation is a named table entry of [maxRows, cols] allocated once, on first
 * use, and handed out as a view of [rows, cols] for the current token count (training batch, prompt prefill,
 * one decode token). Memory as tables, sized by one place.
 */
import type { GpuRuntime } from '../gpu/runtime';
import { type GpuTensor, view } from '../gpu/tensor';

export class Arena {
  private readonly tensors = new Map<string, GpuTensor>();
  rows = 0;

  constructor(
    private readonly rt: GpuRuntime,
    readonly maxRows: number,
  ) {}

  setRows(rows: number): void {
    if (rows > this.maxRows) throw new Error(`${rows} tokens exceed the ${this.maxRows} the activations were sized for`);
    this.rows = rows;
  }

  /** The [rows, cols] view of entry `key`. */
  get(key: string, cols: number): GpuTensor {
    return view(this.full(key, cols), [this.rows, cols]);
  }

  /** A 1-D [rows * cols] view (per-row statistics, per-head logsumexp). */
  flat(key: string, cols = 1): GpuTensor {
    return view(this.full(key, cols), [this.rows * cols]);
  }

  private full(key: string, cols: number): GpuTensor {
    let t = this.tensors.get(key);
    if (!t) {
      t = this.rt.tensor(`act.${key}`, [this.maxRows, cols]);
      this.tensors.set(key, t);
    } else if (t.shape[1] !== cols) {
      throw new Error(`arena entry ${key} has ${t.shape[1]} columns, asked for ${cols}`);
    }
    return t;
  }

  /** Bytes held by this arena. */
  bytes(): number {
    let b = 0;
    for (const t of this.tensors.values()) b += t.buffer.size;
    return b;
  }

  release(): void {
    for (const t of this.tensors.values()) this.rt.release(t);
    this.tensors.clear();
  }
}
