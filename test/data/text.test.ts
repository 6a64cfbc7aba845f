import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/datasets';
import { packTokens } from '../../src/data/pack';
import { fixtureBlob, fixtureTokenizer, options, readFixture, textBlob } from './fixtures';

describe('packTokens block boundaries', () => {
  const seq = (n: number): number[] => Array.from({ length: n }, (_, i) => 100 + i);
  const spans = (n: number, seqLen: number): number[][] => packTokens(seq(n), seqLen).map((e) => Array.from(e.ids, (v) => v - 100));

  it('block i covers [i*seqLen, i*seqLen + seqLen + 1); a final partial block needs ≥ 2 tokens', () => {
    expect(spans(10, 4)).toEqual([[0, 1, 2, 3, 4], [4, 5, 6, 7, 8], [8, 9]]);
    expect(spans(9, 4)).toEqual([[0, 1, 2, 3, 4], [4, 5, 6, 7, 8]]); // [8] alone has no target
    expect(spans(5, 4)).toEqual([[0, 1, 2, 3, 4]]);
    expect(spans(2, 4)).toEqual([[0, 1]]);
    expect(spans(1, 4)).toEqual([]);
  });

  it('every token carries loss', () => {
    for (const e of packTokens(seq(10), 4)) expect(Array.from(e.labels)).toEqual(Array.from(e.ids));
  });
});

describe('.txt datasets', () => {
  const tok = fixtureTokenizer('stories260K');
  const text = readFixture('datasets/tinyshakespeare/input.txt').slice(0, 3000);

  it('packs the BOS-prefixed token stream exactly', async () => {
    const tokens = tok.encode(text);
    expect(tokens[0]).toBe(1);
    const seqLen = 32;
    const d = await loadDataset(textBlob('s.txt', text), tok, options({ seqLen, valFraction: 0 }));
    const blocks = Math.ceil((tokens.length - 1) / seqLen);
    expect(d.summary).toMatchObject({ format: 'text', examples: blocks, trainExamples: blocks, valExamples: 0, problems: [] });
    d.train.forEach((e, i) => expect(Array.from(e.ids)).toEqual(tokens.slice(i * seqLen, i * seqLen + seqLen + 1)));
    // Every token after the first is a target exactly once.
    expect(d.summary.lossTokens).toBe(tokens.length - 1);
    expect(d.summary.preview.startsWith('<s> First Citizen:\nBefore we proceed')).toBe(true);
  });

  it('splits at block level, reproducibly per seed', async () => {
    const load = (seed: number) => loadDataset(textBlob('s.txt', text), tok, options({ seqLen: 16, valFraction: 0.2, seed }));
    const a = await load(1);
    const b = await load(1);
    const c = await load(2);
    const n = a.summary.examples;
    expect(a.summary.valExamples).toBe(Math.round(0.2 * n));
    expect(a.summary.trainExamples + a.summary.valExamples).toBe(n);
    const key = (d: typeof a) => d.val.map((e) => Array.from(e.ids).join(','));
    expect(key(a)).toEqual(key(b));
    expect(key(a)).not.toEqual(key(c));
    // Train and validation are disjoint blocks.
    const trainKeys = new Set(a.train.map((e) => Array.from(e.ids).join(',')));
    for (const k of key(a)) expect(trainKeys.has(k)).toBe(false);
  });

  it('a text with fewer than 2 tokens is refused', async () => {
    const gpt2 = fixtureTokenizer('tiny-random-gpt2');
    await expect(loadDataset(textBlob('a.txt', 'a'), gpt2, options())).rejects.toThrow('a.txt is too short: 1 token(s), at least 2 are needed');
  });

  it('loads all of tinyshakespeare with the GPT-2 tokenizer', async () => {
    const gpt2 = fixtureTokenizer('tiny-random-gpt2');
    const d = await loadDataset(fixtureBlob('datasets/tinyshakespeare/input.txt'), gpt2, options({ seqLen: 256, valFraction: 0.1 }));
    const n = d.summary.examples;
    expect(n).toBeGreaterThan(1000);
    expect(d.summary.valExamples).toBe(Math.round(0.1 * n));
    expect(d.train.every((e) => e.ids.length <= 257)).toBe(true);
    expect(gpt2.decode(d.train[0].ids).startsWith('First Citizen:\nBefore we proceed any further, hear me speak.')).toBe(true);
  }, 60_000);
});
