/**
 * LoRA-SB (Ponkshe et al. 2024): the LoRA-XS layer (layer.ts) initialised from the first full fine-tuning update,
 * so that s · B R A starts as the best rank-r approximation of that update and B, A span its top directions:
 *
 *   Ḡ = (1/n) Σ_b ∂L_b/∂W   over n = options.lorasbBatches calibration batches (each L_b its batch's mean token
 *                            loss), accumulated in nn.Linear orientation [out, in] by a GradientProbe per layer
 *   ΔW₁ = −η Ḡ               one SGD step of full fine-tuning, η = the first step's learning rate
 *   −Ḡ ≈ U_r S_r V_rᵀ        top-r SVD (options.svd; randomized with options.powerIters)
 *   B = U_r [out, r], A = V_rᵀ [r, in] (frozen, orthonormal), R = (η / s) diag(S_r) (trainable)
 *
 * so s · B R A = η U_r S_r V_rᵀ = the rank-r truncation of ΔW₁ (Eckart–Young), with s LoRA's scaling for the module;
 * the 1/s makes the init independent of alpha (the authors set alpha = r, s = 1, for the same reason). The model
 * therefore starts one approximate full-FT step away from the base, not at it.
 *
 * The paper's theory uses the gradient step −η∇L; the authors' code instead uses Adam's first step −η·sign(ΣG)
 * with η = lr / warmup steps. We keep the gradient itself (B and A are then exactly its top singular vectors, which
 * the tests check against float64) and take η from the caller: the learning rate of the first optimizer step
 * (lr / max(1, warmup steps) under linear warmup), LORASB_DEFAULT_LR when the caller has none.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import type { LoraSettings, MethodOptions } from '../../run/api';
import { Rng } from '../../util/rng';
import type { MethodRun, MethodSetup } from '../method';
import { FactoredRun, type FactoredEntry } from '../common/factoredRun';
import { transposeHost } from '../common/hostMatrix';
import { type Target, expectRankFits, targetLinears } from '../common/targets';
import { gpuSvd, svdToHost } from '../common/weightSvd';
import { type XsInit, createXsLayer } from './layer';
import { GradientProbe } from './probe';

/** η when the caller passes no first-step learning rate: the authors' default learning rate (1e-4). */
export const LORASB_DEFAULT_LR = 1e-4;

/**
 * B, A, R of one layer from the top-r SVD of −Ḡ: U [out, r], S [r], V [in, r] (nn.Linear orientation).
 * R = (η / s) diag(S), so s · B R A = η U diag(S) Vᵀ.
 */
export function loraSbFactors(svd: { U: Float32Array; S: ArrayLike<number>; V: Float32Array; k: number }, inFeatures: number, eta: number, scaling: number): XsInit {
  const r = svd.k;
  const R = new Float32Array(r * r);
  for (let j = 0; j < r; j++) R[j * r + j] = (eta / scaling) * svd.S[j];
  return { B: svd.U, A: transposeHost(svd.V, inFeatures, r), R };
}

/** Runs the calibration batches with a probe on every target and returns −Ḡ per target (GPU [out, in]). */
async function negativeMeanGradients(setup: MethodSetup, targets: Target[], batches: number): Promise<GradientProbe[]> {
  const { rt } = setup;
  const probes = targets.map((t) => new GradientProbe(rt, t.linear.spec, -1 / batches));
  targets.forEach((t, i) => t.linear.adapters.push(probes[i]));
  try {
    setup.progress(`LoRA-SB: gradients of ${batches} batch${batches === 1 ? '' : 'es'}`, 0);
    await setup.calibrate(batches, true);
  } catch (e) {
    rt.flush();
    for (const p of probes) rt.release(p.G);
    throw e;
  } finally {
    targets.forEach((t, i) => {
      const at = t.linear.adapters.indexOf(probes[i]);
      if (at >= 0) t.linear.adapters.splice(at, 1);
    });
  }
  return probes;
}

export async function attachLoraSb(setup: MethodSetup, lora: LoraSettings, options: MethodOptions, firstStepLr = LORASB_DEFAULT_LR): Promise<MethodRun> {
  const { rt } = setup;
  const batches = options.lorasbBatches;
  if (!Number.isInteger(batches) || batches < 1) throw new Error(`LoRA-SB needs a positive whole number of gradient batches, got ${batches}`);
  if (!(Number.isFinite(firstStepLr) && firstStepLr > 0)) throw new Error(`LoRA-SB: first-step learning rate ${firstStepLr} must be positive`);
  const targets = targetLinears('LoRA-SB', setup.linears, lora);
  for (const t of targets) expectRankFits('LoRA-SB', t);
  const probes = await negativeMeanGradients(setup, targets, batches);
  const rng = new Rng(setup.seed);
  const entries: FactoredEntry[] = [];
  try {
    for (const [i, t] of targets.entries()) {
      const spec = t.linear.spec;
      setup.progress(`LoRA-SB: SVD of the gradient of ${spec.modulePath}`, i / targets.length);
      const G = probes[i].G;
      const svd = await svdToHost(rt, await gpuSvd(rt, G, spec.outFeatures, spec.inFeatures, { method: options.svd, rank: t.rank, powerIters: options.powerIters, seed: rng.nextU32() }));
      rt.flush();
      rt.release(G);
      entries.push({ linear: t.linear, layer: createXsLayer(rt, t, svd.k, lora.dropout, loraSbFactors(svd, spec.inFeatures, firstStepLr, t.scaling)) });
    }
  } catch (e) {
    releaseAll(rt, probes, entries);
    throw e;
  }
  for (const e of entries) e.linear.adapters.push(e.layer);
  setup.progress('LoRA-SB: ready', 1);
  return new FactoredRun('lorasb', entries, lora);
}

function releaseAll(rt: GpuRuntime, probes: GradientProbe[], entries: FactoredEntry[]): void {
  rt.flush();
  for (const p of probes) rt.release(p.G);
  for (const e of entries) e.layer.release(rt);
}
