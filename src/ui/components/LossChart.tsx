/** Train and validation loss against step, drawn with uPlot and updated as metrics arrive. */
import { useMemo } from 'react';
import type uPlot from 'uplot';
import { useStudio } from '../store';
import { chartColumns } from '../store/metrics';
import { axisStyle, chartColors, usePlot } from './usePlot';

const HEIGHT = 260;

function chartOptions(width: number): uPlot.Options {
  const c = chartColors();
  const axis = axisStyle(c);
  return {
    width,
    height: HEIGHT,
    scales: { x: { time: false } },
    axes: [
      { ...axis, label: 'step' },
      { ...axis, label: 'loss', size: 56 },
    ],
    series: [
      { label: 'step' },
      { label: 'train loss', stroke: c.accent, width: 2, points: { show: false } },
      { label: 'val loss', stroke: c.warn, width: 2, spanGaps: true, points: { show: true, size: 6 } },
    ],
    legend: { show: true, live: false },
    cursor: { drag: { x: false, y: false } },
  };
}

export function LossChart() {
  const metrics = useStudio((s) => s.run.metrics);
  const data = useMemo(() => chartColumns(metrics) as uPlot.AlignedData, [metrics]);
  const { box } = usePlot(chartOptions, data, 'loss', HEIGHT);
  return (
    <figure className="chart" data-testid="loss-chart" aria-label="Loss by step">
      <div ref={box} className="chart-box" />
      {metrics.length === 0 && <figcaption className="muted small chart-empty">The loss curve appears here while training.</figcaption>}
    </figure>
  );
}
