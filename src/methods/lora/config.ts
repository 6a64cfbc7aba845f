/**
 * LoRA configuration, with PEFT's defaults and meaning:
 *   y = W x + scaling · B A dropout(x),  A: [r, in], B: [out, r]
 *   scaling = alpha / r, or alpha / sqrt(r) with rsLoRA (Kalajdzievski 2023).
 * init 'default' is PEFT's init_lora_weights=True: A Kaiming-uniform(a=√5) → U(±1/√in), B = 0;
 * 'gaussian' draws A ~ N(0, 1/r²) and B = 0. Either way the adapted model starts equal to the base.
 */
import { getPatternKey } from '../../formats/peft';

export interface LoraConfig {
  r: number;
  alpha: number;
  useRslora: boolean;
  dropout: number;
  /** Module names (PEFT target_modules): a module matches when its path ends with `.name`. */
  targets: string[];
  init: 'default' | 'gaussian';
  /** Per-module overrides as PEFT's rank_pattern / alpha_pattern (keys match module-path suffixes). */
  rankPattern?: Record<string, number>;
  alphaPattern?: Record<string, number>;
}

export const LORA_DEFAULTS: LoraConfig = { r: 8, alpha: 16, useRslora: false, dropout: 0, targets: ['q_proj', 'v_proj'], init: 'default' };

export function validateLoraConfig(c: LoraConfig): void {
  if (!Number.isInteger(c.r) || c.r < 1) throw new Error(`LoRA rank must be a positive integer, got ${c.r}`);
  if (!Number.isFinite(c.alpha) || c.alpha <= 0) throw new Error(`LoRA alpha must be positive, got ${c.alpha}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`LoRA dropout must be in [0, 1), got ${c.dropout}`);
  if (c.targets.length === 0) throw new Error('LoRA needs at least one target module');
}

/** A per-module override from PEFT's rank_pattern / alpha_pattern, matched the way PEFT matches them. */
function patternValue(pattern: Record<string, number> | undefined, modulePath: string): number | undefined {
  return pattern ? pattern[getPatternKey(Object.keys(pattern), modulePath)] : undefined;
}

export function rankFor(c: LoraConfig, modulePath: string): number {
  return patternValue(c.rankPattern, modulePath) ?? c.r;
}

export function scalingFor(c: LoraConfig, modulePath: string): number {
  const r = rankFor(c, modulePath);
  const alpha = patternValue(c.alphaPattern, modulePath) ?? c.alpha;
  return c.useRslora ? alpha / Math.sqrt(r) : alpha / r;
}

/** PEFT's list form of target_modules: a module matches when its path equals a name or ends with `.name`. */
export function targetsModule(c: LoraConfig, modulePath: string): boolean {
  return c.targets.some((t) => modulePath === t || modulePath.endsWith(`.${t}`));
}
