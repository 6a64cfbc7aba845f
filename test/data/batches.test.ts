import { describe, expect, it } from 'vitest';
import { BatchSampler, evalBatches, makeBatch } from '../../src/data/batches';
import { lossTokenCount, type Example } from '../../src/data/pack';
import { splitIndices } from '../../src/data/split';

const ex = (ids: number[], labels: number[]): Example => ({ ids: Int32Array.from(ids), labels: Int32Array.from(labels) });

describe('makeBatch shifting', () => {
  it('inputs[t] = ids[t], targets[t] = labels[t+1], padding beyond the example', () => {
    const b = makeBatch([ex([1, 2, 3, 4], [-100, -100, 3, 4]), ex([5, 6, 7, 8, 9, 10], [5, 6, 7, 8, 9, 10])], 3, 5, 0);
    expect(Array.from(b.inputs)).toEqual([1, 2, 3, 4, 0, /**/ 5, 6, 7, 8, 9, /**/ 0, 0, 0, 0, 0]);
    expect(Array.from(b.targets)).toEqual([-100, 3, 4, -100, -100, /**/ 6, 7, 8, 9, 10, /**/ -100, -100, -100, -100, -100]);
    expect(b.lossTokens).toBe(7);
  });

  it('uses the given pad id and refuses too many rows', () => {
    expect(Array.from(makeBatch([ex([1, 2], [1, 2])], 1, 4, 99).inputs)).toEqual([1, 2, 99, 99]);
    expect(() => makeBatch([ex([1, 2], [1, 2]), ex([1, 2], [1, 2])], 1, 4)).toThrow(/do not fit/);
  });
});

describe('BatchSampler', () => {
  const examples = Array.from({ length: 10 }, (_, i) => ex([i, i, i], [-100, i, i]));
  const firstIds = (s: BatchSampler, steps: number): number[] => {
    const out: number[] = [];
    for (let i = 0; i < steps; i++) {
      const b = s.next();
      for (let r = 0; r < 2; r++) out.push(b.inputs[r * 4]);
    }
    return out;
  };

  it('visits every example once per epoch, reshuffling each epoch', () => {
    const seen = firstIds(new BatchSampler(examples, 2, 4, 3), 10);
    const epoch1 = seen.slice(0, 10);
    const epoch2 = seen.slice(10);
    expect([...epoch1].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...epoch2].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(epoch1).not.toEqual(epoch2);
  });

  it('is reproducible per seed', () => {
    expect(firstIds(new BatchSampler(examples, 2, 4, 3), 7)).toEqual(firstIds(new BatchSampler(examples, 2, 4, 3), 7));
    expect(firstIds(new BatchSampler(examples, 2, 4, 3), 7)).not.toEqual(firstIds(new BatchSampler(examples, 2, 4, 4), 7));
  });

  it('batches span epoch boundaries and count loss tokens', () => {
    const s = new BatchSampler(examples.slice(0, 3), 2, 4, 1);
    s.next();
    const b = s.next(); // one example from epoch 1, one from epoch 2
    expect(s.epoch).toBe(1);
    expect(b.lossTokens).toBe(4);
    expect(() => new BatchSampler([], 2, 4, 1)).toThrow(/at least one example/);
  });
});

describe('evalBatches', () => {
  it('covers all examples once, in order, with fixed-shape padded last batch', () => {
    const examples = Array.from({ length: 5 }, (_, i) => ex([i + 1, i + 1, i + 1], [-100, i + 1, i + 1]));
    const batches = evalBatches(examples, 2, 4);
    expect(batches).toHaveLength(3);
    expect(batches.map((b) => b.inputs.length)).toEqual([8, 8, 8]);
    expect(Array.from(batches[2].inputs)).toEqual([5, 5, 5, 0, 0, 0, 0, 0]);
    expect(batches.reduce((s, b) => s + b.lossTokens, 0)).toBe(examples.reduce((s, e) => s + lossTokenCount(e), 0));
  });
});

describe('splitIndices', () => {
  it('is reproducible per seed and partitions the indices', () => {
    const a = splitIndices(100, 0.1, 1);
    expect(a).toEqual(splitIndices(100, 0.1, 1));
    expect(a.val).not.toEqual(splitIndices(100, 0.1, 2).val);
    expect(a.val).toHaveLength(10);
    expect([...a.train, ...a.val].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('rounds, keeps at least one validation and one training example', () => {
    expect(splitIndices(2, 0.1, 1).val).toHaveLength(1);
    expect(splitIndices(1, 0.5, 1).val).toHaveLength(0);
    expect(splitIndices(10, 0, 1).val).toHaveLength(0);
    expect(splitIndices(5, 0.99, 1).train).toHaveLength(1);
    expect(splitIndices(91, 0.1, 1).val).toHaveLength(9);
    expect(() => splitIndices(10, -0.1, 1)).toThrow(/valFraction/);
  });
});
