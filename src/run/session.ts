/**
 * A training session: one GPU runtime, one loaded model, one dataset, one adapter. It wires data, model, method
 * and engine, and is what the worker exposes to the page (through comlink) and what the CLI drives.
 */
import { evalBatches, BatchSampler, type Batch } from '../data/batches';
import { loadDataset, type PreparedDataset } from '../data/datasets';
import { acquireDevice } from '../gpu/device';
import { GpuRuntime } from '../gpu/runtime';
import { view } from '../gpu/tensor';
import { generateIds } from '../engine/generate';
import { evaluateLoss, trainLoop } from '../engine/train';
import { trainingPass } from '../engine/pass';
import { Transformer } from '../engine/transformer';
import { allNorms } from '../engine/weights';
import type { Linear } from '../engine/linear';
import { LoraLayer } from '../methods/lora/layer';
import { prepareAdapter } from '../methods/loaded';
import { runDeltaFiles } from '../methods/common/deltaFiles';
import { applyTensorEdit } from '../formats/webpeftDelta';
import { rankFor, targetsModule } from '../methods/lora/config';
import type { LowRankDelta, MethodRun, MethodSetup } from '../methods/method';
import { createMethodRun, isMethodName, methodOptions, trainableCount } from '../methods/registry';
import { loraConfigFrom } from '../methods/common/targets';
import { mergedCheckpoint } from '../methods/lowrank/merge';
import { rankForEnergy } from '../linalg/diagnostics';
import { singularValues } from '../linalg/svd';
import type {
  AdapterFiles,
  AdapterKind,
  DatasetOptions,
  DatasetSummary,
  DeviceSummary,
  EngineApi,
  GenerateOptions,
  LoraSettings,
  MethodName,
  MethodOptions,
  ModelSummary,
  NamedBlob,
  OutputFile,
  RunSummary,
  SpectraSnapshot,
  SparsitySnapshot,
  SpectrumFile,
  StepMetrics,
  TrainSettings,
  WeightSpectrum,
} from './api';
import { type LoadedModel, loadModel } from './loadModel';
import { SpectraTracker, addDelta, targetWeightSpectra } from './spectra';

/** Validation batches measured per evaluation, so a large validation split does not stall training. */
export const MAX_VAL_BATCHES = 16;

/** Progress of a slow method setup (SVDs, calibration), e.g. "PiSSA: SVD of layers.3.mlp.up_proj", in [0, 1]. */
export type SetupProgress = (message: string, fraction: number) => void;

export class Session implements EngineApi {
  private rt: GpuRuntime | null = null;
  private device: GPUDevice | null = null;
  private model: LoadedModel | null = null;
  private dataset: { file: NamedBlob; options: DatasetOptions; prepared: PreparedDataset } | null = null;
  private transformer: Transformer | null = null;
  /** The attached method (trained, or loaded from a PEFT adapter). */
  private run: MethodRun | null = null;
  /** Per-layer ranks SVFit would pick, by energy threshold, cached per threshold for the live parameter count. */
  private svfitRanks: { energy: number; ranks: Map<string, number> } | null = null;
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
      this.run = null;
      this.svfitRanks = null;
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

  async trainableParameters(settings: LoraSettings, method: MethodName = 'lora', options?: Partial<MethodOptions>): Promise<number> {
    if (!isMethodName(method)) throw new Error(`unknown method "${method}"`);
    const o = methodOptions(options);
    const linears = this.loaded().weights.blocks.flatMap((b) => b.linears.map((l) => l.spec));
    const ranks = method === 'svfit' ? await this.svfitRankMap(settings, o.svfitEnergy) : undefined;
    return trainableCount(method, settings, o, linears, ranks, this.loaded().spec);
  }

  async weightSpectra(s: TrainSettings): Promise<WeightSpectrum[]> {
    return this.exclusive('measuring spectra', async () => {
      const o = methodOptions(s.options);
      const cfg = loraConfigFrom(s.lora);
      const targets = this.targetSpecs(s.lora);
      return targetWeightSpectra(this.runtime(), this.loaded().checkpoint, targets, (l, sv) =>
        s.method === 'svfit' ? rankForEnergy(sv, o.svfitEnergy) : s.method === 'adalora' ? o.adaloraInitR : rankFor(cfg, l.modulePath),
      );
    });
  }

