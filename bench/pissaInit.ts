/**
 * PiSSA initialisation time for a model shaped like SmolLM2-135M (30 layers, hidden 576, 9 heads / 3 KV heads of
 * 64, intermediate 1536) with random weights: per target layer (q, k, v, o, gate, up, down) the SVD, the factors
 * A, B and the residual W − s·B A written back, exactly the per-layer work of attachPissa, with the randomized
 * SVD (PEFT "pissa_niter_4") and the exact one. The PiSSA paper claims "a few seconds" with a fast SVD.
 *
 * Under SwiftShader (no GPU) a full run would take hours, so it defaults to 1 layer at rank 16 and extrapolates
 * to 30 layers, labelled as such. `--layers N`, `--rank R`, `--svd randomized|exact|both`, `--modules q_proj,...`
 * override. Each weight's time is printed as soon as it is measured.
 */
import { acquireNodeDevice } from '../src/gpu/node';
import { GpuRuntime } from '../src/gpu/runtime';
import type { GpuTensor } from '../src/gpu/tensor';
import { addLowRankStored } from '../src/methods/lowrank/baseWeights';
import { svdFactors } from '../src/methods/pissa/factors';
import type { LinearSpec } from '../src/model/spec';
import { Rng } from '../src/util/rng';

export const SMOLLM2_135M = { layers: 30, hidden: 576, heads: 9, kvHeads: 3, headDim: 64, intermediate: 1536 };

export interface PissaInitBenchOptions {
  /** Decoder layers to initialise (default 30, or 1 under SwiftShader). */
  layers?: number;
  /** LoRA rank (default 16). */
  rank?: number;
  svd?: 'randomized' | 'exact' | 'both';
  /** Only these module names (default all seven), e.g. to time the exact SVD of one shape under SwiftShader. */
  modules?: string[];
  /** SwiftShader: smaller defaults and an extrapolated total. */
  swiftshader: boolean;
}

export interface PissaInitTiming {
  svd: 'randomized' | 'exact';
  layers: number;
  rank: number;
  /** Seconds for the layers measured. */
  seconds: number;
  /** Seconds for all 30 layers: measured when layers = 30, else scaled linearly. */
  seconds30: number;
  /** Mean seconds per layer, by module name. */
  perModule: Record<string, number>;
}

/** The seven target shapes of one SmolLM2-135M block, nn.Linear [out, in]. */
export function smollmTargets(layer: number): LinearSpec[] {
  const { hidden: C, kvHeads, headDim, intermediate: I } = SMOLLM2_135M;
  const lin = (group: string, name: string, inF: number, outF: number): LinearSpec => ({
    name,
    modulePath: `model.layers.${layer}.${group}.${name}`,
    weightName: `model.layers.${layer}.${group}.${name}.weight`,
    inFeatures: inF,
    outFeatures: outF,
    layout: 'out_in',
  });
  const kv = kvHeads * headDim;
  return [
    lin('self_attn', 'q_proj', C, C),
    lin('self_attn', 'k_proj', C, kv),
    lin('self_attn', 'v_proj', C, kv),
    lin('self_attn', 'o_proj', C, C),
    lin('mlp', 'gate_proj', C, I),
    lin('mlp', 'up_proj', C, I),
    lin('mlp', 'down_proj', I, C),
  ];
}

export function parsePissaInitArgs(argv: string[]): Omit<PissaInitBenchOptions, 'swiftshader'> {
  const out: Omit<PissaInitBenchOptions, 'swiftshader'> = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--layers' || flag === '--rank') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer, got ${value}`);
      out[flag === '--layers' ? 'layers' : 'rank'] = n;
      i++;
    } else if (flag === '--modules') {
      const names = (value ?? '').split(',').filter((n) => n !== '');
      const known = smollmTargets(0).map((t) => t.name);
      const bad = names.filter((n) => !known.includes(n));
      if (names.length === 0 || bad.length > 0) throw new Error(`--modules takes a comma list of ${known.join(', ')}, got ${value}`);
      out.modules = names;
      i++;
    } else if (flag === '--svd') {
      if (value !== 'randomized' && value !== 'exact' && value !== 'both') throw new Error(`--svd needs randomized, exact or both, got ${value}`);
      out.svd = value;
      i++;
    }
  }
  return out;
}

function randomWeight(rt: GpuRuntime, spec: LinearSpec, seed: number): GpuTensor {
  // nn.Linear's default init scale, U(±1/√in): the spectrum of a random matrix, about as flat as it gets,
  // which is the hard case for the randomized SVD.
  const rng = new Rng(seed);
  const bound = 1 / Math.sqrt(spec.inFeatures);
  const w = new Float32Array(spec.outFeatures * spec.inFeatures);
  for (let i = 0; i < w.length; i++) w[i] = rng.uniform(-bound, bound);
  return rt.upload(spec.weightName, [spec.outFeatures, spec.inFeatures], w);
}

