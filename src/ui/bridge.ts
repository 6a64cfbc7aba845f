/**
 * The bridge: the one owner of the trainer worker on the page (its lifetime lives in WorkerLink). It turns every
 * TrainerApi call into store updates, passes the metrics, spectra and sparsity callbacks across with comlink.proxy, offers
 * stop(), and makes every failure visible: a rejected call becomes an alert naming what failed.
 *
 * Components call the bridge's actions and read the store; they never see the worker or comlink. Every action
 * resolves (never rejects), so a component can fire and forget it.
 *
 * Worker calls are queued (see WorkerLink): the page's own background requests (trainable count, weight spectra)
 * wait for the person's actions and vice versa, and a background request superseded while it waited is dropped
 * without reaching the worker.
 */
import type { AdapterFiles, LoraSettings, MethodName, MethodOptions, NamedBlob, OutputFile, SparsitySnapshot, SpectraSnapshot, StepMetrics } from '../run/api';
import { isDelta } from './download';
import { loraUse, relevantOptions } from './methods';
import { adapterProblem, checkpointProblem, type PickedFiles } from './files';
import { toDatasetOptions, toTrainSettings } from './store/defaults';
import type { SampleKind } from './store/samplesSlice';
import { weightSpectraKey } from './store/spectraSlice';
import { methodProblems, settingsProblems } from './store/validate';
import { errorMessage, WorkerLink } from './workerLink';

export { errorMessage, StartupError, WorkerLostError } from './workerLink';

export class TrainerBridge extends WorkerLink {
  private datasetFile: NamedBlob | null = null;
  /** The DatasetOptions (as JSON) the worker's dataset was built with; '' when it has none. */
  private datasetKey = '';
  private trainableSeq = 0;
  private spectraSeq = 0;
  /** Bumped by whatever replaces the engine's adapter (a model, a run): an older adapter load's answer is dropped. */
  private adapterSeq = 0;

  protected override forgetWorkerState(): void {
    this.datasetKey = '';
    this.spectraSeq++;
  }

  /** Model files from a drop, a picker or the sample; failing to read them is reported like a failed load. */
  async loadModelFrom(pick: () => PickedFiles | Promise<PickedFiles>): Promise<void> {
    this.s.clearAlerts('model');
    let picked: PickedFiles;
    try {
      picked = await pick();
    } catch (e) {
      this.s.pushAlert('model', 'Could not read the model files', errorMessage(e));
      return;
    }
    const problem = checkpointProblem(picked.files);
    if (problem) {
      this.s.pushAlert('model', `Not a checkpoint folder (${picked.label})`, problem);
      return;
    }
    await this.loadModel(picked.files, picked.label);
  }

  async loadDatasetFrom(pick: () => PickedFiles | Promise<PickedFiles>): Promise<void> {
    this.s.clearAlerts('dataset');
    let picked: PickedFiles;
    try {
      picked = await pick();
    } catch (e) {
      this.s.pushAlert('dataset', 'Could not read the dataset file', errorMessage(e));
      return;
    }
    if (picked.files.length !== 1) {
      const names = picked.files.slice(0, 5).map((f) => f.name).join(', ');
      this.s.pushAlert('dataset', 'Pick one dataset file', `Got ${picked.files.length} (${names}). Use one .txt, .jsonl or .json file.`);
      return;
    }
    await this.loadDataset(picked.files[0]);
  }

  async loadModel(files: NamedBlob[], label: string): Promise<void> {
    const s = this.s;
    if (s.run.status === 'running') return;
    s.clearAlerts('model');
    s.modelLoading(label);
    s.runReset();
    this.adapterSeq++;
    s.adapterReset();
    s.clearSample('base');
    s.clearSample('adapted');
    this.spectraSeq++;
    s.spectraReset();
    s.sparsityReset();
    s.clearAlerts('spectra');
    this.datasetKey = '';
    try {
      const summary = await this.call((api) => api.loadModel(files));
      this.s.modelLoaded(summary, label);
    } catch (e) {
      this.s.modelFailed(errorMessage(e), label);
      this.fail('model', `Could not load the model (${label})`, e);
      return;
    }
    // The dataset is tokenized with the model's tokenizer: a new model means re-reading it.
    if (this.datasetFile) await this.loadDataset(this.datasetFile);
  }

