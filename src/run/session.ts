/**
 * A training session: one GPU runtime, one loaded model, one dataset, one adapter. It wires data, model, method
 * and engine, and is what the worker exposes to the page (through comlink) and what the CLI drives.
 */
import { evalBatches, BatchSampler, type Batch } from '../data/batches';
import { loadDataset, type PreparedDataset } from '../data/datasets';
import { openAdapter } from '../formats/peft';
import { acquireDevice } from '../gpu/device';
import { GpuRuntime } from '../gpu/runtime';
import { view } from '../gpu/tensor';
import { generateIds } from '../engine/generate';
import { evaluateLoss, trainLoop } from '../engine/train';
import { trainingPass } from '../engine/pass';
import { Transformer } from '../engine/transformer';
import { attachLora, detachAdapters } from '../methods/lora/attach';
import { type LoraConfig, rankFor, targetsModule } from '../methods/lora/config';
import type { LoraLayer } from '../methods/lora/layer';
import { exportLora, loraConfigFromPeft, readLoraValues } from '../methods/lora/peft';
import type { AdapterFiles, DatasetOptions, DatasetSummary, DeviceSummary, EngineApi, GenerateOptions, LoraSettings, ModelSummary, NamedBlob, RunSummary, StepMetrics, TrainSettings } from './api';
import { type LoadedModel, loadModel } from './loadModel';

/** Validation batches measured per evaluation, so a large validation split does not stall training. */
export const MAX_VAL_BATCHES = 16;

export function loraConfigOf(s: LoraSettings): LoraConfig {
  return { r: s.rank, alpha: s.alpha, useRslora: s.useRslora, dropout: s.dropout, targets: s.targets, init: s.initLoraWeights };
}

export class Session implements EngineApi {
  private rt: GpuRuntime | null = null;
  private device: GPUDevice | null = null;
  private model: LoadedModel | null = null;
  private dataset: { file: NamedBlob; options: DatasetOptions; prepared: PreparedDataset } | null = null;
  private transformer: Transformer | null = null;
  private lora: { config: LoraConfig; layers: LoraLayer[] } | null = null;
  private stopRequested = false;
  private busy: string | null = null;

