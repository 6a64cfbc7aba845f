/** Store logic that needs no browser: defaults per architecture, validation, the metrics reducer, slices. */
import { describe, expect, it } from 'vitest';
import type { ModelSummary } from '../../src/run/api';
import { stripCommonRoot, checkpointProblem } from '../../src/ui/files';
import { createStudioStore, hasAdapter, isBusy } from '../../src/ui/store';
import { DEFAULT_DATA, DEFAULT_LORA, DEFAULT_TRAIN, defaultTargets, settingsForModel, toDatasetOptions, toTrainSettings } from '../../src/ui/store/defaults';
import { appendMetric, chartColumns, latestMetrics } from '../../src/ui/store/metrics';
import { settingsProblems } from '../../src/ui/store/validate';

const LLAMA = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const GPT2 = ['c_attn', 'c_proj', 'c_fc'];

function modelSummary(over: Partial<ModelSummary> = {}): ModelSummary {
  return {
    modelType: 'llama', architecture: 'LlamaForCausalLM', layers: 5, hidden: 64, heads: 8, kvHeads: 4, intermediate: 172,
    vocab: 512, maxPositions: 512, parameters: 260032, dtype: 'F32', tiedEmbeddings: true, hasTokenizer: true,
    hasChatTemplate: false, targetableModules: LLAMA, files: ['config.json', 'model.safetensors'], ...over,
  };
}

describe('defaults', () => {
  it('are the small-model defaults of the brief', () => {
    expect(DEFAULT_LORA).toMatchObject({ rank: 8, alpha: 16, useRslora: false, dropout: 0, targets: ['q_proj', 'v_proj'] });
    expect(DEFAULT_TRAIN).toEqual({
      steps: 60, batchSize: 4, seqLen: 64, gradAccum: 1, lr: 2e-3, warmupSteps: 5, schedule: 'cosine', weightDecay: 0,
      beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1, valEvery: 10, seed: 42,
    });
  });

  it('targets query and value for each family', () => {
    expect(defaultTargets({ targetableModules: LLAMA })).toEqual(['q_proj', 'v_proj']);
    expect(defaultTargets({ targetableModules: GPT2 })).toEqual(['c_attn']);
    expect(defaultTargets({ targetableModules: ['foo', 'bar'] })).toEqual(['foo']);
  });

  it('adapts to a loaded model: keeps valid targets, replaces foreign ones, caps the sequence length', () => {
    const gpt2 = settingsForModel({ targetableModules: GPT2, maxPositions: 32 }, DEFAULT_LORA, DEFAULT_TRAIN);
    expect(gpt2.lora.targets).toEqual(['c_attn']);
    expect(gpt2.train.seqLen).toBe(32);
    const mine = settingsForModel({ targetableModules: LLAMA, maxPositions: 512 }, { ...DEFAULT_LORA, targets: ['o_proj'] }, DEFAULT_TRAIN);
    expect(mine.lora.targets).toEqual(['o_proj']);
    expect(mine.train.seqLen).toBe(64);
  });

  it('builds the API payloads', () => {
    const t = toTrainSettings(DEFAULT_LORA, DEFAULT_TRAIN);
    expect(t.method).toBe('lora');
    expect(t.lora.targets).not.toBe(DEFAULT_LORA.targets);
    expect(toDatasetOptions(DEFAULT_DATA, { ...DEFAULT_TRAIN, seqLen: 32, seed: 7 })).toEqual({ ...DEFAULT_DATA, seqLen: 32, seed: 7 });
  });
});

describe('settingsProblems', () => {
  it('accepts the defaults', () => {
    expect(settingsProblems(DEFAULT_LORA, DEFAULT_TRAIN, DEFAULT_DATA, modelSummary())).toEqual([]);
  });

  it('names each bad field', () => {
    const p = settingsProblems(
      { ...DEFAULT_LORA, rank: 0, targets: [] },
      { ...DEFAULT_TRAIN, steps: 1.5, lr: Number.NaN, seqLen: 1024 },
      { ...DEFAULT_DATA, valFraction: 0.95 },
      modelSummary(),
    );
    expect(p.join('\n')).toMatch(/Rank/);
    expect(p.join('\n')).toMatch(/target module/);
    expect(p.join('\n')).toMatch(/Steps/);
    expect(p.join('\n')).toMatch(/Learning rate/);
    expect(p.join('\n')).toMatch(/≤ 512/);
    expect(p.join('\n')).toMatch(/Validation fraction/);
  });

  it('rejects targets the model does not have', () => {
    expect(settingsProblems({ ...DEFAULT_LORA, targets: ['c_attn'] }, DEFAULT_TRAIN, DEFAULT_DATA, modelSummary())).toEqual([
      'Not a module of this model: c_attn',
    ]);
  });
});

