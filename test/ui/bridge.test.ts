/**
 * The bridge against a scripted stand-in for the worker connection (no Worker, no GPU): worker results land in the
 * store, failures become alerts, a dying worker rejects calls in flight, and stale answers are dropped.
 */
import { describe, expect, it, vi } from 'vitest';
import type { AdapterFiles, DatasetSummary, ModelSummary, RunSummary, SparsitySnapshot, SpectraSnapshot, StepMetrics, TrainerApi, TrainSettings, WeightSpectrum } from '../../src/run/api';
import { TrainerBridge } from '../../src/ui/bridge';
import type { TrainerConnection } from '../../src/ui/connection';
import { createStudioStore, hasAdapter, isBusy } from '../../src/ui/store';

const MODEL: ModelSummary = {
  modelType: 'llama', architecture: 'LlamaForCausalLM', layers: 5, hidden: 64, heads: 8, kvHeads: 4, intermediate: 172,
  vocab: 512, maxPositions: 512, parameters: 260032, dtype: 'F32', tiedEmbeddings: true, hasTokenizer: true,
  hasChatTemplate: false, targetableModules: ['q_proj', 'k_proj', 'v_proj'], files: ['config.json', 'model.safetensors'],
};
const DATASET: DatasetSummary = {
  fileName: 'd.txt', format: 'text', examples: 10, trainExamples: 9, valExamples: 1, tokens: 640, lossTokens: 640, problems: [], preview: 'x',
};
const FILES = [{ name: 'config.json', blob: new Blob(['{}']) }, { name: 'model.safetensors', blob: new Blob(['x']) }];
const DATA_FILE = { name: 'd.txt', blob: new Blob(['hello']) };
const SNAPSHOT: SpectraSnapshot = {
  step: 2,
  intruderThreshold: 0.5,
  layers: [{ modulePath: 'model.layers.0.self_attn.q_proj', delta: [0.2, 0.1], merged: [3, 2], base: [3, 2], effectiveRank: 1.9, intruders: 1 }],
};

function spectra(s: TrainSettings): WeightSpectrum[] {
  return s.lora.targets.map((t) => ({
    name: `model.layers.0.self_attn.${t}.weight`, modulePath: `model.layers.0.self_attn.${t}`, shape: [64, 64],
    singularValues: [4, 2, 1], rank: s.lora.rank, energyAtRank: 0.9,
  }));
}

function fakeApi(over: Partial<TrainerApi> = {}): TrainerApi {
  return {
    init: vi.fn(async () => ({ description: 'fake', features: [], maxBufferMiB: 256 })),
    loadModel: vi.fn(async () => MODEL),
    loadDataset: vi.fn(async () => DATASET),
    trainableParameters: vi.fn(async () => 8960),
    train: vi.fn(async (_s, onMetrics: (m: StepMetrics) => void, onSpectra?: (s: SpectraSnapshot) => void) => {
      onMetrics({ step: 1, loss: 3, lr: 1e-3, tokensPerS: 10 });
      onMetrics({ step: 2, loss: 2, lr: 1e-3, tokensPerS: 10, valLoss: 2.5 });
      onSpectra?.(SNAPSHOT);
      return { steps: 2, finalLoss: 2, seconds: 0.1, stopped: false };
    }),
    stop: vi.fn(async () => {}),
    generate: vi.fn(async (o) => `${o.prompt} and then`),
    evaluate: vi.fn(async (useAdapter: boolean) => (useAdapter ? 2.1 : 2.9)),
    exportAdapter: vi.fn(async () => ({ config: '{}', weights: new Uint8Array(8) })),
    weightSpectra: vi.fn(async (s: TrainSettings) => spectra(s)),
    exportMerged: vi.fn(async () => [{ name: 'config.json', data: new Uint8Array(2) }, { name: 'model.safetensors', data: new Uint8Array(16) }]),
    loadAdapter: vi.fn(async () => ({ kind: 'ia3' as const, modules: 15, r: 0 })),
    ...over,
  };
}

function harness(api: TrainerApi = fakeApi()) {
  const store = createStudioStore();
  const connections: { conn: TrainerConnection; kill: (msg: string) => void }[] = [];
  const connect = () => {
    let kill: (e: Error) => void = () => {};
    const failed = new Promise<never>((_, reject) => (kill = reject));
    failed.catch(() => {});
    const conn: TrainerConnection = { api, callback: (fn) => fn, failed, terminate: vi.fn() };
    connections.push({ conn, kill: (msg) => kill(new Error(msg)) });
    return conn;
  };
  const bridge = new TrainerBridge(store, connect);
  return { store, s: () => store.getState(), bridge, api, connections };
}

