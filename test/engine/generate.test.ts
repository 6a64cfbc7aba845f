/**
 * Generation with the KV cache against llama2.c's greedy decode of stories260K (models/stories260K/
 * reference_greedy.json): token for token, from BOS alone and from a longer prompt prefilled in chunks.
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { generateIds } from '../../src/engine/generate';
import { Transformer } from '../../src/engine/transformer';
import { gpuRuntime } from '../support/gpu';
import { FIXTURES, loadFixtureModel, readJson } from '../support/reference';

interface Greedy {
  prompt_ids: number[];
  greedy_ids: number[];
}

it('greedy decoding reproduces llama2.c, also with a prompt prefilled in chunks', { timeout: 600_000 }, async () => {
  const rt = await gpuRuntime();
  const m = await loadFixtureModel(rt, 'stories260K');
  const ref = await readJson<Greedy>(join(FIXTURES, 'models', 'stories260K', 'reference_greedy.json'));
  const n = 40;
  const model = new Transformer(rt, m.spec, m.weights, 8);
  const fromBos = await generateIds(model, { promptIds: ref.prompt_ids, maxNewTokens: n, temperature: 0, seed: 0, stopIds: [] });
  expect(fromBos).toEqual(ref.greedy_ids.slice(1, 1 + n));
  // 19 prompt tokens through an 8-row arena: prefill in chunks of 8, 8, 3, then decode.
  const prompt = ref.greedy_ids.slice(0, 19);
  const cont = await generateIds(model, { promptIds: prompt, maxNewTokens: 12, temperature: 0, seed: 0, stopIds: [] });
  expect(cont).toEqual(ref.greedy_ids.slice(19, 31));
  // Sampling is reproducible from its seed.
  const a = await generateIds(model, { promptIds: [1], maxNewTokens: 10, temperature: 1, seed: 5, stopIds: [] });
  const b = await generateIds(model, { promptIds: [1], maxNewTokens: 10, temperature: 1, seed: 5, stopIds: [] });
  expect(a).toEqual(b);
});
