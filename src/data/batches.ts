/**
 * Batching for next-token prediction. For example e with ids x and labels l, row b of a batch holds
 *   inputs[b*T + t]  = x[t]                      (t < len(x), else padId)
 *   targets[b*T + t] = l[t + 1]                  (t + 1 < len(x), else -100)
 * so position t is trained to predict token t + 1, and only where that token carries loss.
 */
import { Rng } from '../util/rng';
import { IGNORE_INDEX, type Example } from './pack';

export interface Batch {
  /** [B*T] token ids, row-major. */
  inputs: Int32Array;
  /** [B*T] next-token targets, -100 = ignore. */
  targets: Int32Array;
  /** Targets that are not -100 (the loss is averaged over these). */
  lossTokens: number;
}

/** Endless training batches: a fresh seeded shuffle each epoch; a batch may span an epoch boundary. */
export class BatchSampler {
  private readonly rng: Rng;
  private order: number[] = [];
  private cursor = 0;
  private epochCount = 0;

  /**
   * @param padId input id written past the end of an example; its value does not matter for the loss (targets
   *   there are -100 and attention is causal), so 0 is a safe default.
   */
  constructor(
    private readonly examples: Example[],
    private readonly batchSize: number,
    private readonly seqLen: number,
    seed: number,
    private readonly padId = 0,
  ) {
    if (examples.length === 0) throw new Error('BatchSampler needs at least one example');
    checkShape(batchSize, seqLen);
    this.rng = new Rng(seed);
  }

  /** Completed passes over the examples (0 during the first epoch). */
  get epoch(): number {
    return Math.max(0, this.epochCount - 1);
  }

  next(): Batch {
    const picked: Example[] = [];
    while (picked.length < this.batchSize) {
      if (this.cursor >= this.order.length) this.startEpoch();
      picked.push(this.examples[this.order[this.cursor++]]);
    }
    return makeBatch(picked, this.batchSize, this.seqLen, this.padId);
  }

  private startEpoch(): void {
    this.order = this.rng.shuffle(Array.from({ length: this.examples.length }, (_, i) => i));
    this.cursor = 0;
    this.epochCount++;
  }
}

/**
 * Every example once, in order, for evaluation. The last batch keeps the full [batchSize*seqLen] shape (fixed
 * shapes let the GPU reuse its buffers); its missing rows are padding with all targets -100.
 */
export function evalBatches(examples: Example[], batchSize: number, seqLen: number, padId = 0): Batch[] {
  checkShape(batchSize, seqLen);
  const out: Batch[] = [];
  for (let i = 0; i < examples.length; i += batchSize) {
    out.push(makeBatch(examples.slice(i, i + batchSize), batchSize, seqLen, padId));
  }
  return out;
}

/** Packs up to `batchSize` examples into one batch (missing rows are padding). */
export function makeBatch(examples: Example[], batchSize: number, seqLen: number, padId = 0): Batch {
  if (examples.length > batchSize) throw new Error(`${examples.length} examples do not fit a batch of ${batchSize}`);
  const T = seqLen;
  const inputs = new Int32Array(batchSize * T).fill(padId);
  const targets = new Int32Array(batchSize * T).fill(IGNORE_INDEX);
  let lossTokens = 0;
  examples.forEach((e, b) => {
    const n = Math.min(e.ids.length, T + 1);
    const row = b * T;
    for (let t = 0; t < Math.min(n, T); t++) inputs[row + t] = e.ids[t];
    for (let t = 0; t + 1 < n; t++) {
      const target = e.labels[t + 1];
      targets[row + t] = target;
      if (target !== IGNORE_INDEX) lossTokens++;
    }
  });
  return { inputs, targets, lossTokens };
}

function checkShape(batchSize: number, seqLen: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new Error(`seqLen must be a positive integer, got ${seqLen}`);
}
