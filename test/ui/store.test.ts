/** Store logic that needs no browser: defaults per architecture, validation, the metrics reducer, slices, spectra. */
import { describe, expect, it } from 'vitest';
import { METHOD_DEFAULTS, METHOD_NAMES, type ModelSummary, type SpectraSnapshot } from '../../src/run/api';
import { adapterProblem, stripCommonRoot, checkpointProblem } from '../../src/ui/files';
import { createStudioStore, hasAdapter, isBusy } from '../../src/ui/store';
import { METHOD_INFO, METHOD_OPTION_KEYS, OPTION_FIELDS, relevantOptions } from '../../src/ui/methods';
import { formatEnergy, formatSigma, pick, spectrumColumns, splitAtRank, summarizeSnapshot } from '../../src/ui/spectra';
import { DEFAULT_DATA, DEFAULT_LORA, DEFAULT_METHOD_OPTIONS, DEFAULT_TRAIN, defaultTargets, settingsForModel, toDatasetOptions, toTrainSettings } from '../../src/ui/store/defaults';
import { appendMetric, chartColumns, latestMetrics } from '../../src/ui/store/metrics';
import { shownWeightSpectra, weightSpectraKey } from '../../src/ui/store/spectraSlice';
import { type FormSettings, settingsProblems } from '../../src/ui/store/validate';

const FORM: FormSettings = { method: 'lora', options: DEFAULT_METHOD_OPTIONS, lora: DEFAULT_LORA, train: DEFAULT_TRAIN, data: DEFAULT_DATA };

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
      beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1, valEvery: 10, seed: 42, spectraEvery: 10,
    });
    expect(DEFAULT_METHOD_OPTIONS).toEqual(METHOD_DEFAULTS);
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
    const t = toTrainSettings('lora', DEFAULT_METHOD_OPTIONS, DEFAULT_LORA, DEFAULT_TRAIN);
    expect(t.method).toBe('lora');
    expect(t.options).toEqual({});
    expect(t.spectraEvery).toBe(10);
    expect(t.lora.targets).not.toBe(DEFAULT_LORA.targets);
    const sorsa = toTrainSettings('sorsa', { ...DEFAULT_METHOD_OPTIONS, svd: 'randomized' }, DEFAULT_LORA, DEFAULT_TRAIN);
    expect(sorsa).toMatchObject({ method: 'sorsa', options: { svd: 'randomized', powerIters: 4, sorsaGamma: 4e-4 } });
    expect(toDatasetOptions(DEFAULT_DATA, { ...DEFAULT_TRAIN, seqLen: 32, seed: 7 })).toEqual({ ...DEFAULT_DATA, seqLen: 32, seed: 7 });
  });
});