async function loaded(h: ReturnType<typeof harness>) {
  await h.bridge.start();
  await h.bridge.loadModel(FILES, 'tiny');
  await h.bridge.loadDataset(DATA_FILE);
}

describe('TrainerBridge', () => {
  it('starts the worker once and reports the device', async () => {
    const h = harness();
    await h.bridge.start();
    await h.bridge.start();
    expect(h.connections).toHaveLength(1);
    expect(h.s().device).toEqual({ status: 'ready', summary: { description: 'fake', features: [], maxBufferMiB: 256 } });
  });

  it('shows a failed init once, then retries with a fresh worker on the next action', async () => {
    const api = fakeApi({ init: vi.fn(async () => { throw new Error('WebGPU is not available: no navigator.gpu'); }) });
    const h = harness(api);
    await h.bridge.start();
    expect(h.s().device.status).toBe('error');
    expect(h.s().alerts.map((a) => a.title)).toEqual(['WebGPU is not available']);
    await h.bridge.loadModel(FILES, 'tiny');
    expect(h.connections).toHaveLength(2);
    expect(h.s().model.status).toBe('error');
    expect(h.s().alerts).toHaveLength(1); // the device alert covers it
  });

  it('loads a model and a dataset into the store and adapts the settings', async () => {
    const h = harness();
    await loaded(h);
    expect(h.s().model).toMatchObject({ status: 'ready', label: 'tiny' });
    expect(h.s().dataset).toMatchObject({ status: 'ready', label: 'd.txt' });
    expect(h.api.loadDataset).toHaveBeenCalledWith(DATA_FILE, expect.objectContaining({ seqLen: 64, seed: 42, valFraction: 0.1 }));
  });

  it('turns a rejected load into an alert naming the file', async () => {
    const h = harness(fakeApi({ loadModel: vi.fn(async () => { throw new Error('model.safetensors: header length 1234 exceeds the file'); }) }));
    await h.bridge.start();
    await h.bridge.loadModel(FILES, '2 files');
    expect(h.s().model).toMatchObject({ status: 'error', error: 'model.safetensors: header length 1234 exceeds the file' });
    expect(h.s().alerts[0]).toMatchObject({ source: 'model', message: 'model.safetensors: header length 1234 exceeds the file' });
  });

  it('checks for config.json before calling the worker', async () => {
    const h = harness();
    await h.bridge.loadModelFrom(() => ({ files: [{ name: 'model.safetensors', blob: new Blob([]) }], label: 'x' }));
    expect(h.api.loadModel).not.toHaveBeenCalled();
    expect(h.s().alerts[0].message).toMatch(/No config.json/);
  });

  it('trains: streams metrics, ends done, then measures validation loss with and without the adapter', async () => {
    const h = harness();
    await loaded(h);
    await h.bridge.train();
    expect(h.s().run.status).toBe('done');
    expect(h.s().run.metrics.map((m) => m.step)).toEqual([1, 2]);
    expect(h.api.evaluate).toHaveBeenNthCalledWith(1, false);
    expect(h.api.evaluate).toHaveBeenNthCalledWith(2, true);
    expect(h.s().adapter.evaluation).toEqual({ status: 'done', base: 2.9, adapted: 2.1 });
    const files = await h.bridge.exportAdapter();
    expect(files?.config).toBe('{}');
    await h.bridge.exportAdapter();
    expect(h.api.exportAdapter).toHaveBeenCalledTimes(1); // cached until the next run
  });

  it('re-reads the dataset with the new sequence length before training', async () => {
    const h = harness();
    await loaded(h);
    h.s().setTrain({ seqLen: 32 });
    await h.bridge.train();
    expect(h.api.loadDataset).toHaveBeenLastCalledWith(DATA_FILE, expect.objectContaining({ seqLen: 32 }));
    expect(h.api.train).toHaveBeenCalledWith(expect.objectContaining({ seqLen: 32, method: 'lora', spectraEvery: 10 }), expect.any(Function), expect.any(Function), expect.any(Function), expect.any(Function));
  });

  it('does not start a run with invalid settings', async () => {
    const h = harness();
    await loaded(h);
    h.s().setLora({ rank: 0 });
    await h.bridge.train();
    expect(h.api.train).not.toHaveBeenCalled();
    expect(h.s().alerts[0]).toMatchObject({ source: 'settings' });
  });

  it('a worker that dies mid-run fails the run, says so once, and the next action starts a new worker', async () => {
    let release: () => void = () => {};
    const api = fakeApi({ train: vi.fn(() => new Promise<never>((resolve) => (release = resolve as () => void))) });
    const h = harness(api);
    await loaded(h);
    const run = h.bridge.train();
    await vi.waitFor(() => expect(api.train).toHaveBeenCalled());
    h.connections[0].kill('out of memory');
    await run;
    release();
    expect(h.s().run).toMatchObject({ status: 'error', error: 'out of memory' });
    expect(h.s().model.status).toBe('empty');
    expect(h.s().alerts.map((a) => a.title)).toEqual(['The trainer stopped']);
    expect(h.connections[0].conn.terminate).toHaveBeenCalled();
    await h.bridge.start(); // the successor was started already
    expect(h.connections).toHaveLength(2);
    expect(h.s().device.status).toBe('ready');
    expect(h.s().alerts.map((a) => a.title)).toEqual(['The trainer stopped']);
  });

  it('a lost GPU device replaces the worker and asks for the model again', async () => {
    const api = fakeApi({ train: vi.fn(async () => { throw new Error('GPU device lost (unknown): instance gone'); }) });
    const h = harness(api);
    await loaded(h);
    await h.bridge.train();
    expect(h.s().run.status).toBe('error');
    expect(h.s().model.status).toBe('empty');
    expect(h.s().alerts).toHaveLength(1);
    expect(h.s().alerts[0].message).toMatch(/device lost .*Load the model again/);
    expect(h.connections[0].conn.terminate).toHaveBeenCalled();
  });

  it('stop asks the worker once', async () => {
    let finish: (v: RunSummary) => void = () => {};
    const api = fakeApi({ train: vi.fn(() => new Promise<RunSummary>((resolve) => (finish = resolve))) });
    const h = harness(api);
    await loaded(h);
    const run = h.bridge.train();
    await vi.waitFor(() => expect(api.train).toHaveBeenCalled());
    await h.bridge.stop();
    await h.bridge.stop();
    expect(api.stop).toHaveBeenCalledTimes(1);
    finish({ steps: 1, finalLoss: 3, seconds: 1, stopped: true });
    await run;
    expect(h.s().run.status).toBe('stopped');
  });

  it('keeps only the latest trainable-parameter count; a request superseded while queued never reaches the worker', async () => {
    const answers: ((n: number) => void)[] = [];
    const api = fakeApi({ trainableParameters: vi.fn(() => new Promise<number>((r) => answers.push(r))) });
    const h = harness(api);
    await loaded(h);
    const { lora, options } = h.s().settings;
    const first = h.bridge.countTrainable({ ...lora, rank: 4 }, 'lora', options);
    await vi.waitFor(() => expect(answers).toHaveLength(1));
    const second = h.bridge.countTrainable({ ...lora, rank: 6 }, 'lora', options);
    const third = h.bridge.countTrainable({ ...lora, rank: 8 }, 'lora', options);
    answers[0](4480); // stale by now: dropped
    await vi.waitFor(() => expect(answers).toHaveLength(2));
    expect(h.s().trainable).toEqual({ status: 'counting' });
    answers[1](8960);
    await Promise.all([first, second, third]);
    expect(api.trainableParameters).toHaveBeenCalledTimes(2);
    expect(api.trainableParameters).toHaveBeenLastCalledWith(expect.objectContaining({ rank: 8 }), 'lora', {});
    expect(h.s().trainable).toEqual({ status: 'ready', count: 8960 });
  });

  it('counts trainable parameters with the method and only the options it reads', async () => {
    const h = harness();
    await loaded(h);
    h.s().setMethodOptions({ svd: 'randomized', powerIters: 2 });
    const { lora, options } = h.s().settings;
    await h.bridge.countTrainable(lora, 'pissa', options);
    expect(h.api.trainableParameters).toHaveBeenLastCalledWith(lora, 'pissa', { svd: 'randomized', powerIters: 2 });
    await h.bridge.countTrainable(lora, 'adalora', { ...options, adaloraInitR: 2 }); // below the rank: not asked
    expect(h.api.trainableParameters).toHaveBeenCalledTimes(1);
    expect(h.s().trainable).toEqual({ status: 'unknown' });
  });

  it('generates base and adapted samples with the run seed', async () => {
    const h = harness();
    await loaded(h);
    await h.bridge.generate('base');
    expect(h.api.generate).toHaveBeenCalledWith(expect.objectContaining({ prompt: 'Once upon a time', useAdapter: false, seed: 42 }));
    expect(h.s().samples.base).toMatchObject({ status: 'done', text: 'Once upon a time and then' });
  });

  it('loads the weight spectra for the current settings once, again on a change or when forced', async () => {
    const h = harness();
    await loaded(h);
    h.s().setMethod('pissa');
    h.s().setLora({ rank: 4 });
    await h.bridge.loadWeightSpectra();
    expect(h.api.weightSpectra).toHaveBeenCalledWith(expect.objectContaining({ method: 'pissa', options: { svd: 'exact' }, lora: expect.objectContaining({ rank: 4 }) }));
    const w = h.s().spectra.weights;
    expect(w.status).toBe('ready');
    expect(w.status === 'ready' && w.value.map((x) => x.rank)).toEqual([4, 4]);
    await h.bridge.loadWeightSpectra();
    expect(h.api.weightSpectra).toHaveBeenCalledTimes(1);
    h.s().setLora({ rank: 2 });
    await h.bridge.loadWeightSpectra();
    expect(h.api.weightSpectra).toHaveBeenCalledTimes(2);
    await h.bridge.loadWeightSpectra(true);
    expect(h.api.weightSpectra).toHaveBeenCalledTimes(3);
  });

  it('keeps the latest weight spectra and reports a failure in the alert region', async () => {
    const pending: { settings: TrainSettings; resolve: (v: WeightSpectrum[]) => void; reject: (e: Error) => void }[] = [];
    const api = fakeApi({ weightSpectra: vi.fn((settings: TrainSettings) => new Promise<WeightSpectrum[]>((resolve, reject) => pending.push({ settings, resolve, reject }))) });
    const h = harness(api);
    await loaded(h);
    const first = h.bridge.loadWeightSpectra();
    await vi.waitFor(() => expect(pending).toHaveLength(1));
    h.s().setLora({ rank: 2 });
    const second = h.bridge.loadWeightSpectra();
    h.s().setLora({ rank: 3 });
    const third = h.bridge.loadWeightSpectra();
    pending[0].resolve(spectra(pending[0].settings)); // rank 8: stale
    await vi.waitFor(() => expect(pending).toHaveLength(2)); // rank 2 was skipped in the queue
    expect(pending[1].settings.lora.rank).toBe(3);
    expect(h.s().spectra.weights.status).toBe('loading');
    pending[1].reject(new Error('SVD did not converge'));
    await Promise.all([first, second, third]);
    expect(h.s().spectra.weights).toMatchObject({ status: 'error', error: 'SVD did not converge' });
    expect(h.s().alerts.map((a) => [a.source, a.title, a.message])).toEqual([['spectra', 'Could not compute the weight spectra', 'SVD did not converge']]);
  });

  it('drops weight spectra still queued when a run starts, and asks again after it', async () => {
    let finishSample: () => void = () => {};
    const api = fakeApi({ generate: vi.fn(() => new Promise<string>((resolve) => (finishSample = () => resolve('text')))) });
    const h = harness(api);
    await loaded(h);
    const sampling = h.bridge.generate('base'); // something ahead in the queue
    await vi.waitFor(() => expect(api.generate).toHaveBeenCalled());
    const spectraQueued = h.bridge.loadWeightSpectra();
    expect(h.s().spectra.weights.status).toBe('loading');
    const run = h.bridge.train();
    finishSample();
    await Promise.all([sampling, spectraQueued, run]);
    expect(api.train).toHaveBeenCalledTimes(1);
    expect(api.weightSpectra).not.toHaveBeenCalled();
    expect(h.s().spectra.weights.status).toBe('idle');
    await h.bridge.loadWeightSpectra();
    expect(api.weightSpectra).toHaveBeenCalledTimes(1);
  });

  it('does not ask for weight spectra while training or with settings that cannot run', async () => {
    let finish: (v: RunSummary) => void = () => {};
    const api = fakeApi({ train: vi.fn(() => new Promise<RunSummary>((resolve) => (finish = resolve))) });
    const h = harness(api);
    await loaded(h);
    const run = h.bridge.train();
    await vi.waitFor(() => expect(api.train).toHaveBeenCalled());
    await h.bridge.loadWeightSpectra(true);
    expect(api.weightSpectra).not.toHaveBeenCalled();
    finish({ steps: 1, finalLoss: 3, seconds: 1, stopped: false });
    await run;
    h.s().setMethod('svfit');
    h.s().setMethodOptions({ svfitEnergy: 1.5 });
    await h.bridge.loadWeightSpectra();
    expect(api.weightSpectra).not.toHaveBeenCalled();
  });

  it('queues background requests behind a running action instead of sending them beside it', async () => {
    let finish: (v: RunSummary) => void = () => {};
    const api = fakeApi({ train: vi.fn(() => new Promise<RunSummary>((resolve) => (finish = resolve))) });
    const h = harness(api);
    await loaded(h);
    const run = h.bridge.train();
    await vi.waitFor(() => expect(api.train).toHaveBeenCalled());
    const { lora, method, options } = h.s().settings;
    const count = h.bridge.countTrainable(lora, method, options);
    await new Promise((r) => setTimeout(r, 10));
    expect(api.trainableParameters).not.toHaveBeenCalled();
    await h.bridge.stop(); // stop jumps the queue
    expect(api.stop).toHaveBeenCalledTimes(1);
    finish({ steps: 1, finalLoss: 3, seconds: 1, stopped: true });
    await Promise.all([run, count]);
    expect(api.trainableParameters).toHaveBeenCalledTimes(1);
  });

  it('streams spectra snapshots into the store, and starts each run without the last one', async () => {
    const h = harness();
    await loaded(h);
    h.s().setMethod('pissa');
    h.s().setTrain({ spectraEvery: 2 });
    await h.bridge.train();
    expect(h.api.train).toHaveBeenCalledWith(expect.objectContaining({ method: 'pissa', spectraEvery: 2 }), expect.any(Function), expect.any(Function), expect.any(Function), expect.any(Function));
    expect(h.s().spectra.live).toEqual(SNAPSHOT);
    expect(h.s().spectra.snapshots).toBe(1);
    let seen: unknown = 'not called';
    (h.api.train as ReturnType<typeof vi.fn>).mockImplementationOnce(async () => {
      seen = h.s().spectra.live;
      return { steps: 1, finalLoss: 1, seconds: 1, stopped: false };
    });
    await h.bridge.train();
    expect(seen).toBeNull();
  });

  it("shows the method's setup progress until the first step", async () => {
    let progress: unknown = null;
    const api = fakeApi({
      train: vi.fn(async (_s: TrainSettings, _m: unknown, _sp: unknown, onProgress?: (message: string, fraction: number) => void) => {
        onProgress?.('PiSSA: initialising model.layers.0.self_attn.q_proj', 0.25);
        progress = h.s().run.setup;
        return { steps: 1, finalLoss: 1, seconds: 1, stopped: false };
      }),
    });
    const h = harness(api);
    await loaded(h);
    await h.bridge.train();
    expect(progress).toEqual({ message: 'PiSSA: initialising model.layers.0.self_attn.q_proj', fraction: 0.25 });
  });

  it('exports the merged model on each request and reports a failure', async () => {
    const h = harness();
    await loaded(h);
    await h.bridge.train();
    const files = await h.bridge.exportMerged();
    expect(files?.map((f) => f.name)).toEqual(['config.json', 'model.safetensors']);
    expect(h.s().adapter.mergedExporting).toBe(false);
    (h.api.exportMerged as ReturnType<typeof vi.fn>).mockRejectedValueOnce(new Error('not enough memory to merge'));
    expect(await h.bridge.exportMerged()).toBeUndefined();
    expect(h.s().alerts[0]).toMatchObject({ source: 'export', title: 'Could not export the merged model', message: 'not enough memory to merge' });
  });

  it('forgets the weight spectra of a model that is replaced', async () => {
    const h = harness();
    await loaded(h);
    await h.bridge.loadWeightSpectra();
    expect(h.s().spectra.weights.status).toBe('ready');
    await h.bridge.loadModel(FILES, 'other');
    expect(h.s().spectra.weights.status).toBe('idle');
  });
  it('streams sparsity snapshots into the store through the fifth train callback, and forgets them on the next run', async () => {
    const layer = {
      modulePath: 'model.layers.0.self_attn.q_proj', shape: [64, 64] as [number, number], kept: 205, density: 205 / 4096, updates: 0, dropped: 0, regrown: 0,
      lastDropped: 0, lastRegrown: 0, rowsTouched: 0.95, colsTouched: 0.94, gridRows: 32, gridCols: 32, grid: new Array<number>(1024).fill(0),
    };
    const first: SparsitySnapshot = { step: 0, layers: [layer] };
    const after: SparsitySnapshot = { step: 2, layers: [{ ...layer, updates: 1, dropped: 15, regrown: 15, lastDropped: 15, lastRegrown: 15 }] };
    let seen: unknown = 'not called';
    const api = fakeApi({
      train: vi.fn(async (_s: TrainSettings, onMetrics: (m: StepMetrics) => void, _sp?: unknown, _pr?: unknown, onSparsity?: (s: SparsitySnapshot) => void) => {
        seen = h.s().sparsity;
        onSparsity?.(first);
        onMetrics({ step: 1, loss: 3, lr: 1e-3, tokensPerS: 10 });
        onMetrics({ step: 2, loss: 2, lr: 1e-3, tokensPerS: 10 });
        onSparsity?.(after);
        return { steps: 2, finalLoss: 2, seconds: 0.1, stopped: false };
      }),
    });
    const h = harness(api);
    await loaded(h);
    h.s().setMethod('sparse');
    h.s().setMethodOptions({ density: 0.05, regrowEvery: 2 });
    await h.bridge.train();
    expect(api.train).toHaveBeenCalledWith(
      expect.objectContaining({ method: 'sparse', options: expect.objectContaining({ density: 0.05, regrowEvery: 2 }) }),
      expect.any(Function), expect.any(Function), expect.any(Function), expect.any(Function),
    );
    expect(seen).toEqual({ method: 'sparse', live: null, snapshots: 0, history: [] });
    expect(h.s().sparsity).toMatchObject({ method: 'sparse', snapshots: 2, live: after });
    expect(h.s().sparsity.history.map((p) => [p.step, p.updates, p.dropped])).toEqual([[0, 0, 0], [2, 1, 15]]);
    expect(h.s().run.settings).toMatchObject({ method: 'sparse' });
    // A new model drops the index sets with the weights they describe.
    await h.bridge.loadModel(FILES, 'other');
    expect(h.s().sparsity.live).toBeNull();
  });

  it('exports the webpeft delta as a second format, each cached, and reuses a default export that is a delta', async () => {
    const peft: AdapterFiles = { config: '{"peft_type":"IA3"}', weights: new Uint8Array(4) };
    const delta: AdapterFiles = { config: '{}', weights: new Uint8Array(4), configName: 'webpeft_delta.json', weightsName: 'webpeft_delta.safetensors' };
    const exportAdapter = vi.fn(async (format?: 'peft' | 'webpeft-delta') => (format === 'webpeft-delta' ? delta : peft));
    const h = harness(fakeApi({ exportAdapter }));
    await loaded(h);
    h.s().setMethod('ia3');
    await h.bridge.train();
    expect(await h.bridge.exportAdapter()).toBe(peft);
    expect(exportAdapter).toHaveBeenLastCalledWith();
    expect(await h.bridge.exportAdapter('webpeft-delta')).toBe(delta);
    expect(exportAdapter).toHaveBeenLastCalledWith('webpeft-delta');
    await h.bridge.exportAdapter('webpeft-delta');
    await h.bridge.exportAdapter();
    expect(exportAdapter).toHaveBeenCalledTimes(2);
    expect(h.s().adapter).toMatchObject({ files: peft, delta });

    exportAdapter.mockImplementation(async () => delta); // BitFit: the default export is already the delta
    h.s().setMethod('bitfit');
    await h.bridge.train();
    expect(h.s().adapter.files).toBeUndefined();
    expect(await h.bridge.exportAdapter()).toBe(delta);
    expect(await h.bridge.exportAdapter('webpeft-delta')).toBe(delta);
    expect(exportAdapter).toHaveBeenCalledTimes(3);
  });

  it('counts trainable parameters for methods without a rank or targets, sending the hidden LoRA fields at their defaults', async () => {
    const h = harness();
    await loaded(h);
    const { lora, options } = h.s().settings;
    await h.bridge.countTrainable({ ...lora, targets: [] }, 'norms', options);
    expect(h.api.trainableParameters).toHaveBeenLastCalledWith(expect.objectContaining({ targets: [] }), 'norms', {});
    await h.bridge.countTrainable({ ...lora, rank: Number.NaN }, 'sara', options);
    expect(h.api.trainableParameters).toHaveBeenLastCalledWith(expect.objectContaining({ rank: 8 }), 'sara', { saraFraction: 0.1, saraReselectAt: 0.5, saraNuclear: 0, saraNuclearRank: 8 });
    await h.bridge.countTrainable({ ...lora, rank: Number.NaN }, 'sparse', { ...options, matchLoraRank: true }); // the rank counts here
    expect(h.api.trainableParameters).toHaveBeenCalledTimes(2);
    expect(h.s().trainable).toEqual({ status: 'unknown' });
  });

  it('asks for no weight spectra for norms only, which targets no linear weight', async () => {
    const h = harness();
    await loaded(h);
    h.s().setMethod('norms');
    await h.bridge.loadWeightSpectra(true);
    expect(h.api.weightSpectra).not.toHaveBeenCalled();
    h.s().setMethod('sara');
    await h.bridge.loadWeightSpectra();
    expect(h.api.weightSpectra).toHaveBeenCalledWith(expect.objectContaining({ method: 'sara', options: { saraFraction: 0.1, saraReselectAt: 0.5, saraNuclear: 0, saraNuclearRank: 8 } }));
  });

  describe('opening an adapter folder', () => {
    const ADAPTER = [
      { name: 'adapter_config.json', blob: new Blob(['{"peft_type":"IA3"}']) },
      { name: 'adapter_model.safetensors', blob: new Blob(['x']) },
    ];

    it('replaces the trained adapter: the store names it, stale exports and samples go, validation is measured again', async () => {
      const h = harness();
      await loaded(h);
      await h.bridge.train();
      await h.bridge.exportAdapter();
      await h.bridge.generate('adapted');
      expect(h.s().adapter.files).toBeDefined();
      expect(h.s().samples.adapted.status).toBe('done');
      vi.mocked(h.api.evaluate).mockImplementation(async (useAdapter) => (useAdapter ? 2.4 : 2.9));

      await h.bridge.loadAdapter(ADAPTER, 'ia3-run');
      expect(h.api.loadAdapter).toHaveBeenCalledWith(ADAPTER);
      expect(h.s().adapter.loaded).toEqual({ status: 'ready', label: 'ia3-run', value: { kind: 'ia3', modules: 15, r: 0 } });
      expect(h.s().adapter.files).toBeUndefined();
      expect(h.s().samples.adapted.status).toBe('idle');
      expect(h.s().adapter.evaluation).toEqual({ status: 'done', base: 2.9, adapted: 2.4 });
      expect(hasAdapter(h.s())).toBe(true);
      expect(h.s().alerts).toEqual([]);

      // Exported again (the opened adapter's files, not the run's), then cached.
      await h.bridge.exportAdapter();
      await h.bridge.exportAdapter();
      expect(h.api.exportAdapter).toHaveBeenCalledTimes(2);
      await h.bridge.generate('adapted');
      expect(h.api.generate).toHaveBeenLastCalledWith(expect.objectContaining({ useAdapter: true }));
      expect(await h.bridge.exportMerged()).toHaveLength(2);
    });

    it('works without a trained run, and is busy while the worker applies it', async () => {
      type Info = Awaited<ReturnType<TrainerApi['loadAdapter']>>;
      let answer: (v: Info) => void = () => {};
      const h = harness(fakeApi({ loadAdapter: vi.fn(() => new Promise<Info>((resolve) => (answer = resolve))) }));
      await loaded(h);
      expect(hasAdapter(h.s())).toBe(false);
      const loading = h.bridge.loadAdapter(ADAPTER, 'delta');
      expect(h.s().adapter.loaded).toEqual({ status: 'loading', label: 'delta' });
      expect(isBusy(h.s())).toBe(true);
      expect(hasAdapter(h.s())).toBe(false);
      await vi.waitFor(() => expect(h.api.loadAdapter).toHaveBeenCalled());
      answer({ kind: 'webpeft-delta', modules: 10, r: 0 });
      await loading;
      expect(isBusy(h.s())).toBe(false);
      expect(hasAdapter(h.s())).toBe(true);
      expect(h.s().adapter.loaded).toMatchObject({ status: 'ready', value: { kind: 'webpeft-delta', modules: 10 } });
      expect(h.api.evaluate).toHaveBeenCalledWith(true);
    });

    it("shows the engine's error as an alert and on the status line; the engine then holds no adapter", async () => {
      const message = 'webpeft_delta.json: edit 0 names model.layers.9.self_attn.q_proj.weight, which this model does not have';
      const h = harness(fakeApi({ loadAdapter: vi.fn(async () => { throw new Error(message); }) }));
      await loaded(h);
      await h.bridge.train();
      expect(hasAdapter(h.s())).toBe(true);
      await h.bridge.loadAdapter(ADAPTER, 'bad');
      expect(h.s().adapter.loaded).toEqual({ status: 'error', label: 'bad', error: message });
      expect(h.s().alerts).toEqual([expect.objectContaining({ source: 'adapter', title: 'Could not load the adapter (bad)', message })]);
      expect(hasAdapter(h.s())).toBe(false); // the trained one was released before the folder was read
      expect(isBusy(h.s())).toBe(false);
    });

    it('a new model load or a new run clears it', async () => {
      const h = harness();
      await loaded(h);
      await h.bridge.loadAdapter(ADAPTER, 'ia3-run');
      await h.bridge.train();
      expect(h.s().adapter.loaded).toEqual({ status: 'empty' });
      expect(hasAdapter(h.s())).toBe(true); // the run's again
      await h.bridge.loadAdapter(ADAPTER, 'ia3-run');
      await h.bridge.loadModel(FILES, 'other');
      expect(h.s().adapter.loaded).toEqual({ status: 'empty' });
      expect(hasAdapter(h.s())).toBe(false);
    });

    it('checks the folder before the worker sees it, and wants a model first', async () => {
      const h = harness();
      await h.bridge.start();
      await h.bridge.loadAdapter(ADAPTER, 'ia3-run');
      expect(h.s().alerts).toEqual([expect.objectContaining({ source: 'adapter', title: 'Load a model first' })]);
      await loaded(h);
      await h.bridge.train();
      await h.bridge.loadAdapterFrom(() => ({ files: [{ name: 'webpeft_delta.zip', blob: new Blob(['PK']) }], label: 'webpeft_delta.zip' }));
      expect(h.api.loadAdapter).not.toHaveBeenCalled();
      expect(h.s().alerts).toEqual([expect.objectContaining({ source: 'adapter', title: 'Not an adapter folder (webpeft_delta.zip)' })]);
      expect(h.s().alerts[0].message).toMatch(/No adapter_config.json or webpeft_delta.json .*unzip webpeft_delta.zip first/);
      expect(hasAdapter(h.s())).toBe(true); // the trained adapter is untouched
      await h.bridge.loadAdapterFrom(() => { throw new Error('NotReadableError'); });
      expect(h.s().alerts).toEqual([expect.objectContaining({ title: 'Could not read the adapter files', message: 'NotReadableError' })]);
      await h.bridge.loadAdapterFrom(() => ({ files: ADAPTER, label: 'ia3-run' }));
      expect(h.api.loadAdapter).toHaveBeenCalledWith(ADAPTER);
      expect(h.s().alerts).toEqual([]);
    });

    it('a worker lost while applying it ends the load as failed, with the one worker alert', async () => {
      const h = harness(fakeApi({ loadAdapter: vi.fn(() => new Promise<never>(() => {})) }));
      await loaded(h);
      const loading = h.bridge.loadAdapter(ADAPTER, 'ia3-run');
      await vi.waitFor(() => expect(h.api.loadAdapter).toHaveBeenCalled());
      h.connections[0].kill('out of memory');
      await loading;
      expect(h.s().adapter.loaded).toMatchObject({ status: 'error', label: 'ia3-run' });
      expect(isBusy(h.s())).toBe(false);
      expect(h.s().alerts.map((a) => a.title)).toEqual(['The trainer stopped']);
    });
  });
});
