/**
 * The bridge against a scripted stand-in for the worker connection (no Worker, no GPU): worker results land in the
 * store, failures become alerts, a dying worker rejects calls in flight, and stale answers are dropped.
 */
import { describe, expect, it, vi } from 'vitest';
import type { DatasetSummary, ModelSummary, RunSummary, StepMetrics, TrainerApi } from '../../src/run/api';
import { TrainerBridge } from '../../src/ui/bridge';
import type { TrainerConnection } from '../../src/ui/connection';
import { createStudioStore } from '../../src/ui/store';

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

function fakeApi(over: Partial<TrainerApi> = {}): TrainerApi {
  return {
    init: vi.fn(async () => ({ description: 'fake', features: [], maxBufferMiB: 256 })),
    loadModel: vi.fn(async () => MODEL),
    loadDataset: vi.fn(async () => DATASET),
    trainableParameters: vi.fn(async () => 8960),
    train: vi.fn(async (_s, onMetrics: (m: StepMetrics) => void) => {
      onMetrics({ step: 1, loss: 3, lr: 1e-3, tokensPerS: 10 });
      onMetrics({ step: 2, loss: 2, lr: 1e-3, tokensPerS: 10, valLoss: 2.5 });
      return { steps: 2, finalLoss: 2, seconds: 0.1, stopped: false };
    }),
    stop: vi.fn(async () => {}),
    generate: vi.fn(async (o) => `${o.prompt} and then`),
    evaluate: vi.fn(async (useAdapter: boolean) => (useAdapter ? 2.1 : 2.9)),
    exportAdapter: vi.fn(async () => ({ config: '{}', weights: new Uint8Array(8) })),
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
    expect(h.api.train).toHaveBeenCalledWith(expect.objectContaining({ seqLen: 32, method: 'lora' }), expect.any(Function));
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

  it('keeps only the latest trainable-parameter count', async () => {
    const answers: ((n: number) => void)[] = [];
    const api = fakeApi({ trainableParameters: vi.fn(() => new Promise<number>((r) => answers.push(r))) });
    const h = harness(api);
    await loaded(h);
    const first = h.bridge.countTrainable({ ...h.s().settings.lora, rank: 4 });
    const second = h.bridge.countTrainable({ ...h.s().settings.lora, rank: 8 });
    await vi.waitFor(() => expect(answers).toHaveLength(2));
    answers[1](8960);
    answers[0](4480);
    await Promise.all([first, second]);
    expect(h.s().trainable).toEqual({ status: 'ready', count: 8960 });
  });

  it('generates base and adapted samples with the run seed', async () => {
    const h = harness();
    await loaded(h);
    await h.bridge.generate('base');
    expect(h.api.generate).toHaveBeenCalledWith(expect.objectContaining({ prompt: 'Once upon a time', useAdapter: false, seed: 42 }));
    expect(h.s().samples.base).toMatchObject({ status: 'done', text: 'Once upon a time and then' });
  });
});
