/**
 * The CPU decisions of PEFT's RankAllocator and AdaLoraModel.update_and_allocate: which work a step does, the
 * cubic budget, and the masking threshold. Pure functions; the GPU side is allocator.ts.
 */
import type { AdaloraConfig } from './config';

export interface Budgets {
  /** Σ init_r over the layers (PEFT's init_bgt). */
  init: number;
  /** target_r × #layers (PEFT's target_bgt). */
  target: number;
}

/**
 * PEFT's budget_schedule(step): the full budget up to tinit (no mask), the target after total − tfinal (mask),
 * and in between int((init − target) · (1 − (step − tinit) / (total − tfinal − tinit))³ + target), masking when
 * step % deltaT == 0.
 */
export function budgetSchedule(c: AdaloraConfig, b: Budgets, step: number): { budget: number; mask: boolean } {
  if (step <= c.tinit) return { budget: b.init, mask: false };
  if (step > c.totalStep - c.tfinal) return { budget: b.target, mask: true };
  const mulCoeff = 1 - (step - c.tinit) / (c.totalStep - c.tfinal - c.tinit);
  // Python's int() truncates toward zero; the value is positive.
  return { budget: Math.trunc((b.init - b.target) * mulCoeff ** 3 + b.target), mask: step % c.deltaT === 0 };
}

export type AllocatorAction =
  /** Budgeting phase: update the EMAs, then mask to `budget` when `mask`. */
  | { kind: 'update'; mask: boolean; budget: number }
  /** step == total − tfinal: mask to the target without an EMA update, keep that mask, reset the EMAs. */
  | { kind: 'final'; budget: number }
  /** After it: re-apply the final mask (PEFT's mask_using_rank_pattern). */
  | { kind: 'fixed' };

/** PEFT's AdaLoraModel.update_and_allocate(global_step) with global_step = our 0-based step index. */
export function allocatorAction(c: AdaloraConfig, b: Budgets, step: number): AllocatorAction {
  const end = c.totalStep - c.tfinal;
  if (step < end) {
    const s = budgetSchedule(c, b, step);
    return { kind: 'update', mask: s.mask, budget: s.budget };
  }
  if (step === end) return { kind: 'final', budget: budgetSchedule(c, b, step).budget };
  return { kind: 'fixed' };
}

/**
 * PEFT's mask_to_budget selection: threshold = the (init − budget)-th smallest triplet score (torch.kthvalue) and
 * every triplet with score ≤ threshold is pruned (so ties prune more). Returns 1 = keep, 0 = prune, per score.
 * Deviation: when init − budget ≤ 0 PEFT's kthvalue raises (huggingface/peft#2337, a budget still equal to the
 * initial one early in a long schedule); here nothing is pruned then.
 */
export function keepMask(scores: Float32Array, budgets: Budgets, budget: number): Float32Array {
  const keep = new Float32Array(scores.length).fill(1);
  const k = budgets.init - budget;
  if (k <= 0) return keep;
  if (k > scores.length) throw new Error(`AdaLoRA: cannot prune ${k} of ${scores.length} triplets`);
  const threshold = Float32Array.from(scores).sort()[k - 1];
  for (let i = 0; i < scores.length; i++) if (scores[i] <= threshold) keep[i] = 0;
  return keep;
}
