/**
 * Text generation with a KV cache: the prompt is prefilled in chunks that fit the activation arena, then one
 * token per forward. Greedy when temperature is 0, otherwise sampling from softmax(logits / T) with a seeded Rng.
 */
import { matmul } from '../gpu/ops/matmul';
import { Rng } from '../util/rng';
import type { Pass } from './pass';
import type { Transformer } from './transformer';

export interface GenerateParams {
  promptIds: number[];
  maxNewTokens: number;
  temperature: number;
  seed: number;
  stopIds: number[];
}

export async function generateIds(model: Transformer, g: GenerateParams): Promise<number[]> {
  const { rt, spec } = model;
  if (g.promptIds.length === 0) throw new Error('generation needs at least one prompt token');
  const capacity = Math.min(spec.maxPositions, g.promptIds.length + g.maxNewTokens);
  const prompt = g.promptIds.slice(Math.max(0, g.promptIds.length - (capacity - 1)));
  const cache = model.createKvCache(capacity);
  const C = spec.hidden;
  const lastHidden = rt.tensor('gen.hidden', [1, C]);
  const logits = rt.tensor('gen.logits', [1, spec.vocab]);
  const rng = new Rng(g.seed);
  const out: number[] = [];
  try {
    let position = 0;
    let pendingIds = prompt;
    while (out.length < g.maxNewTokens && position + pendingIds.length <= capacity) {
      // Prefill (or one decode token) in chunks that fit the arena; only the last chunk's last row matters.
      for (let start = 0; start < pendingIds.length; start += model.arena.maxRows) {
        const chunk = pendingIds.slice(start, start + model.arena.maxRows);
        const p: Pass = { B: 1, T: chunk.length, M: chunk.length, ctx: { training: false, seed: 0 }, cache, position };
        model.setInputs(Int32Array.from(chunk));
        const hidden = model.forwardHidden(p);
        rt.copy(hidden, lastHidden, C, (chunk.length - 1) * C, 0);
        position += chunk.length;
        if (start + chunk.length < pendingIds.length) rt.flush();
      }
      matmul(rt, { out: logits, a: lastHidden, b: model.weights.lmHead, M: 1, N: spec.vocab, K: C, transB: true });
      const next = pick(await rt.read(logits), g.temperature, rng);
      out.push(next);
      if (g.stopIds.includes(next)) break;
      pendingIds = [next];
    }
  } finally {
    model.releaseKvCache(cache);
    rt.release(lastHidden);
    rt.release(logits);
  }
  return out;
}

export function pick(logits: Float32Array, temperature: number, rng: Rng): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (temperature <= 0) return best;
  let sum = 0;
  const probs = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) {
    probs[i] = Math.exp((logits[i] - logits[best]) / temperature);
    sum += probs[i];
  }
  let u = rng.next() * sum;
  for (let i = 0; i < probs.length; i++) {
    u -= probs[i];
    if (u <= 0) return i;
  }
  return best;
}