  constructor(
    private readonly gpu: GPU | undefined,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async init(): Promise<DeviceSummary> {
    const acquired = await acquireDevice(this.gpu);
    this.device = acquired.device;
    this.rt = new GpuRuntime(acquired.device);
    const a = acquired.adapterInfo;
    return {
      description: [a.vendor, a.architecture, a.device, a.description].filter((s) => s).join(' ') || 'WebGPU adapter',
      features: acquired.features,
      maxBufferMiB: Math.floor(acquired.device.limits.maxBufferSize / 2 ** 20),
    };
  }

  async loadModel(files: NamedBlob[]): Promise<ModelSummary> {
    return this.exclusive('loading a model', async () => {
      // A new model replaces everything on the GPU: weights, activations, adapters.
      if (this.rt && this.device) {
        this.rt.destroy();
        this.rt = new GpuRuntime(this.device);
      }
      this.model = null;
      this.transformer = null;
      this.lora = null;
      this.model = await loadModel(this.runtime(), files);
      if (this.dataset) this.dataset = null;
      return this.model.summary;
    });
  }

  async loadDataset(file: NamedBlob, options: DatasetOptions): Promise<DatasetSummary> {
    const tokenizer = this.loaded().tokenizer;
    if (!tokenizer) throw new Error(`${file.name}: the loaded checkpoint has no tokenizer.json, so text cannot be tokenized for it`);
    const prepared = await loadDataset(file, tokenizer, options);
    checkVocab(prepared, this.loaded().spec.vocab, file.name);
    this.dataset = { file, options, prepared };
    return prepared.summary;
  }

  async trainableParameters(settings: LoraSettings): Promise<number> {
    const cfg = loraConfigOf(settings);
    return this.loaded()
      .weights.blocks.flatMap((b) => b.linears)
      .filter((l) => targetsModule(cfg, l.spec.modulePath))
      .reduce((n, l) => n + rankFor(cfg, l.spec.modulePath) * (l.spec.inFeatures + l.spec.outFeatures), 0);
  }

  async train(s: TrainSettings, onMetrics: (m: StepMetrics) => void): Promise<RunSummary> {
    // A Stop pressed while the run is still being set up must count.
    this.stopRequested = false;
    return this.exclusive('training', async () => {
      validateSettings(s);
      const win = this.loaded().spec.slidingWindow;
      if (win !== undefined && s.seqLen > win) throw new Error(`sequence length ${s.seqLen} exceeds this model's sliding attention window of ${win} tokens, which webpeft does not implement yet`);
      const data = await this.datasetFor(s.seqLen);
      const model = this.transformerFor(s.batchSize * s.seqLen);
      this.replaceAdapter(loraConfigOf(s.lora), s.seed);
      const val = evalBatches(data.val, s.batchSize, s.seqLen).slice(0, MAX_VAL_BATCHES);
      const baseValLoss = val.length > 0 ? await this.withAdapters(false, () => evaluateLoss(model, val, s.batchSize, s.seqLen)) : undefined;
      const sampler = new BatchSampler(data.train, s.batchSize, s.seqLen, s.seed);
      const params = (this.lora?.layers ?? []).flatMap((l) => l.params());
      const t0 = this.now();
      const r = await trainLoop(model, params, s, sampler, val, { onMetrics, shouldStop: () => this.stopRequested, now: this.now });
      return { steps: r.steps, finalLoss: r.finalLoss, finalValLoss: r.finalValLoss, baseValLoss, seconds: (this.now() - t0) / 1000, stopped: r.stopped };
    });
  }

  async stop(): Promise<void> {
    this.stopRequested = true;
  }

  async generate(o: GenerateOptions): Promise<string> {
    const tokenizer = this.loaded().tokenizer;
    if (!tokenizer) throw new Error('the loaded checkpoint has no tokenizer.json, so it cannot generate text');
    return this.exclusive('generating', async () => {
      const model = this.transformerFor(this.transformer?.arena.maxRows ?? 64);
      const promptIds = tokenizer.encode(o.prompt);
      const eos = this.loaded().spec.eosId;
      const stopIds = [...(Array.isArray(eos) ? eos : eos !== undefined ? [eos] : []), ...(tokenizer.eosId !== undefined ? [tokenizer.eosId] : [])];
      const ids = await this.withAdapters(o.useAdapter, () => generateIds(model, { promptIds, maxNewTokens: o.maxNewTokens, temperature: o.temperature, seed: o.seed, stopIds }));
      return tokenizer.decode([...promptIds, ...ids]);
    });
  }

  async evaluate(useAdapter: boolean): Promise<number> {
    return this.exclusive('evaluating', async () => {
      const T = this.dataset?.options.seqLen ?? 64;
      const data = await this.datasetFor(T);
      const B = 4;
      const model = this.transformerFor(Math.max(B * T, this.transformer?.arena.maxRows ?? 0));
      const batches = evalBatches(data.val.length > 0 ? data.val : data.train, B, T).slice(0, MAX_VAL_BATCHES);
      return this.withAdapters(useAdapter, () => evaluateLoss(model, batches, B, T));
    });
  }

  async exportAdapter(): Promise<AdapterFiles> {
    const m = this.loaded();
    if (!this.lora) throw new Error('there is no adapter to export: train one first');
    const name = typeof m.checkpoint.config._name_or_path === 'string' && m.checkpoint.config._name_or_path !== '' ? m.checkpoint.config._name_or_path : m.checkpoint.label;
    return exportLora(this.runtime(), this.lora.layers, this.lora.config, name, m.checkpoint);
  }

  async loadAdapter(files: NamedBlob[]): Promise<{ modules: number; r: number }> {
    const opened = await openAdapter(files);
    const cfg = loraConfigFromPeft(opened);
    const values = await readLoraValues(opened);
    this.transformerFor(this.transformer?.arena.maxRows ?? 64);
    this.replaceAdapter(cfg, 0, values);
    return { modules: opened.modules.length, r: cfg.r };
  }

  async logits(ids: number[]): Promise<{ shape: [number, number]; data: Float32Array }> {
    const { spec } = this.loaded();
    for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= spec.vocab) throw new Error(`token id ${id} is outside the vocabulary [0, ${spec.vocab})`);
    if (ids.length === 0 || ids.length > spec.maxPositions) throw new Error(`need 1..${spec.maxPositions} token ids, got ${ids.length}`);
    const model = this.transformerFor(Math.max(ids.length, this.transformer?.arena.maxRows ?? 0));
    model.setInputs(Int32Array.from(ids));
    const p = trainingPass(1, ids.length, false, 0);
    const hidden = model.forwardHidden(p);
    const out = model.arena.get('logits', spec.vocab);
    model.logits(hidden, ids.length, out);
    const data = await this.runtime().read(view(out, [ids.length, spec.vocab]));
    return { shape: [ids.length, spec.vocab], data };
  }