  async train(
    s: TrainSettings,
    onMetrics: (m: StepMetrics) => void,
    onSpectra?: (s: SpectraSnapshot) => void,
    onProgress?: SetupProgress,
    onSparsity?: (s: SparsitySnapshot) => void,
  ): Promise<RunSummary> {
    // A Stop pressed while the run is still being set up must count.
    this.stopRequested = false;
    return this.exclusive('training', async () => {
      validateSettings(s);
      const win = this.loaded().spec.slidingWindow;
      if (win !== undefined && s.seqLen > win) throw new Error(`sequence length ${s.seqLen} exceeds this model's sliding attention window of ${win} tokens, which webpeft does not implement yet`);
      const data = await this.datasetFor(s.seqLen);
      const model = this.transformerFor(s.batchSize * s.seqLen);
      await this.releaseRun();
      const val = evalBatches(data.val, s.batchSize, s.seqLen).slice(0, MAX_VAL_BATCHES);
      // Measured before the method attaches: PiSSA-like methods replace the base weights by residuals.
      const baseValLoss = val.length > 0 ? await evaluateLoss(model, val, s.batchSize, s.seqLen) : undefined;
      const run = await this.attachMethod(s, model, data.train, onProgress);
      const sampler = new BatchSampler(data.train, s.batchSize, s.seqLen, s.seed);
      const rt = this.runtime();
      const every = s.spectraEvery ?? 0;
      const tracker = every > 0 && onSpectra ? await SpectraTracker.create(rt, this.loaded().checkpoint, [...run.adapters.keys()].map((p) => this.linearAt(p).spec), s.seed) : null;
      if (tracker && onSpectra) onSpectra(await tracker.snapshot(rt, 0, await run.deltas(rt)));
      // Sparse methods: the index sets at the start, after every update that changed them, and at the end.
      const sparsity = run.sparsity && onSparsity ? () => run.sparsity?.() ?? [] : null;
      let updatesSeen = 0;
      if (sparsity && onSparsity) onSparsity({ step: 0, layers: sparsity() });
      const t0 = this.now();
      const r = await trainLoop(model, run.params(), s, sampler, val, {
        onMetrics,
        shouldStop: () => this.stopRequested,
        now: this.now,
        beforeOptimizerStep: run.beforeOptimizerStep ? async (step) => run.beforeOptimizerStep?.(rt, step, s.steps) : undefined,
        afterOptimizerStep: run.afterOptimizerStep ? (step, opt) => run.afterOptimizerStep?.(rt, step, s.steps, opt) ?? Promise.resolve() : undefined,
        afterStep:
          (tracker && onSpectra) || sparsity
            ? async (stepNo) => {
                if (tracker && onSpectra && (stepNo % every === 0 || stepNo === s.steps)) onSpectra(await tracker.snapshot(rt, stepNo, await run.deltas(rt)));
                if (sparsity && onSparsity) {
                  const layers = sparsity();
                  const updates = layers.reduce((n, l) => n + l.updates, 0);
                  if (updates !== updatesSeen || stepNo === s.steps) onSparsity({ step: stepNo, layers });
                  updatesSeen = updates;
                }
              }
            : undefined,
      });
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

  async exportAdapter(format: 'peft' | 'webpeft-delta' = 'peft'): Promise<AdapterFiles> {
    const m = this.loaded();
    const run = this.run;
    if (!run) throw new Error('there is no adapter to export: train one first');
    const rt = this.runtime();
    if (format === 'peft') return run.exportAdapter(rt, m.checkpoint, baseName(m));
    return runDeltaFiles(rt, run, baseName(m));
  }

  async exportMerged(): Promise<OutputFile[]> {
    const m = this.loaded();
    if (!this.run) throw new Error('there is no trained update to merge: train one first');
    const run = this.run;
    const rt = this.runtime();
    return this.exclusive('merging', async () => mergedCheckpoint(rt, m.checkpoint, await run.deltas(rt), undefined, run.edits ? await run.edits(rt) : undefined));
  }

  async spectrum(onProgress?: (done: number, total: number) => void): Promise<SpectrumFile> {
    const m = this.loaded();
    const rt = this.runtime();
    return this.exclusive('measuring spectra', async () => {
      const deltas = new Map<string, LowRankDelta>();
      for (const d of this.run ? await this.run.deltas(rt) : []) deltas.set(d.linear.weightName, d);
      const edits = this.run?.edits ? (await this.run.edits(rt)).edits : [];
      const names = m.checkpoint.tensorNames().filter((n) => m.checkpoint.entry(n).shape.length === 2);
      const weights: SpectrumFile['weights'] = {};
      let done = 0;
      for (const name of names) {
        const [rows, cols] = m.checkpoint.entry(name).shape;
        const host = await m.checkpoint.read(name);
        for (const e of edits) if (e.tensor === name) applyTensorEdit(host, e);
        const W = rt.upload(`spectrum ${name}`, [rows, cols], host);
        const d = deltas.get(name);
        const B = d && d.k > 0 ? rt.upload('spectrum ΔB', [d.linear.outFeatures, d.k], d.B) : null;
        const A = d && d.k > 0 ? rt.upload('spectrum ΔA', [d.k, d.linear.inFeatures], d.A) : null;
        try {
          if (d && B && A) addDelta(rt, W, d, B, A);
          weights[name] = { shape: [rows, cols], singular_values: Array.from(await singularValues(rt, W, rows, cols)) };
        } finally {
          for (const t of [W, B, A]) if (t) rt.release(t);
        }
        onProgress?.(++done, names.length);
      }
      return { weights };
    });
  }

  async loadAdapter(files: NamedBlob[]): Promise<{ kind: AdapterKind; modules: number; r: number }> {
    return this.exclusive('loading an adapter', async () => {
      const model = this.transformerFor(this.transformer?.arena.maxRows ?? 64);
      // Read and check the folder first: a folder that is refused leaves the current adapter in place.
      const prepared = await prepareAdapter(this.runtime(), files, model.linears, allNorms(model.weights));
      await this.releaseRun();
      this.run = await prepared.attach();
      return { kind: prepared.kind, modules: prepared.modules, r: prepared.r };
    });
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

  private async releaseRun(): Promise<void> {
    const run = this.run;
    this.run = null;
    if (run) await run.release(this.runtime());
  }

  private async attachMethod(s: TrainSettings, model: Transformer, train: PreparedDataset['train'], onProgress?: SetupProgress): Promise<MethodRun> {
    const rt = this.runtime();
    const B = s.batchSize;
    const T = s.seqLen;
    // Calibration batches come from their own seeded stream, so they do not shift the training batches.
    const calibration = new BatchSampler(train, B, T, (s.seed ^ 0x5bd1e995) >>> 0);
    const setup: MethodSetup = {
      rt,
      linears: model.linears,
      model: { spec: model.spec, norms: allNorms(model.weights) },
      checkpoint: this.loaded().checkpoint,
      seed: s.seed,
      calibrate: async (batches, backward) => {
        const acc = rt.tensor('calibration.loss', [1]);
        try {
          for (let i = 0; i < batches; i++) {
            const b = calibration.next();
            model.setInputs(b.inputs, b.targets);
            model.forwardLoss(trainingPass(B, T, false, 0), 1 / Math.max(1, b.lossTokens), acc, 0, backward);
            rt.flush();
          }
          await rt.read(acc);
        } finally {
          rt.release(acc);
        }
      },
      progress: (message, fraction) => onProgress?.(message, fraction),
    };
    const run = await createMethodRun(s.method, setup, s.lora, methodOptions(s.options), s.steps, s.lr);
    this.run = run;
    return run;
  }

  private targetSpecs(lora: LoraSettings): Linear['spec'][] {
    const cfg = loraConfigFrom(lora);
    return this.loaded()
      .weights.blocks.flatMap((b) => b.linears)
      .filter((l) => targetsModule(cfg, l.spec.modulePath))
      .map((l) => l.spec);
  }

  private linearAt(modulePath: string): Linear {
    const l = this.loaded().weights.blocks.flatMap((b) => b.linears).find((x) => x.spec.modulePath === modulePath);
    if (!l) throw new Error(`no linear layer ${modulePath}`);
    return l;
  }

  private async svfitRankMap(lora: LoraSettings, energy: number): Promise<Map<string, number>> {
    const targets = this.targetSpecs(lora);
    const cached = this.svfitRanks;
    if (cached && cached.energy === energy && targets.every((t) => cached.ranks.has(t.modulePath))) return cached.ranks;
    const ranks = new Map<string, number>(cached?.energy === energy ? cached.ranks : []);
    const missing = targets.filter((t) => !ranks.has(t.modulePath));
    for (const w of await targetWeightSpectra(this.runtime(), this.loaded().checkpoint, missing, (_, sv) => rankForEnergy(sv, energy))) ranks.set(w.modulePath, w.rank);
    this.svfitRanks = { energy, ranks };
    return ranks;
  }

  /**
   * Runs fn with the adapters on or off. Off means the ORIGINAL base model: where the method replaced a base
   * weight by a residual (PiSSA, SORSA, ...), a frozen low-rank layer adds the removed part back meanwhile.
   */
  private async withAdapters<T>(enabled: boolean, fn: () => Promise<T>): Promise<T> {
    const rt = this.runtime();
    const linears = this.transformer?.linears ?? [];
    const saved = linears.map((l) => l.adapters.splice(0));
    const restorers: LoraLayer[] = [];
    this.run?.setEnabled?.(enabled);
    if (enabled) {
      linears.forEach((l, i) => l.adapters.push(...saved[i]));
    } else {
      for (const change of this.run?.baseChange?.() ?? []) {
        const lin = linears.find((l) => l.spec.modulePath === change.linear.modulePath);
        if (!lin || change.k === 0) continue;
        const neg = change.B.map((v) => -v);
        const layer = new LoraLayer(rt, change.linear, change.k, change.scaling, 0, 0, { A: change.A, B: neg });
        lin.adapters.push(layer);
        restorers.push(layer);
      }
    }
    try {
      return await fn();
    } finally {
      linears.forEach((l, i) => {
        l.adapters.splice(0);
        l.adapters.push(...saved[i]);
      });
      for (const r of restorers) r.release(rt);
      this.run?.setEnabled?.(true);
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
  if (!isMethodName(s.method)) throw new Error(`unknown method "${s.method}"`);
  if (s.spectraEvery !== undefined && (!Number.isInteger(s.spectraEvery) || s.spectraEvery < 0)) throw new Error(`spectra interval must be a non-negative integer, got ${s.spectraEvery}`);
}

function baseName(m: LoadedModel): string {
  const n = m.checkpoint.config._name_or_path;
  return typeof n === 'string' && n !== '' ? n : m.checkpoint.label;
}

export type { Batch };