  async loadDataset(file: NamedBlob): Promise<void> {
    const s = this.s;
    if (s.run.status === 'running') return;
    this.datasetFile = file;
    s.clearAlerts('dataset');
    if (s.model.status !== 'ready') {
      s.pushAlert('dataset', 'Load a model first', "The dataset is tokenized with the model's tokenizer.");
      return;
    }
    try {
      await this.readDataset(file);
    } catch (e) {
      this.fail('dataset', `Could not load the dataset (${file.name})`, e);
    }
  }

  /** Re-reads the dataset if its options (split, seq len, seed, ...) changed since it was loaded. */
  async refreshDataset(): Promise<void> {
    const s = this.s;
    if (!this.datasetFile || s.model.status !== 'ready' || s.run.status === 'running' || s.dataset.status === 'loading') return;
    if (JSON.stringify(toDatasetOptions(s.settings.data, s.settings.train)) === this.datasetKey) return;
    await this.loadDataset(this.datasetFile);
  }

  private async readDataset(file: NamedBlob): Promise<void> {
    const options = toDatasetOptions(this.s.settings.data, this.s.settings.train);
    this.s.datasetLoading(file.name);
    this.datasetKey = '';
    try {
      const summary = await this.call((api) => api.loadDataset(file, options));
      this.datasetKey = JSON.stringify(options);
      this.s.datasetLoaded(summary, file.name);
    } catch (e) {
      this.s.datasetFailed(errorMessage(e), file.name);
      throw e;
    }
  }

  /** Latest-wins: a request superseded before its turn is skipped, and an answer to an older one is dropped. */
  async countTrainable(lora: LoraSettings, method: MethodName, options: MethodOptions): Promise<void> {
    const seq = ++this.trainableSeq;
    const s = this.s;
    if (s.model.status !== 'ready') return s.setTrainable({ status: 'unknown' });
    const use = loraUse(method, options);
    if (use.targets && lora.targets.length === 0) return s.setTrainable({ status: 'ready', count: 0 });
    if (use.rank && (!Number.isInteger(lora.rank) || lora.rank < 1)) return s.setTrainable({ status: 'unknown' });
    if (methodProblems({ method, options, lora, train: s.settings.train }).length > 0) return s.setTrainable({ status: 'unknown' });
    s.setTrainable({ status: 'counting' });
    await this.turn(async () => {
      if (seq !== this.trainableSeq) return;
      try {
        // The LoRA block as a run would send it (fields the method does not read at their defaults).
        const sent = toTrainSettings(method, options, lora, this.s.settings.train).lora;
        const count = await this.callNow((api) => api.trainableParameters(sent, method, relevantOptions(method, options)));
        if (seq === this.trainableSeq) this.s.setTrainable({ status: 'ready', count });
      } catch (e) {
        if (seq === this.trainableSeq) this.s.setTrainable({ status: 'error', error: errorMessage(e) });
      }
    });
  }

  /**
   * The singular values of every weight the current settings target, before training. Skipped when the spectra for
   * these settings are loaded or on their way (unless `force`), while a run is going, and when the settings are
   * not valid yet; latest-wins like the trainable count.
   */
  async loadWeightSpectra(force = false): Promise<void> {
    const s = this.s;
    if (s.model.status !== 'ready' || s.run.status === 'running') return;
    const { method, options, lora, train } = s.settings;
    // Norms only trains no linear weight: there is nothing to show before training.
    const use = loraUse(method, options);
    if (!use.targets || lora.targets.length === 0 || (use.rank && (!Number.isInteger(lora.rank) || lora.rank < 1))) return;
    if (methodProblems({ method, options, lora, train }).length > 0) return;
    const settings = toTrainSettings(method, options, lora, train);
    const key = weightSpectraKey(settings);
    const w = s.spectra.weights;
    if (!force && (w.status === 'ready' || w.status === 'loading') && w.key === key) return;
    const seq = ++this.spectraSeq;
    s.weightSpectraLoading(key);
    await this.turn(async () => {
      if (seq !== this.spectraSeq) return;
      // A run started while this waited: it would only delay the run; asked again when the run ends.
      if (this.s.run.status === 'running') return this.s.weightSpectraSkipped();
      try {
        const value = await this.callNow((api) => api.weightSpectra(settings));
        if (seq !== this.spectraSeq) return;
        this.s.weightSpectraLoaded(key, value);
        this.s.clearAlerts('spectra');
      } catch (e) {
        if (seq !== this.spectraSeq) return;
        this.s.weightSpectraFailed(key, errorMessage(e));
        this.fail('spectra', 'Could not compute the weight spectra', e);
      }
    });
  }

