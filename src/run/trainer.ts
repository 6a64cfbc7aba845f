/** The worker's entry to the engine: a Session over the browser's navigator.gpu (or Dawn's GPU in Node). */
import type { EngineApi } from './api';
import { Session } from './session';

export function createTrainer(gpu: GPU | undefined): EngineApi {
  return new Session(gpu);
}
