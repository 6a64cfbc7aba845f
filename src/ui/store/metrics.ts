/** The metrics stream as the chart and the progress panel read it. Pure functions over StepMetrics[]. */
import type { StepMetrics } from '../../run/api';

/**
 * Adds one report to the series. A report for the step already at the end (for instance a validation loss sent
 * after the training loss of the same step) is merged into it rather than appended.
 */
export function appendMetric(series: readonly StepMetrics[], m: StepMetrics): StepMetrics[] {
  const last = series[series.length - 1];
  if (last && last.step === m.step) {
    const merged: StepMetrics = { ...last };
    for (const [k, v] of Object.entries(m) as [keyof StepMetrics, number | undefined][]) {
      if (v !== undefined) (merged as unknown as Record<string, number>)[k] = v;
    }
    return [...series.slice(0, -1), merged];
  }
  return [...series, m];
}

export interface MetricsView {
  step: number;
  loss?: number;
  valLoss?: number;
  tokensPerS?: number;
  lr?: number;
}

/** The latest value of each field (validation loss is reported only every few steps). */
export function latestMetrics(series: readonly StepMetrics[]): MetricsView {
  const last = series[series.length - 1];
  if (!last) return { step: 0 };
  let valLoss: number | undefined;
  for (let i = series.length - 1; i >= 0; i--) {
    if (series[i].valLoss !== undefined) {
      valLoss = series[i].valLoss;
      break;
    }
  }
  return { step: last.step, loss: last.loss, valLoss, tokensPerS: last.tokensPerS, lr: last.lr };
}

/** Column arrays for uPlot: x = step, train loss, validation loss (null where not measured). */
export function chartColumns(series: readonly StepMetrics[]): [number[], (number | null)[], (number | null)[]] {
  return [
    series.map((m) => m.step),
    series.map((m) => (Number.isFinite(m.loss) ? m.loss : null)),
    series.map((m) => (m.valLoss !== undefined && Number.isFinite(m.valLoss) ? m.valLoss : null)),
  ];
}