describe('settingsProblems', () => {
  it('accepts the defaults', () => {
    expect(settingsProblems(FORM, modelSummary())).toEqual([]);
    for (const method of METHOD_NAMES) expect(settingsProblems({ ...FORM, method }, modelSummary()), method).toEqual([]);
  });

  it('names each bad field', () => {
    const p = settingsProblems(
      {
        ...FORM,
        lora: { ...DEFAULT_LORA, rank: 0, targets: [] },
        train: { ...DEFAULT_TRAIN, steps: 1.5, lr: Number.NaN, seqLen: 1024, spectraEvery: -1 },
        data: { ...DEFAULT_DATA, valFraction: 0.95 },
      },
      modelSummary(),
    );
    expect(p.join('\n')).toMatch(/Rank/);
    expect(p.join('\n')).toMatch(/target module/);
    expect(p.join('\n')).toMatch(/Steps/);
    expect(p.join('\n')).toMatch(/Learning rate/);
    expect(p.join('\n')).toMatch(/≤ 512/);
    expect(p.join('\n')).toMatch(/Validation fraction/);
    expect(p.join('\n')).toMatch(/Spectra every/);
  });

  it('checks only the options the chosen method reads', () => {
    const options = { ...DEFAULT_METHOD_OPTIONS, svfitEnergy: 0, sorsaGamma: -1, powerIters: 1.5 };
    expect(settingsProblems({ ...FORM, method: 'lora', options })).toEqual([]);
    expect(settingsProblems({ ...FORM, method: 'svfit', options })).toEqual(['Energy kept must be in (0, 1]']);
    expect(settingsProblems({ ...FORM, method: 'sorsa', options })).toEqual(['Orthonormal γ must be ≥ 0']);
    expect(settingsProblems({ ...FORM, method: 'pissa', options: { ...options, svd: 'randomized' } })).toEqual(['Power iterations must be a whole number ≥ 0']);
    expect(settingsProblems({ ...FORM, method: 'adalora', options: { ...options, adaloraBeta1: 1 } })).toEqual(['β1 (importance) must be in [0, 1)']);
  });

  it('names what a method asks of the model, the rank and the steps', () => {
    const gpt2 = modelSummary({ modelType: 'gpt2', targetableModules: GPT2 });
    const form = { ...FORM, lora: { ...DEFAULT_LORA, targets: ['c_attn'] } };
    expect(settingsProblems({ ...form, method: 'olora' }, gpt2)).toEqual([expect.stringMatching(/OLoRA needs a Llama-family model/)]);
    expect(settingsProblems({ ...form, method: 'pissa' }, gpt2)).toEqual([]);
    expect(settingsProblems({ ...FORM, method: 'adalora', lora: { ...DEFAULT_LORA, rank: 16 } })).toEqual([expect.stringMatching(/initial rank \(12\) must be ≥ the rank r \(16\)/)]);
    const budget = { ...DEFAULT_METHOD_OPTIONS, adaloraTinit: 30, adaloraTfinal: 30 };
    expect(settingsProblems({ ...FORM, method: 'adalora', options: budget })).toEqual(['AdaLoRA: tinit + tfinal must be less than the steps']);
  });

  it('rejects targets the model does not have', () => {
    expect(settingsProblems({ ...FORM, lora: { ...DEFAULT_LORA, targets: ['c_attn'] } }, modelSummary())).toEqual([
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

  it('an opened adapter folder stands in for the run\'s adapter, invalidating what was exported for it', () => {
    const store = createStudioStore();
    const s = () => store.getState();
    s().runStarted(1);
    s().runFinished({ steps: 1, finalLoss: 2, seconds: 1, stopped: false });
    s().exported({ config: '{}', weights: new Uint8Array(4) });
    s().setEvaluation({ status: 'done', base: 3, adapted: 2 });
    s().adapterLoading('ia3-run');
    expect(s().adapter).toEqual({ exporting: false, mergedExporting: false, evaluation: { status: 'idle' }, loaded: { status: 'loading', label: 'ia3-run' } });
    expect(isBusy(s())).toBe(true);
    expect(hasAdapter(s())).toBe(false);
    s().adapterLoaded({ kind: 'ia3', modules: 15, r: 0 }, 'ia3-run');
    expect(isBusy(s())).toBe(false);
    expect(hasAdapter(s())).toBe(true);
    s().adapterLoadFailed('adapter_config.json: peft_type "VERA" is not supported', 'vera');
    expect(s().adapter.loaded).toEqual({ status: 'error', label: 'vera', error: 'adapter_config.json: peft_type "VERA" is not supported' });
    expect(hasAdapter(s())).toBe(false);
    s().adapterReset();
    expect(s().adapter.loaded).toEqual({ status: 'empty' });
    expect(hasAdapter(s())).toBe(true);
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

  it('asks for an adapter config before bothering the worker with an adapter folder', () => {
    expect(adapterProblem([])).toMatch(/No files/);
    expect(adapterProblem([{ name: 'adapter_config.json', blob }, { name: 'adapter_model.safetensors', blob }])).toBeNull();
    expect(adapterProblem([{ name: 'webpeft_delta.json', blob }, { name: 'webpeft_delta.safetensors', blob }])).toBeNull();
    expect(adapterProblem([{ name: 'run/adapter_config.json', blob }])).toBeNull();
    expect(adapterProblem([{ name: 'adapter_model.safetensors', blob }])).toMatch(/^No adapter_config.json or webpeft_delta.json among the 1 file\(s\) \(adapter_model.safetensors\)/);
    expect(adapterProblem([{ name: 'adapter.zip', blob }])).toMatch(/unzip adapter.zip first\.$/);
  });

  it('asks for config.json before bothering the worker', () => {
    expect(checkpointProblem([{ name: 'model.safetensors', blob }])).toMatch(/No config.json/);
    expect(checkpointProblem([{ name: 'config.json', blob }])).toBeNull();
  });
});

describe('methods', () => {
  it('describes every method and knows which options each reads', () => {
    for (const m of METHOD_NAMES) {
      expect(METHOD_INFO[m].description.length, m).toBeGreaterThan(20);
      for (const k of METHOD_OPTION_KEYS[m]) expect(k in METHOD_DEFAULTS, `${m}.${k}`).toBe(true);
    }
    const covered = new Set(Object.values(METHOD_OPTION_KEYS).flat());
    expect([...covered].sort()).toEqual(Object.keys(METHOD_DEFAULTS).sort());
    expect(Object.keys(OPTION_FIELDS).sort()).toEqual(Object.keys(METHOD_DEFAULTS).sort());
  });

  it('sends power iterations only with the randomized SVD', () => {
    expect(relevantOptions('pissa', METHOD_DEFAULTS)).toEqual({ svd: 'exact' });
    expect(relevantOptions('pissa', { ...METHOD_DEFAULTS, svd: 'randomized' })).toEqual({ svd: 'randomized', powerIters: 4 });
    expect(relevantOptions('eva', METHOD_DEFAULTS)).toEqual({ evaBatches: 8, evaRho: 2 });
    expect(relevantOptions('olora', METHOD_DEFAULTS)).toEqual({});
  });

  it('switching method keeps the adapter and the other options', () => {
    const store = createStudioStore();
    const s = () => store.getState();
    s().setLora({ rank: 4 });
    s().setMethod('pissa');
    s().setMethodOptions({ sorsaGamma: 1e-3 });
    s().setMethod('sorsa');
    expect(s().settings).toMatchObject({ method: 'sorsa', lora: { rank: 4 }, options: { sorsaGamma: 1e-3, svd: 'exact' } });
  });
});

describe('spectra', () => {
  const snapshot: SpectraSnapshot = {
    step: 10,
    intruderThreshold: 0.5,
    layers: [
      { modulePath: 'a', delta: [1, 0], merged: [3], base: [3], effectiveRank: 1.5, intruders: 0 },
      { modulePath: 'b', delta: [2], merged: [3], base: [3], effectiveRank: 2.5, intruders: 3 },
    ],
  };

  it('lays curves out for a log axis: 1-based index, gaps for zeros, noise and missing values', () => {
    expect(spectrumColumns([[4, 2, 0], [1, Number.NaN], [null, 5, -1, 2]])).toEqual([
      [1, 2, 3, 4],
      [4, 2, null, null],
      [1, null, null, null],
      [null, 5, null, 2],
    ]);
    expect(spectrumColumns([])).toEqual([[]]);
    // ΔW at step 0 is rounding noise far below σ(W): left out rather than stretching the axis.
    expect(spectrumColumns([[10, 3], [1e-15, 1.7e-32]])).toEqual([[1, 2], [10, 3], [null, null]]);
    expect(spectrumColumns([[0, 0]])).toEqual([[1, 2], [null, null]]);
  });

  it('splits a spectrum at the rank with a shared boundary value', () => {
    expect(splitAtRank([5, 4, 3, 2], 2)).toEqual({ kept: [5, 4, null, null], rest: [null, 4, 3, 2] });
  });

  it('summarises a snapshot and picks the selected item or the first', () => {
    expect(summarizeSnapshot(snapshot)).toEqual({ layers: 2, meanEffectiveRank: 2, intruders: 3, layersWithIntruders: 1 });
    expect(pick(snapshot.layers, 'b', (l) => l.modulePath)?.modulePath).toBe('b');
    expect(pick(snapshot.layers, 'gone', (l) => l.modulePath)?.modulePath).toBe('a');
    expect(pick([], null, (l: { x: string }) => l.x)).toBeUndefined();
  });

  it('formats energies and singular values', () => {
    expect(formatEnergy(0.93123)).toBe('93.1%');
    expect(formatEnergy(0.99991)).toBe('99.991%');
    expect(formatEnergy(1)).toBe('100.0%');
    expect(formatSigma(1.23456)).toBe('1.23');
    expect(formatSigma(1.5e-5)).toBe('1.50e-5');
    expect(formatSigma(undefined)).toBe('—');
  });

  it('keys weight spectra by method, options, rank and targets (in any order)', () => {
    const a = toTrainSettings('pissa', METHOD_DEFAULTS, { ...DEFAULT_LORA, targets: ['q_proj', 'v_proj'] }, DEFAULT_TRAIN);
    const b = toTrainSettings('pissa', METHOD_DEFAULTS, { ...DEFAULT_LORA, targets: ['v_proj', 'q_proj'] }, { ...DEFAULT_TRAIN, lr: 1 });
    expect(weightSpectraKey(a)).toBe(weightSpectraKey(b));
    expect(weightSpectraKey(a)).not.toBe(weightSpectraKey({ ...a, lora: { ...a.lora, rank: 2 } }));
    expect(weightSpectraKey(a)).not.toBe(weightSpectraKey({ ...a, method: 'milora' }));
  });

  it('keeps showing the previous weight spectra while new ones load; a run resets the live snapshot', () => {
    const store = createStudioStore();
    const s = () => store.getState();
    const w = { name: 'w', modulePath: 'm', shape: [2, 2] as [number, number], singularValues: [2, 1], rank: 1, energyAtRank: 0.8 };
    s().weightSpectraLoading('k1');
    expect(shownWeightSpectra(s().spectra.weights)).toBeUndefined();
    s().weightSpectraLoaded('k1', [w]);
    s().weightSpectraLoading('k2');
    expect(shownWeightSpectra(s().spectra.weights)).toEqual([w]);
    s().spectraReceived(snapshot);
    s().spectraReceived({ ...snapshot, step: 20 });
    expect(s().spectra).toMatchObject({ snapshots: 2, live: { step: 20 } });
    s().liveSpectraReset();
    expect(s().spectra).toMatchObject({ snapshots: 0, live: null });
    s().setSpectraAuto(false);
    s().spectraReset();
    expect(s().spectra).toMatchObject({ auto: false, weights: { status: 'idle' } });
  });
});
