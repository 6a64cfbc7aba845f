/**
 * The bridge: the one owner of the trainer worker on the page. It starts the worker (lazily, once), turns every
 * TrainerApi call into store updates, passes the metrics callback across with comlink.proxy, offers stop(), and
 * makes every failure visible: a rejected call becomes an alert naming what failed, and a worker that dies (or
 * never starts) rejects the calls in flight instead of leaving them hanging.
 *
 * Components call the bridge's actions and read the store; they never see the worker or comlink. Every action
 * resolves (never rejects), so a component can fire and forget it.
 */
import type { AdapterFiles, LoraSettings, NamedBlob, StepMetrics, TrainerApi } from '../run/api';
import type { TrainerConnection } from './connection';
import { checkpointProblem, type PickedFiles } from './files';
import type { StudioStore } from './store';
import type { AlertSource } from './store/alertsSlice';
import { toDatasetOptions, toTrainSettings } from './store/defaults';
import type { SampleKind } from './store/samplesSlice';
import { settingsProblems } from './store/validate';

/** The worker died or never started; already reported once, so callers don't add their own alert. */
export class WorkerLostError extends Error {
  override name = 'WorkerLostError';
}

/** The worker started but init() failed (no WebGPU, no adapter); reported once as the device alert. */
export class StartupError extends Error {
  override name = 'StartupError';
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e) ?? String(e);
  } catch {
    return String(e);
  }
}

/** How src/gpu/runtime.ts words a lost device. */
const DEVICE_LOST = /GPU device (was )?lost/i;

interface Live {
  conn: TrainerConnection;
  /** Rejects with WorkerLostError when the worker dies. */
  lost: Promise<never>;
  ready: Promise<void>;
}

export class TrainerBridge {
  private live: Live | null = null;
  private datasetFile: NamedBlob | null = null;
  /** The DatasetOptions (as JSON) the worker's dataset was built with; '' when it has none. */
  private datasetKey = '';
  private trainableSeq = 0;

  constructor(
    private readonly store: StudioStore,
    private readonly connect: () => TrainerConnection,
  ) {}

  private get s() {
    return this.store.getState();
  }

  /** Starts the worker and acquires the GPU device. Safe to call repeatedly. */
  async start(): Promise<void> {
    await this.ensureLive().ready.catch(() => {});
  }

  private ensureLive(): Live {
    if (this.live) return this.live;
    const conn = this.connect();
    const lost = conn.failed.catch((e: unknown): never => {
      throw new WorkerLostError(errorMessage(e));
    });
    const live: Live = { conn, lost, ready: Promise.resolve() };
    lost.catch((e: unknown) => this.workerLost(live, errorMessage(e)));
    live.ready = this.boot(live);
    live.ready.catch(() => {});
    this.live = live;
    return live;
  }

  private async boot(live: Live): Promise<void> {
    this.s.deviceStarting();
    try {
      const summary = await Promise.race([live.conn.api.init(), live.lost]);
      this.s.deviceReady(summary);
      this.s.clearAlerts('device');
    } catch (e) {
      if (e instanceof WorkerLostError) throw e;
      const msg = errorMessage(e);
      this.s.deviceFailed(msg);
      this.s.pushAlert('device', 'WebGPU is not available', msg);
      this.discard(live); // the next action tries again with a fresh worker
      throw new StartupError(msg);
    }
  }

  private discard(live: Live): void {
    if (this.live !== live) return;
    this.live = null;
    live.conn.terminate();
  }

  private workerLost(live: Live, msg: string): void {
    if (this.live !== live) return;
    this.discard(live);
    const s = this.s;
    const hadModel = s.model.status === 'ready';
    const wasReady = s.device.status === 'ready';
    const title = wasReady ? 'The trainer stopped' : 'The trainer could not start';
    this.datasetKey = '';
    s.deviceFailed(msg);
    s.pushAlert('worker', title, hadModel ? `${msg}. Load the model again to continue.` : msg);
    if (s.run.status === 'running') s.runFailed(msg);
    if (s.model.status !== 'empty') s.modelLost();
    s.setTrainable({ status: 'unknown' });
    // A worker that had been running gets a fresh successor right away; one that never started is not retried
    // until the person does something (it would most likely fail the same way).
    if (wasReady) void this.start();
  }

