/**
 * The worker itself: start it, wrap it with comlink, and turn its death into a rejected promise so calls in
 * flight fail visibly instead of hanging. Only the bridge uses this; the page never sees comlink.
 */
import { proxy, wrap, type Remote } from 'comlink';
import type { TrainerApi } from '../run/api';
import type { TrainerWorkerApi } from '../../workers/trainer.worker';

export interface TrainerConnection {
  api: TrainerApi;
  /** Makes a callback callable from the worker (comlink.proxy). */
  callback<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
  /** Rejects, with a message for people, when the worker fails to start or dies. Never resolves. */
  failed: Promise<never>;
  terminate(): void;
}

export function describeWorkerError(e: Event): string {
  if (e instanceof ErrorEvent && e.message) {
    const where = e.filename ? ` (${e.filename.replace(/^.*\//, '')}:${e.lineno})` : '';
    return `${e.message}${where}`;
  }
  if (e.type === 'messageerror') return 'a message from the trainer could not be read (messageerror)';
  // Chromium reports a module worker whose script (or one of its imports) fails to load as a bare Event.
  return 'the trainer worker could not start: its script or one of its imports failed to load (see the browser console)';
}

export function connectWorker(): TrainerConnection {
  const worker = new Worker(new URL('../../workers/trainer.worker.ts', import.meta.url), {
    type: 'module',
    name: 'webpeft-trainer',
  });
  let fail: (e: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failed.catch(() => {}); // observed by the bridge; keep it from counting as unhandled
  const onError = (e: Event) => {
    e.preventDefault();
    fail(new Error(describeWorkerError(e)));
  };
  worker.addEventListener('error', onError);
  worker.addEventListener('messageerror', onError);
  const remote: Remote<TrainerWorkerApi> = wrap<TrainerWorkerApi>(worker);
  return {
    api: remote,
    callback: (fn) => proxy(fn),
    failed,
    terminate: () => worker.terminate(),
  };
}
