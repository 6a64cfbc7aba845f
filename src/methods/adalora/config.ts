/**
 * AdaLoRA (Zhang et al. 2023) configuration with PEFT's AdaLoraConfig meaning and defaults
 * (peft/tuners/adalora/config.py; the defaults live in METHOD_DEFAULTS):
 *   init_r = 12        rank every layer starts with (lora_A [init_r, in], lora_E [init_r], lora_B [out, init_r])
 *   target_r = 8       average rank left after pruning: LoraSettings.rank here
 *   tinit = 0, tfinal = 0, deltaT = 1   budget schedule: full budget up to tinit, cubic decrease to the target
 *                      until total_step − tfinal, masks every deltaT steps, then the final mask is held fixed
 *   beta1 = beta2 = 0.85   EMA factors of the sensitivity and its uncertainty
 *   orth_reg_weight = 0.5  weight of the orthogonal regulariser (PEFT refuses ≤ 0; so do we)
 *   total_step         required by PEFT (> 0, and tinit < total_step − tfinal); the run's step count here
 * The layer output is y += drop(x)(A ⊙ E)ᵀ Bᵀ · lora_alpha / (ranknum + 1e-5) with ranknum = init_r fixed (PEFT
 * never changes ranknum when it masks). use_rslora and init_lora_weights do not apply (PEFT's SVDLinear ignores
 * them and always draws A, B ~ N(0, 0.02), E = 0).
 */
import type { LoraSettings, MethodOptions } from '../../run/api';

export interface AdaloraConfig {
  initR: number;
  targetR: number;
  alpha: number;
  dropout: number;
  targets: string[];
  tinit: number;
  tfinal: number;
  deltaT: number;
  beta1: number;
  beta2: number;
  orthRegWeight: number;
  totalStep: number;
}

export function adaloraConfigOf(lora: LoraSettings, o: MethodOptions, totalSteps: number): AdaloraConfig {
  const c: AdaloraConfig = {
    initR: o.adaloraInitR,
    targetR: lora.rank,
    alpha: lora.alpha,
    dropout: lora.dropout,
    targets: lora.targets,
    tinit: o.adaloraTinit,
    tfinal: o.adaloraTfinal,
    deltaT: o.adaloraDeltaT,
    beta1: o.adaloraBeta1,
    beta2: o.adaloraBeta2,
    orthRegWeight: o.adaloraOrthReg,
    totalStep: totalSteps,
  };
  validateAdaloraConfig(c);
  return c;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`AdaLoRA ${name} must be a positive integer, got ${v}`);
}

function nonNegativeInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) throw new Error(`AdaLoRA ${name} must be a non-negative integer, got ${v}`);
}

export function validateAdaloraConfig(c: AdaloraConfig): void {
  positiveInt('init_r', c.initR);
  positiveInt('target_r (the LoRA rank)', c.targetR);
  // A target above init_r would make the schedule grow the budget, which masking cannot do.
  if (c.targetR > c.initR) throw new Error(`AdaLoRA target rank ${c.targetR} exceeds the initial rank init_r = ${c.initR}`);
  if (!(Number.isFinite(c.alpha) && c.alpha > 0)) throw new Error(`AdaLoRA lora_alpha must be positive, got ${c.alpha}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`AdaLoRA dropout must be in [0, 1), got ${c.dropout}`);
  if (c.targets.length === 0) throw new Error('AdaLoRA needs at least one target module');
  nonNegativeInt('tinit', c.tinit);
  nonNegativeInt('tfinal', c.tfinal);
  positiveInt('deltaT', c.deltaT);
  for (const [name, b] of [['beta1', c.beta1], ['beta2', c.beta2]] as const) {
    if (!(b > 0 && b < 1)) throw new Error(`AdaLoRA ${name} must be in (0, 1), got ${b}`);
  }
  if (!(Number.isFinite(c.orthRegWeight) && c.orthRegWeight > 0)) throw new Error(`AdaLoRA orth_reg_weight must be greater than 0, got ${c.orthRegWeight}`);
  positiveInt('total_step', c.totalStep);
  if (c.tinit >= c.totalStep - c.tfinal) {
    throw new Error(`AdaLoRA's schedule leaves no budgeting phase: tinit ${c.tinit} ≥ total steps ${c.totalStep} − tfinal ${c.tfinal}; lower tinit/tfinal or train longer`);
  }
}

/** PEFT's scaling / (ranknum + 1e-5) with ranknum = init_r. */
export function adaloraScaling(c: AdaloraConfig): number {
  return c.alpha / (c.initR + 1e-5);
}