  /**
   * Runs one API call on a started worker, failing fast if the worker dies meanwhile. A lost GPU device leaves the
   * worker alive but useless (its weights are gone), so it is treated like a dead worker: replaced on next use.
   */
  private async call<T>(fn: (api: TrainerApi, conn: TrainerConnection) => Promise<T>): Promise<T> {
    const live = this.ensureLive();
    await live.ready;
    try {
      return await Promise.race([fn(live.conn.api, live.conn), live.lost]);
    } catch (e) {
      const msg = errorMessage(e);
      if (e instanceof WorkerLostError || !DEVICE_LOST.test(msg)) throw e;
      this.workerLost(live, msg);
      throw new WorkerLostError(msg);
    }
  }

  private fail(source: AlertSource, title: string, e: unknown): void {
    if (e instanceof WorkerLostError || e instanceof StartupError) return;
    this.s.pushAlert(source, title, errorMessage(e));
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
    s.adapterReset();
    s.clearSample('base');
    s.clearSample('adapted');
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

  /** Latest-wins: an answer to an older request is dropped. */
  async countTrainable(lora: LoraSettings): Promise<void> {
    const seq = ++this.trainableSeq;
    const s = this.s;
    if (s.model.status !== 'ready') return s.setTrainable({ status: 'unknown' });
    if (lora.targets.length === 0) return s.setTrainable({ status: 'ready', count: 0 });
    if (!Number.isInteger(lora.rank) || lora.rank < 1) return s.setTrainable({ status: 'unknown' });
    s.setTrainable({ status: 'counting' });
    try {
      const count = await this.call((api) => api.trainableParameters(lora));
      if (seq === this.trainableSeq) this.s.setTrainable({ status: 'ready', count });
    } catch (e) {
      if (seq === this.trainableSeq) this.s.setTrainable({ status: 'error', error: errorMessage(e) });
    }
  }

  async train(): Promise<void> {
    const s = this.s;
    if (s.run.status === 'running') return;
    const model = s.model.status === 'ready' ? s.model.value : undefined;
    if (!model || s.dataset.status !== 'ready' || !this.datasetFile) {
      s.pushAlert('train', 'Nothing to train on yet', 'Load a model and a dataset first.');
      return;
    }
    const { lora, train, data } = s.settings;
    const problems = settingsProblems(lora, train, data, model);
    if (problems.length > 0) {
      s.pushAlert('settings', 'Check the settings', problems.join('. '));
      return;
    }
    s.clearAlerts('settings');
    s.clearAlerts('train');
    s.clearAlerts('evaluate');
    s.runStarted(train.steps);
    s.adapterReset();
    s.clearSample('adapted');
    const settings = toTrainSettings(lora, train);
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
          void this.call((api) => api.stop()).catch(() => {});
        }
      };
      const summary = await this.call((api, conn) => api.train(settings, conn.callback(onMetrics)));
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

  /** Asks the run to stop after the current step; train() then resolves with stopped: true. */
  async stop(): Promise<void> {
    const s = this.s;
    if (s.run.status !== 'running' || s.run.stopRequested) return;
    s.stopRequested();
    try {
      await this.call((api) => api.stop());
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

  /** The adapter files, exported once per run and then cached in the store. */
  async exportAdapter(): Promise<AdapterFiles | undefined> {
    const cached = this.s.adapter.files;
    if (cached) return cached;
    this.s.clearAlerts('export');
    this.s.exportStarted();
    try {
      const files = await this.call((api) => api.exportAdapter());
      this.s.exported(files);
      return files;
    } catch (e) {
      this.s.exportFailed();
      this.fail('export', 'Could not export the adapter', e);
      return undefined;
    }
  }

  /** Ends the worker (page unload, tests). */
  dispose(): void {
    if (this.live) this.discard(this.live);
  }
}
