/**
 * Attaching a sparse method: the budget per layer, the first index set, and for DSEE the LoRA beside it.
 *   sparse  initial set by `sparseInit` (random by default, as SpIEL), then prune-and-regrow;
 *   sara    the smallest |W| (saraFraction of each weight), re-selected once part-way (progressive);
 *   subnet  the largest accumulated |g| or g² over calibration batches, fixed for the run;
 *   dsee    the largest |W| (DSEE's magnitude-selected sparse part) plus LoRA of the run's rank.
 * Δ starts at zero, so every method starts exactly at the base model.
 */
import type { Linear } from '../../engine/linear';
import { shiraRankFor } from '../../formats/shira';
import type { LoraSettings, MethodOptions } from '../../run/api';
import { keyStem, loraConfigFrom, targetLinears } from '../common/targets';
import { LoraRun } from '../lora/run';
import type { MethodSetup } from '../method';
import { type SparseMethod, sparseBudget } from './budget';
import { SparseLayer } from './layer';
import { SparseRun } from './run';
import { gradientSelection, magnitudeSelection, randomSelection } from './select';
import { noChanges } from './stats';

export async function attachSparse(setup: MethodSetup, lora: LoraSettings, options: MethodOptions, method: SparseMethod, _totalSteps: number): Promise<SparseRun> {
  const { rt } = setup;
  const targets = targetLinears(method, setup.linears, lora);
  const budget = new Map(targets.map((t) => [t.linear.spec.modulePath, sparseBudget(method, options, t.linear.spec, t.rank)]));
  const k = (l: Linear): number => budget.get(l.spec.modulePath) as number;
  const init = method === 'subnet' ? 'gradient' : method === 'sara' ? 'smallest' : method === 'dsee' ? 'largest' : options.sparseInit === 'magnitude' ? 'largest' : options.sparseInit;
  let chosen: Map<string, Uint32Array>;
  if (init === 'gradient') {
    chosen = await gradientSelection(setup, targets.map((t) => t.linear), (l) => budget.get(l.modulePath) as number, options.subnetBatches, options.subnetScore === 'fisher' ? 'square' : 'abs');
  } else {
    chosen = new Map();
    for (const [i, t] of targets.entries()) {
      const l = t.linear;
      setup.progress(`${method}: choosing the entries of ${l.spec.modulePath}`, i / targets.length);
      const flat = init === 'random' ? randomSelection(l.spec, k(l), (setup.seed + 0x9e3779b1 * (t.index + 1)) >>> 0) : await magnitudeSelection(rt, l, k(l), init);
      chosen.set(l.spec.modulePath, flat);
    }
  }
  const shira = shiraRankOf(targets.map((t) => t.linear), k);
  const entries = targets.map((t) => {
    const s = t.linear.spec;
    const name = shira !== null ? `${keyStem(s.modulePath)}.shira_weight` : `${s.modulePath}.sparse_delta`;
    return { linear: t.linear, layer: new SparseLayer(rt, s, chosen.get(s.modulePath) as Uint32Array, undefined, name, true), changes: noChanges() };
  });
  const loraRun = method === 'dsee' ? LoraRun.attach(rt, setup.linears, loraConfigFrom(lora), setup.seed) : undefined;
  setup.progress(`${method}: ready`, 1);
  return new SparseRun({
    method,
    entries,
    lora: loraRun,
    options,
    seed: setup.seed,
    shiraR: method === 'dsee' ? null : shira,
    settings: { targets: lora.targets, budget: Object.fromEntries(budget), options: { ...options } },
  });
}

/** One r with K = r(in + out) on every layer, all of them nn.Linear (PEFT's SHiRA supports nothing else), or null. */
function shiraRankOf(linears: Linear[], k: (l: Linear) => number): number | null {
  let r: number | null = null;
  for (const l of linears) {
    if (l.spec.layout !== 'out_in') return null;
    const lr = shiraRankFor(k(l), l.spec.inFeatures, l.spec.outFeatures);
    if (lr === null || (r !== null && lr !== r)) return null;
    r = lr;
  }
  return r;
}
