/**
 * SORSA: train the principal part of each targeted weight as its SVD factors, with an orthonormality regulariser.
 *
 *   W = U_p Σ_p V_pᵀ + W_r  (top-r SVD of the original weight, r = LoRA rank for the module)
 *   base buffer ← W_r = W − U_p Σ_p V_pᵀ (frozen); adapter y += drop(x) V_p diag(Σ_p) U_pᵀ with U_p (B [out, r]),
 *   Σ_p (diagonal core [r]) and V_pᵀ (A [r, in]) all trainable, scaling 1 (the factors are W's own).
 *   Before each optimizer step: grad += ∇ γ(‖U_pᵀU_p − I‖²_F + ‖V_pᵀV_p − I‖²_F) (options.sorsaGamma, the paper's
 *   squared Frobenius form), i.e. 4γ U_p(U_pᵀU_p − I) and 4γ (V_pᵀV_p − I)V_pᵀ, added to the step's gradients
 *   before clipping and AdamW.
 *
 * The model starts equal to the base (residual + principal = W up to f32 rounding). ΔW against the original is
 * current − initial principal part, exactly rank 2r: B' = [U_p diag Σ_p, −U_p0 diag Σ_p0], A' = [V_pᵀ; V_p0ᵀ]
 * (PEFT's PiSSA conversion). No weight decay on the factors: they hold the pre-trained principal weights, not an
 * update, and decoupled decay would shrink them towards zero. Release writes the original weight back.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import type { GpuTensor } from '../../gpu/tensor';
import { orthRegGrad, orthRegWorkspace } from '../../gpu/ops/orthreg';
import type { LoraSettings, MethodOptions } from '../../run/api';
import { Rng } from '../../util/rng';
import { restoreOriginalWeight, writeResidual } from '../lowrank/baseWeights';
import { FactoredLayer } from '../lowrank/factored';
import type { LowRankDelta, MethodRun, MethodSetup } from '../method';
import { FactoredRun, type FactoredEntry } from '../common/factoredRun';
import { concatColumns, concatRows, scaleColumns, transposeHost } from '../common/hostMatrix';
import { expectRankFits, keyStem, targetLinears } from '../common/targets';
import { originalWeightSvd } from '../common/weightSvd';

export function sorsaKeys(modulePath: string): { A: string; B: string; core: string } {
  const s = keyStem(modulePath);
  return { A: `${s}.sorsa_A.weight`, B: `${s}.sorsa_B.weight`, core: `${s}.sorsa_S` };
}

/** The initial principal part of one layer, U_p0 diag Σ_p0 [out, r] and V_p0ᵀ [r, in]. */
interface Initial {
  US: Float32Array;
  Vt: Float32Array;
}

export async function attachSorsa(setup: MethodSetup, lora: LoraSettings, options: MethodOptions): Promise<MethodRun> {
  const { rt } = setup;
  const gamma = options.sorsaGamma;
  if (!(Number.isFinite(gamma) && gamma >= 0)) throw new Error(`SORSA gamma must be a non-negative number, got ${gamma}`);
  const targets = targetLinears('SORSA', setup.linears, lora);
  for (const t of targets) expectRankFits('SORSA', t);
  const rng = new Rng(setup.seed);
  const entries: FactoredEntry[] = [];
  const initial = new Map<string, Initial>();
  try {
    for (const [i, t] of targets.entries()) {
      const spec = t.linear.spec;
      setup.progress(`SORSA: SVD of ${spec.modulePath}`, i / targets.length);
      const svd = await originalWeightSvd(rt, setup.checkpoint, spec, { method: options.svd, rank: t.rank, powerIters: options.powerIters, seed: rng.nextU32() });
      const r = svd.k;
      const Vt = transposeHost(svd.V, spec.inFeatures, r);
      const layer = new FactoredLayer(rt, {
        linear: spec,
        k: r,
        core: 'diag',
        scale: 1,
        dropout: lora.dropout,
        salt: t.index + 1,
        init: { A: Vt, B: svd.U, core: Float32Array.from(svd.S) },
        trainable: { A: true, core: true, B: true },
        names: sorsaKeys(spec.modulePath),
        decay: { A: false, core: false, B: false },
      });
      entries.push({ linear: t.linear, layer });
      const US = scaleColumns(svd.U, spec.outFeatures, r, Float32Array.from(svd.S));
      initial.set(spec.modulePath, { US, Vt });
      // Base buffer ← W − U_p Σ_p V_pᵀ, from the original checkpoint weight.
      const tmp = rt.upload(`${spec.modulePath} U_p Σ_p`, [spec.outFeatures, r], US);
      await writeResidual(rt, t.linear, setup.checkpoint, { B: tmp, A: layer.A, k: r, scaling: 1 });
      rt.release(tmp);
    }
  } catch (e) {
    rt.flush();
    for (const x of entries) {
      x.layer.release(rt);
      await restoreOriginalWeight(rt, x.linear, setup.checkpoint);
    }
    throw e;
  }
  for (const e of entries) e.linear.adapters.push(e.layer);
  setup.progress('SORSA: ready', 1);
  return new FactoredRun('sorsa', entries, lora, sorsaHooks(rt, setup, entries, initial, gamma));
}

function sorsaHooks(rt: GpuRuntime, setup: MethodSetup, entries: FactoredEntry[], initial: Map<string, Initial>, gamma: number) {
  // One [r, r] Gram workspace per distinct rank: the regulariser's dispatches run in order, so layers share it.
  const work = new Map<number, GpuTensor>();
  const workspace = (r: number): GpuTensor => {
    let w = work.get(r);
    if (!w) {
      w = orthRegWorkspace(rt, r, `sorsa gram [${r}, ${r}]`);
      work.set(r, w);
    }
    return w;
  };
  const initialOf = (modulePath: string): Initial => {
    const i = initial.get(modulePath);
    if (!i) throw new Error(`SORSA: no initial factors for ${modulePath}`);
    return i;
  };
  return {
    beforeOptimizerStep(runtime: GpuRuntime): void {
      if (gamma === 0) return;
      for (const { layer } of entries) {
        const { inFeatures: inF, outFeatures: outF } = layer.linear;
        const dA = layer.grad('A');
        const dB = layer.grad('B');
        const w = workspace(layer.k);
        if (dA) orthRegGrad(runtime, { X: layer.A, grad: dA, work: w, axis: 'rows', mode: 'squared', k: layer.k, n: inF, gamma });
        if (dB) orthRegGrad(runtime, { X: layer.B, grad: dB, work: w, axis: 'cols', mode: 'squared', k: layer.k, n: outF, gamma });
      }
    },
    delta(e: FactoredEntry, p: { B: Float32Array; A: Float32Array; k: number }): LowRankDelta {
      const spec = e.linear.spec;
      const r = p.k;
      const init = initialOf(spec.modulePath);
      const negUS = init.US.map((v) => -v);
      return { linear: spec, k: 2 * r, B: concatColumns(p.B, r, negUS, r, spec.outFeatures), A: concatRows(p.A, init.Vt), scaling: 1 };
    },
    baseChange(): LowRankDelta[] {
      return entries.map(({ linear, layer }) => {
        const init = initialOf(linear.spec.modulePath);
        return { linear: linear.spec, k: layer.k, B: init.US.map((v) => -v), A: init.Vt, scaling: 1 };
      });
    },
    async release(runtime: GpuRuntime): Promise<void> {
      for (const w of work.values()) runtime.release(w);
      work.clear();
      for (const { linear } of entries) await restoreOriginalWeight(runtime, linear, setup.checkpoint);
    },
  };
}
