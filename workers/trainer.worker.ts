/**
 * The trainer worker: the one place in the browser that owns the GPUDevice, the weights and the run.
 * It exposes a single TrainerApi object over comlink; the page talks to it only through src/ui/bridge.ts,
 * which imports the type below with `import type`.
 */
import { expose } from 'comlink';
import type { TrainerApi } from '../src/run/api';
import { createTrainer } from '../src/run/trainer';

export type TrainerWorkerApi = TrainerApi;

const api: TrainerWorkerApi = createTrainer(navigator.gpu);
expose(api);
