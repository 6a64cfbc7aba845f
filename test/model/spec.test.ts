import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { specFromConfig } from '../../src/model';

const config = (model: string): Record<string, unknown> => JSON.parse(readFileSync(join(__dirname, '..', '..', 'fixtures', 'models', model, 'config.json'), 'utf8')) as Record<string, unknown>;

describe('config.json → ModelSpec', () => {
  it('reads each family with its quirks', () => {
    expect(specFromConfig(config('stories260K'))).toMatchObject({ family: 'llama', heads: 8, kvHeads: 4, headDim: 8, tiedEmbeddings: true, qkvBias: false, normEps: 1e-5 });
    expect(specFromConfig(config('qwen2-tiny'))).toMatchObject({ family: 'llama', modelType: 'qwen2', qkvBias: true, outBias: false, tiedEmbeddings: false, normEps: 1e-6, slidingWindow: undefined });
    expect(specFromConfig(config('gpt2-tiny'))).toMatchObject({ family: 'gpt2', hidden: 64, intermediate: 256, tiedEmbeddings: true, maxPositions: 1024 });
  });

  it('refuses what it cannot run, by name', () => {
    expect(() => specFromConfig({ ...config('llama-tiny'), model_type: 'falcon' })).toThrow(/model_type "falcon" is not supported \(supported: llama, mistral, qwen2, gpt2\)/);
    expect(() => specFromConfig({ ...config('llama-tiny'), hidden_act: 'gelu' })).toThrow(/hidden_act "gelu"/);
    expect(() => specFromConfig({ ...config('gpt2-tiny'), activation_function: 'relu' })).toThrow(/activation_function "relu"/);
    expect(() => specFromConfig({ ...config('llama-tiny'), num_key_value_heads: 3 })).toThrow(/not a multiple/);
    expect(() => specFromConfig({ ...config('llama-tiny'), hidden_size: 'big' })).toThrow(/"hidden_size" is "big", not a number/);
    expect(() => specFromConfig({})).toThrow(/no "model_type"/);
  });

  it('mistral: sliding window, rope scaling', () => {
    const mistral = { ...config('llama-tiny'), model_type: 'mistral', sliding_window: 4096, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } };
    expect(specFromConfig(mistral)).toMatchObject({ modelType: 'mistral', slidingWindow: 4096, ropeScaling: { type: 'llama3', factor: 8 } });
    expect(() => specFromConfig({ ...mistral, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/rope_scaling type "yarn"/);
  });
});