describe('metrics', () => {
  it('appends steps and merges a second report for the same step', () => {
    let s = appendMetric([], { step: 1, loss: 3, lr: 1e-3, tokensPerS: 100 });
    s = appendMetric(s, { step: 2, loss: 2.5, lr: 1e-3, tokensPerS: 110 });
    s = appendMetric(s, { step: 2, loss: 2.5, lr: 1e-3, tokensPerS: 110, valLoss: 2.8 });
    expect(s).toHaveLength(2);
    expect(s[1].valLoss).toBe(2.8);
    expect(latestMetrics(s)).toMatchObject({ step: 2, loss: 2.5, valLoss: 2.8 });
    s = appendMetric(s, { step: 3, loss: 2.4, lr: 1e-3, tokensPerS: 120 });
    expect(latestMetrics(s).valLoss).toBe(2.8); // the last measured one
    expect(chartColumns(s)).toEqual([[1, 2, 3], [3, 2.5, 2.4], [null, 2.8, null]]);
  });

  it('has an empty view before the first step', () => {
    expect(latestMetrics([])).toEqual({ step: 0 });
  });
});

describe('store', () => {
  it('loading a GPT-2 model switches targets to c_attn and clears on worker loss', () => {
    const store = createStudioStore();
    store.getState().modelLoaded(modelSummary({ modelType: 'gpt2', targetableModules: GPT2, maxPositions: 1024 }), 'gpt2');
    expect(store.getState().settings.lora.targets).toEqual(['c_attn']);
    store.getState().toggleTarget('c_fc', true);
    expect(store.getState().settings.lora.targets).toEqual(['c_attn', 'c_fc']);
    store.getState().modelLost();
    expect(store.getState().model.status).toBe('empty');
  });

  it('tracks a run and knows when an adapter exists', () => {
    const store = createStudioStore();
    const s = () => store.getState();
    s().runStarted(3);
    expect(isBusy(s())).toBe(true);
    s().metricsReceived({ step: 1, loss: 2, lr: 1, tokensPerS: 1 });
    s().runFinished({ steps: 1, finalLoss: 2, seconds: 1, stopped: true });
    expect(s().run.status).toBe('stopped');
    expect(hasAdapter(s())).toBe(true);
    expect(isBusy(s())).toBe(false);
  });

  it('keeps alerts by source and drops exact repeats', () => {
    const store = createStudioStore();
    const s = () => store.getState();
    s().pushAlert('model', 'Could not load', 'bad header');
    s().pushAlert('model', 'Could not load', 'bad header');
    s().pushAlert('dataset', 'Could not load', 'line 2');
    expect(s().alerts).toHaveLength(2);
    s().clearAlerts('model');
    expect(s().alerts.map((a) => a.source)).toEqual(['dataset']);
  });
});

describe('files', () => {
  const blob = new Blob(['x']);
  it('strips the folder a picker or a drop adds, and labels the pick', () => {
    const picked = stripCommonRoot([
      { name: 'stories260K/config.json', blob },
      { name: '/stories260K/onnx/model.onnx', blob },
    ]);
    expect(picked.label).toBe('stories260K');
    expect(picked.files.map((f) => f.name)).toEqual(['config.json', 'onnx/model.onnx']);
    expect(stripCommonRoot([{ name: 'config.json', blob }, { name: 'model.safetensors', blob }]).label).toBe('2 files');
  });

  it('asks for config.json before bothering the worker', () => {
    expect(checkpointProblem([{ name: 'model.safetensors', blob }])).toMatch(/No config.json/);
    expect(checkpointProblem([{ name: 'config.json', blob }])).toBeNull();
  });
});