  async train(): Promise<void> {
    const s = this.s;
    if (s.run.status === 'running') return;
    const model = s.model.status === 'ready' ? s.model.value : undefined;
    if (!model || s.dataset.status !== 'ready' || !this.datasetFile) {
      s.pushAlert('train', 'Nothing to train on yet', 'Load a model and a dataset first.');
      return;
    }
    const { method, options, lora, train, data } = s.settings;
    const problems = settingsProblems(s.settings, model);
    if (problems.length > 0) {
      s.pushAlert('settings', 'Check the settings', problems.join('. '));
      return;
    }
    s.clearAlerts('settings');
    s.clearAlerts('train');
    s.clearAlerts('evaluate');
    const settings = toTrainSettings(method, options, lora, train);
    s.runStarted(train.steps, settings);
    // The run replaces whatever adapter the engine held, an opened folder included.
    this.adapterSeq++;
    s.adapterReset();
    s.clearSample('adapted');
    s.liveSpectraReset();
    s.sparsityStarted(method);
    try {
      if (JSON.stringify(toDatasetOptions(data, train)) !== this.datasetKey) await this.readDataset(this.datasetFile);
      if (this.s.run.stopRequested) {
        this.s.runFinished({ steps: 0, finalLoss: Number.NaN, seconds: 0, stopped: true });
        return;
      }
      // A stop sent while the worker was still setting the run up may be reset by it; repeat it once steps flow.
      let stopRepeated = false;
      const onMetrics = (m: StepMetrics) => {
        this.s.metricsReceived(m);
        if (this.s.run.stopRequested && !stopRepeated) {
          stopRepeated = true;
          void this.callNow((api) => api.stop()).catch(() => {});
        }
      };
      const onSpectra = (snapshot: SpectraSnapshot) => this.s.spectraReceived(snapshot);
      const onProgress = (message: string, fraction: number) => this.s.setupProgress(message, fraction);
      // Streamed by the sparse methods only (at step 0, after each index-set update, at the end).
      const onSparsity = (snapshot: SparsitySnapshot) => this.s.sparsityReceived(snapshot);
      const summary = await this.call((api, conn) =>
        api.train(settings, conn.callback(onMetrics), conn.callback(onSpectra), conn.callback(onProgress), conn.callback(onSparsity)),
      );
      this.s.runFinished(summary);
      if (summary.steps === 0) return;
    } catch (e) {
      this.s.runFailed(errorMessage(e));
      this.fail('train', 'Training failed', e);
      return;
    }
    const ds = this.s.dataset;
    if (ds.status === 'ready' && ds.value.valExamples > 0) await this.evaluate();
  }

  /** An adapter folder from a drop or the folder picker; failing to read it is reported like a failed load. */
  async loadAdapterFrom(pick: () => PickedFiles | Promise<PickedFiles>): Promise<void> {
    this.s.clearAlerts('adapter');
    let picked: PickedFiles;
    try {
      picked = await pick();
    } catch (e) {
      this.s.pushAlert('adapter', 'Could not read the adapter files', errorMessage(e));
      return;
    }
    const problem = adapterProblem(picked.files);
    if (problem) {
      this.s.pushAlert('adapter', `Not an adapter folder (${picked.label})`, problem);
      return;
    }
    await this.loadAdapter(picked.files, picked.label);
  }

