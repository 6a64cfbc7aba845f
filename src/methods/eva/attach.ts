/**
 * EVA at init: run calibration batches with a Gram probe on every targeted layer, fit each layer's input PCA
 * exactly, redistribute the rank budget by explained variance (PEFT's rule), and attach LoRA layers with
 * A = the top right singular vectors of the layer's (centred) stacked inputs and B = 0, so the model starts
 * equal to the base.
 *
 * Exact PCA instead of PEFT's incremental one. PEFT feeds every batch's rows to an IncrementalPCA (randomised
 * low-rank SVD per batch) and cycles the data until the needed components stop moving (cosine ≥ tau). Here the
 * probes accumulate C = Σ (x − μ)ᵀ(x − μ) over `evaBatches` batches, and one exact SVD of C (symmetric PSD) gives
 * its eigenpairs: the eigenvalues are the squared singular values σᵢ² of the stacked, centred activations X − μ,
 * the eigenvectors its right singular vectors. That is the PCA IncrementalPCA converges to (it is exact up to its
 * per-batch truncation), so the components and ratios match PEFT's once PEFT has converged, without the
 * convergence loop; the cost is one [in, in] Gram per layer instead of a [2k + rows, in] stack. Centring is kept
 * because PEFT's components are those of the centred data, and its explained-variance ratio σᵢ² / Σ‖xₜ − μ‖² is
 * too. Deviations: a fixed number of batches instead of tau-convergence; every row of a batch is used (PEFT drops
 * positions whose attention_mask is 0, and our packed text batches have none, but padded chat/alpaca rows would
 * count here); max_components is capped at in_features where PEFT would refuse.
 */
import type { Linear } from '../../engine/linear';
import { exactSvd, randomizedSvd, releaseSvd } from '../../linalg/svd';
import type { GpuRuntime } from '../../gpu/runtime';
import type { LoraSettings, MethodOptions } from '../../run/api';
import { targetsModule } from '../lora/config';
import { LoraLayer } from '../lora/layer';
import type { MethodRun, MethodSetup } from '../method';
import { type EvaConfig, evaConfigOf, evaScaling, maxComponents } from './config';
import { type InputStats, GramProbe, statsKey, totalVariance } from './probe';
import { type EvaLayerVariance, evaRankDistribution, explainedVarianceRatios, flipComponentSigns } from './ranks';
import { type AttachedLora, LoraLayersRun } from './run';

interface Target {
  linear: Linear;
  /** Position in setup.linears; salts the layer's dropout mask as attachLora does. */
  index: number;
}

/** One layer's PCA: ratios, components [k, in] (rows, unit norm, PEFT's signs) and singular values of X − μ. */
interface LayerPca {
  ratios: number[];
  components: Float32Array;
  singularValues: Float64Array;
  k: number;
}

export async function attachEva(setup: MethodSetup, lora: LoraSettings, options: MethodOptions): Promise<MethodRun> {
  const cfg = evaConfigOf(lora, options);
  const { rt } = setup;
  const targets: Target[] = setup.linears.map((linear, index) => ({ linear, index })).filter((t) => targetsModule(cfg.lora, t.linear.spec.modulePath));
  if (targets.length === 0) {
    const names = [...new Set(setup.linears.map((l) => l.spec.name))].join(', ');
    throw new Error(`EVA target_modules ${cfg.lora.targets.join(', ')} match no layer of this model (its linear layers: ${names})`);
  }
  const probes = targets.map((t) => new GramProbe(rt, t.linear.spec));
  let layers: EvaLayerVariance[];
  let pcas: Map<string, LayerPca>;
  try {
    targets.forEach((t, i) => t.linear.adapters.push(probes[i]));
    setup.progress('EVA: collecting layer inputs', 0);
    try {
      await setup.calibrate(cfg.batches, false);
    } finally {
      targets.forEach((t, i) => {
        const at = t.linear.adapters.indexOf(probes[i]);
        if (at >= 0) t.linear.adapters.splice(at, 1);
      });
    }
    ({ layers, pcas } = await fitPcas(setup, cfg, probes));
  } finally {
    for (const p of probes) p.release(rt);
  }
  // PEFT's budget: Σ r over the targeted layers, layers that share a PCA included.
  const ranks = evaRankDistribution(layers, cfg.lora.r * targets.length);
  const attached = attachLayers(rt, cfg, targets, layers, pcas, ranks);
  setup.progress('EVA: initialised', 1);
  return new LoraLayersRun('eva', attached, { targets: cfg.lora.targets, dropout: cfg.lora.dropout });
}

