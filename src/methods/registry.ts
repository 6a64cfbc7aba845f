/**
 * Method name → how to attach it. The only place that knows every method; the session asks it for a MethodRun
 * and for the trainable-parameter count the settings imply (shown live in the page before training).
 */
import type { LinearSpec } from '../model/spec';
import { type LoraSettings, METHOD_DEFAULTS, METHOD_NAMES, type MethodName, type MethodOptions } from '../run/api';
import { attachAdalora } from './adalora';
import { attachDiag } from './diag';
import { isFeedforwardModule } from '../formats/ia3';
import type { ModelSpec } from '../model/spec';
import { attachSparse, sparseBudget } from './sparse';
import { attachEva } from './eva';
import { rankFor, targetsModule } from './lora/config';
import { loraConfigFrom } from './common/targets';
import { LoraRun } from './lora/run';
import { attachLoraSb, attachLoraXs } from './loraxs';
import type { MethodRun, MethodSetup } from './method';
import { attachOlora } from './olora';
import { attachPissa } from './pissa';
import { attachSorsa } from './sorsa';
import { attachSvfit } from './svfit';

export function methodOptions(o: Partial<MethodOptions> | undefined): MethodOptions {
  return { ...METHOD_DEFAULTS, ...(o ?? {}) };
}

export function isMethodName(name: string): name is MethodName {
  return (METHOD_NAMES as readonly string[]).includes(name);
}

/** `peakLr` is the run's learning rate: LoRA-SB initialises to the best rank-r approximation of one step of that size. */
export async function createMethodRun(method: MethodName, setup: MethodSetup, lora: LoraSettings, options: MethodOptions, totalSteps: number, peakLr: number): Promise<MethodRun> {
  switch (method) {
    case 'lora':
      return LoraRun.attach(setup.rt, setup.linears, loraConfigFrom(lora), setup.seed);
    case 'pissa':
    case 'milora':
      return attachPissa(setup, lora, options, method);
    case 'olora':
      return attachOlora(setup, lora, options);
    case 'svfit':
      return attachSvfit(setup, lora, options);
    case 'sorsa':
      return attachSorsa(setup, lora, options);
    case 'loraxs':
      return attachLoraXs(setup, lora, options);
    case 'lorasb':
      return attachLoraSb(setup, lora, options, peakLr);
    case 'eva':
      return attachEva(setup, lora, options);
    case 'adalora':
      return attachAdalora(setup, lora, options, totalSteps);
    case 'bitfit':
    case 'ia3':
    case 'ssf':
    case 'norms':
      return attachDiag(setup, lora, options, method);
    case 'sparse':
    case 'sara':
    case 'subnet':
    case 'dsee':
      return attachSparse(setup, lora, options, method, totalSteps);
  }
}

/**
 * Trainable parameters the settings imply, by the method's own parametrisation. SVFit's per-layer rank comes
 * from each weight's spectrum (`svfitRanks`), EVA's redistribution keeps the budget r per layer on average but
 * moves it between layers of different widths, so EVA reports the count before redistribution.
 */
export function trainableCount(method: MethodName, lora: LoraSettings, options: MethodOptions, linears: LinearSpec[], svfitRanks?: Map<string, number>, model?: ModelSpec): number {
  const cfg = loraConfigFrom(lora);
  let n = 0;
  if (method === 'norms' || method === 'bitfit') {
    // Norms: ln1 and ln2 of every block and the final norm; GPT-2's LayerNorms also have biases (BitFit trains those).
    const norms = model ? (2 * model.layers + 1) * model.hidden : 0;
    const layerNorm = model?.family === 'gpt2';
    if (method === 'norms') return norms * (layerNorm ? 2 : 1);
    if (layerNorm) n += norms;
  }
  for (const l of linears) {
    if (!targetsModule(cfg, l.modulePath)) continue;
    const r = rankFor(cfg, l.modulePath);
    const io = l.inFeatures + l.outFeatures;
    switch (method) {
      case 'svfit':
        n += svfitRanks?.get(l.modulePath) ?? Math.min(l.inFeatures, l.outFeatures);
        break;
      case 'sorsa':
        n += r * io + r;
        break;
      case 'loraxs':
      case 'lorasb':
        n += r * r;
        break;
      case 'adalora':
        n += options.adaloraInitR * (io + 1);
        break;
      case 'bitfit':
        n += l.outFeatures;
        break;
      case 'ssf':
        n += 2 * l.outFeatures;
        break;
      case 'ia3':
        n += isFeedforwardModule(options.ia3FeedForward, l.modulePath) ? l.inFeatures : l.outFeatures;
        break;
      case 'sparse':
      case 'sara':
      case 'subnet':
        n += sparseBudget(method, options, l, r);
        break;
      case 'dsee':
        n += sparseBudget(method, options, l, r) + r * io;
        break;
      default:
        n += r * io;
    }
  }
  return n;
}