  /**
   * Applies an adapter folder (PEFT LoRA/AdaLoRA, IA3, SHiRA, or a webpeft delta) to the loaded model in place of
   * the trained one: the exported files, the comparison and the "with adapter" sample of the old adapter go, and
   * the validation loss is measured again as after a run. A failed load leaves the engine without an adapter.
   */
  async loadAdapter(files: NamedBlob[], label: string): Promise<void> {
    const s = this.s;
    if (s.run.status === 'running') return;
    s.clearAlerts('adapter');
    if (s.model.status !== 'ready') {
      s.pushAlert('adapter', 'Load a model first', 'An adapter applies to the base model it was trained on: load that checkpoint, then open the adapter folder.');
      return;
    }
    s.clearAlerts('evaluate');
    s.clearAlerts('export');
    const seq = ++this.adapterSeq;
    s.adapterLoading(label);
    s.clearSample('adapted');
    try {
      const info = await this.call((api) => api.loadAdapter(files));
      if (seq !== this.adapterSeq) return;
      this.s.adapterLoaded(info, label);
    } catch (e) {
      if (seq !== this.adapterSeq) return;
      this.s.adapterLoadFailed(errorMessage(e), label);
      this.fail('adapter', `Could not load the adapter (${label})`, e);
      return;
    }
    const ds = this.s.dataset;
    if (ds.status === 'ready' && ds.value.valExamples > 0) await this.evaluate();
  }

  /** Asks the run to stop after the current step; train() then resolves with stopped: true. */
  async stop(): Promise<void> {
    const s = this.s;
    if (s.run.status !== 'running' || s.run.stopRequested) return;
    s.stopRequested();
    try {
      await this.callNow((api) => api.stop());
    } catch (e) {
      this.fail('train', 'Could not stop the run', e);
    }
  }

  async generate(kind: SampleKind): Promise<void> {
    const s = this.s;
    const { prompt, maxNewTokens, temperature } = s.sampleOptions;
    s.clearAlerts('sample');
    s.sampleStarted(kind);
    try {
      const text = await this.call((api) =>
        api.generate({ prompt, maxNewTokens, temperature, seed: s.settings.train.seed, useAdapter: kind === 'adapted' }),
      );
      this.s.sampleDone(kind, prompt, text);
    } catch (e) {
      this.s.sampleFailed(kind, errorMessage(e));
      this.fail('sample', kind === 'base' ? 'Generation (base) failed' : 'Generation (with adapter) failed', e);
    }
  }

  /** Mean validation loss of the base model and of the model with the adapter. */
  async evaluate(): Promise<void> {
    this.s.clearAlerts('evaluate');
    this.s.setEvaluation({ status: 'evaluating' });
    try {
      const base = await this.call((api) => api.evaluate(false));
      const adapted = await this.call((api) => api.evaluate(true));
      this.s.setEvaluation({ status: 'done', base, adapted });
    } catch (e) {
      this.s.setEvaluation({ status: 'error', error: errorMessage(e) });
      this.fail('evaluate', 'Validation failed', e);
    }
  }

  /**
   * The adapter files, exported once per run (or opened folder) and format and then cached in the store. Without a format, the
   * run's own choice: PEFT's format where PEFT has the method, else a webpeft delta; 'webpeft-delta' asks for the
   * delta (the default export already is one for methods PEFT has no format for).
   */
  async exportAdapter(format?: 'peft' | 'webpeft-delta'): Promise<AdapterFiles | undefined> {
    const { files: main, delta } = this.s.adapter;
    const slot = format === 'webpeft-delta' ? 'webpeft-delta' : 'default';
    const cached = slot === 'default' ? main : (delta ?? (main && isDelta(main) ? main : undefined));
    if (cached) return cached;
    this.s.clearAlerts('export');
    this.s.exportStarted();
    try {
      const files = await this.call((api) => (format ? api.exportAdapter(format) : api.exportAdapter()));
      this.s.exported(files, slot);
      return files;
    } catch (e) {
      this.s.exportFailed();
      this.fail('export', 'Could not export the adapter', e);
      return undefined;
    }
  }

  /** The base model with the trained update merged in (config.json, model.safetensors, tokenizer files). */
  async exportMerged(): Promise<OutputFile[] | undefined> {
    this.s.clearAlerts('export');
    this.s.mergedExportStarted();
    try {
      return await this.call((api) => api.exportMerged());
    } catch (e) {
      this.fail('export', 'Could not export the merged model', e);
      return undefined;
    } finally {
      this.s.mergedExportEnded();
    }
  }
}