/** Groups layers with identical inputs, then fits one PCA per group. */
async function fitPcas(setup: MethodSetup, cfg: EvaConfig, probes: GramProbe[]): Promise<{ layers: EvaLayerVariance[]; pcas: Map<string, LayerPca> }> {
  const { rt } = setup;
  const stats: InputStats[] = [];
  for (const p of probes) stats.push(await p.stats(rt));
  const owners = new Map<string, number>();
  const ownerOf = probes.map((_, i) => {
    const key = statsKey(stats[i]);
    const o = owners.get(key);
    if (o !== undefined && sameStats(stats[o], stats[i])) return o;
    if (o === undefined) owners.set(key, i);
    return i;
  });
  const owned = probes.map((_, i) => i).filter((i) => ownerOf[i] === i);
  const pcas = new Map<string, LayerPca>();
  for (const [done, i] of owned.entries()) {
    const probe = probes[i];
    setup.progress(`EVA: SVD of ${probe.linear.modulePath}`, done / owned.length);
    pcas.set(probe.linear.modulePath, await fitPca(rt, cfg, probe, stats[i], (setup.seed + i) >>> 0));
  }
  const layers = probes.map((p, i) => {
    const owner = probes[ownerOf[i]].linear.modulePath;
    const pca = pcas.get(owner) as LayerPca;
    return { name: p.linear.modulePath, ratios: pca.ratios, sharesWith: ownerOf[i] === i ? undefined : owner };
  });
  return { layers, pcas };
}

function sameStats(a: InputStats, b: InputStats): boolean {
  return a.rows === b.rows && a.sumSq === b.sumSq && a.colSum.length === b.colSum.length && a.colSum.every((v, j) => Object.is(v, b.colSum[j]));
}

async function fitPca(rt: GpuRuntime, cfg: EvaConfig, probe: GramProbe, stats: InputStats, seed: number): Promise<LayerPca> {
  const n = probe.linear.inFeatures;
  const k = Math.min(maxComponents(cfg), n);
  if (stats.rows < k) {
    throw new Error(`EVA: ${probe.linear.modulePath} saw ${stats.rows} input rows, fewer than the ${k} components it needs; use more or larger calibration batches`);
  }
  probe.centre(rt);
  const svd = cfg.svd === 'randomized' ? await randomizedSvd(rt, probe.gram, n, n, { rank: k, powerIters: cfg.powerIters, seed }) : await exactSvd(rt, probe.gram, n, n, { rank: k, vectors: true });
  try {
    const V = await rt.read(svd.V); // [n, svd.k]: column i is the i-th principal direction
    const kk = Math.min(k, svd.k);
    const components = new Float32Array(kk * n);
    for (let i = 0; i < kk; i++) for (let j = 0; j < n; j++) components[i * n + j] = V[j * svd.k + i];
    flipComponentSigns(components, kk, n);
    const eig = svd.S.subarray(0, kk);
    return { ratios: explainedVarianceRatios(eig, totalVariance(stats)), components, singularValues: eig.map((v) => Math.sqrt(Math.max(0, v))), k: kk };
  } finally {
    releaseSvd(rt, svd);
  }
}

function attachLayers(rt: GpuRuntime, cfg: EvaConfig, targets: Target[], layers: EvaLayerVariance[], pcas: Map<string, LayerPca>, ranks: Map<string, number>): AttachedLora[] {
  const attached: AttachedLora[] = [];
  targets.forEach((t, i) => {
    const s = t.linear.spec;
    const rank = ranks.get(s.modulePath) ?? 0;
    // PEFT removes the LoRA module of a layer whose EVA rank is 0: it stays the base layer.
    if (rank === 0) return;
    const pca = pcas.get(layers[i].sharesWith ?? s.modulePath) as LayerPca;
    const A = pca.components.slice(0, rank * s.inFeatures); // [rank, in]
    // PEFT's whiten: components_ / √singular_values_ (off by default, as in PEFT).
    if (cfg.whiten) for (let r = 0; r < rank; r++) for (let j = 0; j < s.inFeatures; j++) A[r * s.inFeatures + j] /= Math.sqrt(pca.singularValues[r]);
    const B = new Float32Array(s.outFeatures * rank); // [out, rank]
    const layer = new LoraLayer(rt, s, rank, evaScaling(cfg, rank).scaling, cfg.lora.dropout, t.index + 1, { A, B });
    t.linear.adapters.push(layer);
    attached.push({ linear: t.linear, layer });
  });
  return attached;
}
