/**
 * Learning-rate schedules, as transformers' get_cosine_schedule_with_warmup and
 * get_constant_schedule_with_warmup: `step` is the 0-based optimizer step, so with warmup the first step has lr 0.
 */
export function learningRate(step: number, total: number, peak: number, warmup: number, kind: 'cosine' | 'constant'): number {
  if (step < warmup) return (peak * step) / Math.max(1, warmup);
  if (kind === 'constant') return peak;
  const progress = (step - warmup) / Math.max(1, total - warmup);
  return peak * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}
