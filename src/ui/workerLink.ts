/**
 * The trainer worker's lifetime on the page: started lazily (once), replaced when it dies or loses its GPU device,
 * and every failure made visible: a worker that dies (or never starts) rejects the calls in flight instead of
 * leaving them hanging, and says so once in the alert region.
 *
 * The session runs one GPU job at a time and refuses a second one, so calls are queued (`call`, or `turn` around
 * several steps); only stop() jumps the queue (`callNow`). TrainerBridge builds the page's actions on top.
 */
import type { TrainerApi } from '../run/api';
import type { TrainerConnection } from './connection';
import type { StudioStore } from './store';
import type { AlertSource } from './store/alertsSlice';

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

export class WorkerLink {
  private live: Live | null = null;
  /** The tail of the queue of worker calls; never rejects. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    protected readonly store: StudioStore,
    private readonly connect: () => TrainerConnection,
  ) {}

  protected get s() {
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
    this.forgetWorkerState();
    s.deviceFailed(msg);
    s.pushAlert('worker', title, hadModel ? `${msg}. Load the model again to continue.` : msg);
    if (s.run.status === 'running') s.runFailed(msg);
    if (s.model.status !== 'empty') s.modelLost();
    s.setTrainable({ status: 'unknown' });
    s.spectraReset();
    // A worker that had been running gets a fresh successor right away; one that never started is not retried
    // until the person does something (it would most likely fail the same way).
    if (wasReady) void this.start();
  }

  /** What a subclass keeps about the worker's state (dataset options, request counters), dropped with the worker. */
  protected forgetWorkerState(): void {}

  /** Runs `fn` when every worker call queued before it has ended. */
  protected turn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** One API call, in turn. */
  protected call<T>(fn: (api: TrainerApi, conn: TrainerConnection) => Promise<T>): Promise<T> {
    return this.turn(() => this.callNow(fn));
  }

  /**
   * Runs one API call on a started worker, failing fast if the worker dies meanwhile. A lost GPU device leaves the
   * worker alive but useless (its weights are gone), so it is treated like a dead worker: replaced on next use.
   * Outside the queue: only for stop() and for calls made inside a turn.
   */
  protected async callNow<T>(fn: (api: TrainerApi, conn: TrainerConnection) => Promise<T>): Promise<T> {
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

  protected fail(source: AlertSource, title: string, e: unknown): void {
    if (e instanceof WorkerLostError || e instanceof StartupError) return;
    this.s.pushAlert(source, title, errorMessage(e));
  }

  /** Ends the worker (page unload, tests). */
  dispose(): void {
    if (this.live) this.discard(this.live);
  }
}