  memory(): { liveBytes: number; peakBytes: number } {
    return this.runtime().memory();
  }

  // ---------------------------------------------------------------- internals

  private runtime(): GpuRuntime {
    if (!this.rt) throw new Error('the GPU is not initialised: call init() first');
    return this.rt;
  }

  private loaded(): LoadedModel {
    if (!this.model) throw new Error('no model is loaded: load a checkpoint folder first');
    return this.model;
  }

  private async exclusive<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.busy) throw new Error(`cannot start ${what} while ${this.busy}`);
    this.busy = what;
    try {
      return await fn();
    } finally {
      this.busy = null;
    }
  }

  /** The dataset prepared for sequence length T (re-tokenized when T changed since it was loaded). */
  private async datasetFor(T: number): Promise<PreparedDataset> {
    if (!this.dataset) throw new Error('no dataset is loaded: drop a dataset file or use the sample');
    if (this.dataset.options.seqLen !== T) {
      const options = { ...this.dataset.options, seqLen: T };
      await this.loadDataset(this.dataset.file, options);
    }
    return this.dataset.prepared;
  }

  /** A Transformer whose activations hold `rows` tokens; the adapter moves over when one is rebuilt. */
  private transformerFor(rows: number): Transformer {
    if (this.transformer && this.transformer.arena.maxRows === rows) return this.transformer;
    const m = this.loaded();
    // Adapters live on the Linear layers (shared by every Transformer over these weights), so they carry over.
    this.transformer?.arena.release();
    this.transformer = new Transformer(this.runtime(), m.spec, m.weights, rows);
    return this.transformer;
  }

  private replaceAdapter(cfg: LoraConfig, seed: number, values?: Map<string, Float32Array>): void {
    const model = this.transformer as Transformer;
    for (const l of this.lora?.layers ?? []) l.release(this.runtime());
    detachAdapters(model.linears);
    this.lora = { config: cfg, layers: attachLora(this.runtime(), model.linears, cfg, seed, values) };
  }

  private async withAdapters<T>(enabled: boolean, fn: () => Promise<T>): Promise<T> {
    const linears = this.transformer?.linears ?? [];
    for (const l of linears) l.adaptersEnabled = enabled;
    try {
      return await fn();
    } finally {
      for (const l of linears) l.adaptersEnabled = true;
    }
  }
}

/** Tokenizers can be larger than the model's embedding table (tiny test models): refuse ids the model lacks. */
function checkVocab(p: PreparedDataset, vocab: number, fileName: string): void {
  for (const e of [...p.train, ...p.val]) {
    for (const id of e.ids) {
      if (id >= vocab) throw new Error(`${fileName}: the tokenizer produced token id ${id}, but the model's vocabulary has only ${vocab} entries`);
    }
  }
}

function validateSettings(s: TrainSettings): void {
  const positive: Array<[string, number]> = [['steps', s.steps], ['batch size', s.batchSize], ['sequence length', s.seqLen], ['gradient accumulation', s.gradAccum]];
  for (const [name, v] of positive) if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
  if (!(s.lr > 0)) throw new Error(`learning rate must be positive, got ${s.lr}`);
  if (s.method !== 'lora') throw new Error(`method "${s.method}" is not available yet`);
}

export type { Batch };
