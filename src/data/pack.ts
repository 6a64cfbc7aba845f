/**
 * Packing of plain text for causal-LM training: one token stream cut into overlapping blocks of seqLen + 1 tokens.
 * Block i covers tokens [i*seqLen, i*seqLen + seqLen + 1): its last token is the next block's first, so every
 * token after the first is a prediction target exactly once across the blocks.
 */

export interface Example {
  /** Token ids, at most seqLen + 1 of them (one extra so inputs/targets can be shifted by the batcher). */
  ids: Int32Array;
  /** ids[t] where token t carries loss, -100 where it does not (prompt, padding). Not shifted. */
  labels: Int32Array;
}

export const IGNORE_INDEX = -100;

/**
 * Cuts `tokens` into blocks; a final partial block is kept when it has ≥ 2 tokens (at least one target). It is
 * kept at its real length: the batcher pads it (pad id, target -100), which is the same as padding it here.
 */
export function packTokens(tokens: ArrayLike<number>, seqLen: number): Example[] {
  const blocks: Example[] = [];
  for (let start = 0; start + 1 < tokens.length; start += seqLen) {
    const end = Math.min(tokens.length, start + seqLen + 1);
    const ids = Int32Array.from({ length: end - start }, (_, i) => tokens[start + i]);
    blocks.push({ ids, labels: ids.slice() });
  }
  return blocks;
}

/** Keeps the beginning: at most seqLen + 1 tokens. */
export function truncateExample(ids: ArrayLike<number>, labels: ArrayLike<number>, seqLen: number): Example {
  const n = Math.min(ids.length, seqLen + 1);
  return {
    ids: Int32Array.from({ length: n }, (_, i) => ids[i]),
    labels: Int32Array.from({ length: n }, (_, i) => labels[i]),
  };
}

/**
 * Targets that carry loss: labels[t] for t ≥ 1 (the batcher predicts token t from position t - 1, so label 0 is
 * never a target).
 */
export function lossTokenCount(e: Example): number {
  let n = 0;
  for (let t = 1; t < e.labels.length; t++) if (e.labels[t] !== IGNORE_INDEX) n++;
  return n;
}
