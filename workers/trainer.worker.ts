/**
 * The trainer worker: the one place in the browser that owns the GPUDevice, the weights and the run.
 * It exposes a single TrainerApi object over comlink; the page talks to it only through src/ui/bridge.ts,
 * which imports the type below with `import type`.
 *
 * The object is spelled out method by method, so the page reaches exactly the TrainerApi (not the CLI's extras
 * such as logits or spectrum) and a method added to the API fails to compile here until it is exposed.
 * Callbacks (train's onMetrics, onSpectra, onProgress and onSparsity) arrive as comlink proxies made by the page (conn.callback); calling
 * one posts the value back to the page, so the worker never waits on them.
 */
import { expose } from 'comlink';
import type { TrainerApi } from '../src/run/api';
import { createTrainer } from '../src/run/trainer';

export type TrainerWorkerApi = TrainerApi;

const session = createTrainer(navigator.gpu);

const api: TrainerWorkerApi = {
  init: () => session.init(),
  loadModel: (files) => session.loadModel(files),
  loadDataset: (file, options) => session.loadDataset(file, options),
  trainableParameters: (lora, method, options) => session.trainableParameters(lora, method, options),
  train: (settings, onMetrics, onSpectra, onProgress, onSparsity) => session.train(settings, onMetrics, onSpectra, onProgress, onSparsity),
  weightSpectra: (settings) => session.weightSpectra(settings),
  stop: () => session.stop(),
  generate: (options) => session.generate(options),
  evaluate: (useAdapter) => session.evaluate(useAdapter),
  exportAdapter: (format) => session.exportAdapter(format),
  exportMerged: () => session.exportMerged(),
  loadAdapter: (files) => session.loadAdapter(files),
};

expose(api);