/** One layer's PiSSA init as attachPissa does it: SVD → A, B → W −= s·B A; resolves when the GPU is done. */
async function initLayer(rt: GpuRuntime, W: GpuTensor, spec: LinearSpec, r: number, svd: 'randomized' | 'exact', seed: number): Promise<void> {
  const scaling = 2;
  const f = await svdFactors(rt, W, spec, r, scaling, { svd, powerIters: 4, seed });
  const A = rt.upload('A', [r, spec.inFeatures], f.A);
  const B = rt.upload('B', [spec.outFeatures, r], f.B);
  addLowRankStored(rt, W, spec, B, A, r, -scaling);
  await rt.idle();
  rt.release(A);
  rt.release(B);
}

export async function benchPissaInit(rt: GpuRuntime, log: (line: string) => void, opts: PissaInitBenchOptions): Promise<PissaInitTiming[]> {
  const layers = opts.layers ?? (opts.swiftshader ? 1 : SMOLLM2_135M.layers);
  const rank = opts.rank ?? 16;
  const kinds: ('randomized' | 'exact')[] = opts.svd === 'randomized' || opts.svd === 'exact' ? [opts.svd] : ['randomized', 'exact'];
  // Pipelines are compiled on first use: warm both SVDs up on a small matrix first.
  const warm: LinearSpec = { ...smollmTargets(0)[1], inFeatures: 48, outFeatures: 40 };
  for (const kind of kinds) {
    const W = randomWeight(rt, warm, 1);
    await initLayer(rt, W, warm, 4, kind, 1);
    rt.release(W);
  }
  const results: PissaInitTiming[] = [];
  const selected = (layer: number): LinearSpec[] => smollmTargets(layer).filter((t) => !opts.modules || opts.modules.includes(t.name));
  for (const kind of kinds) {
    log(`PiSSA init, SmolLM2-135M shapes, rank ${rank}, ${kind === 'randomized' ? 'randomized SVD, 4 power iterations (PEFT pissa_niter_4)' : 'exact SVD (PEFT pissa)'}:`);
    const sums: Record<string, number> = {};
    let total = 0;
    for (let layer = 0; layer < layers; layer++) {
      for (const [i, spec] of selected(layer).entries()) {
        const W = randomWeight(rt, spec, layer * 7 + i + 1);
        await rt.idle();
        const t0 = performance.now();
        await initLayer(rt, W, spec, rank, kind, layer * 7 + i + 1);
        const s = (performance.now() - t0) / 1000;
        rt.release(W);
        sums[spec.name] = (sums[spec.name] ?? 0) + s;
        total += s;
        if (layer === 0) log(`  ${spec.name.padEnd(9)} [${spec.outFeatures}, ${spec.inFeatures}]  ${s.toFixed(3)} s (layer 0)`);
      }
    }
    const perModule = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / layers]));
    const seconds30 = (total * SMOLLM2_135M.layers) / layers;
    results.push({ svd: kind, layers, rank, seconds: total, seconds30, perModule });
    report(log, results[results.length - 1]);
  }
  return results;
}

function report(log: (line: string) => void, t: PissaInitTiming): void {
  const names = Object.keys(t.perModule);
  if (t.layers > 1) for (const n of names) log(`  ${n.padEnd(9)} mean ${t.perModule[n].toFixed(3)} s per layer`);
  const what = names.length === 7 ? '7 target weights per layer' : `only ${names.join(', ')}`;
  log(`  ${t.layers} layer${t.layers === 1 ? '' : 's'} measured (${what}): ${t.seconds.toFixed(2)} s`);
  const all = `all 30 layers (${30 * names.length} weights)`;
  if (t.layers === SMOLLM2_135M.layers) log(`  ${all}: ${t.seconds.toFixed(2)} s`);
  else log(`  ${all}: ${t.seconds30.toFixed(1)} s  EXTRAPOLATED from ${t.layers} measured layer${t.layers === 1 ? '' : 's'} (x${(SMOLLM2_135M.layers / t.layers).toFixed(1)})`);
}

/** Stand-alone entry: acquires the device, detects SwiftShader, parses the flags. */
export async function runPissaInitBench(argv: string[], log: (line: string) => void = (l) => void process.stdout.write(`${l}\n`)): Promise<PissaInitTiming[]> {
  const acquired = await acquireNodeDevice();
  const info = acquired.adapterInfo;
  const described = [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ') || 'unknown';
  const swiftshader = /swiftshader/i.test(described);
  log(`device: ${described}${swiftshader ? ' (SwiftShader: defaults 1 layer, rank 16, total extrapolated)' : ''}`);
  const rt = new GpuRuntime(acquired.device);
  try {
    return await benchPissaInit(rt, log, { ...parsePissaInitArgs(argv), swiftshader });
  } finally {
    rt.destroy();
  }
}
