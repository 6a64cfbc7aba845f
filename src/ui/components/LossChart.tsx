/** Train and validation loss against step, drawn with uPlot and updated as metrics arrive. */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useStudio } from '../store';
import { chartColumns } from '../store/metrics';

const HEIGHT = 260;

function chartOptions(width: number): uPlot.Options {
  const css = getComputedStyle(document.documentElement);
  const text = css.getPropertyValue('--text-muted').trim() || '#888';
  const grid = css.getPropertyValue('--border').trim() || '#8884';
  const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
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
      { label: 'train loss', stroke: css.getPropertyValue('--accent').trim() || '#3b6ef5', width: 2, points: { show: false } },
      { label: 'val loss', stroke: css.getPropertyValue('--warn').trim() || '#e8862a', width: 2, spanGaps: true, points: { show: true, size: 6 } },
    ],
    legend: { show: true, live: false },
    cursor: { drag: { x: false, y: false } },
  };
}

export function LossChart() {
  const metrics = useStudio((s) => s.run.metrics);
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const u = new uPlot(chartOptions(Math.max(200, el.clientWidth)), [[], [], []], el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT }));
    ro.observe(el);
    // A crashed GPU process (a lost WebGPU device can take it down) also loses 2-D canvases; draw again on restore.
    const redraw = () => u.redraw(false);
    u.ctx.canvas.addEventListener('contextrestored', redraw);
    return () => {
      u.ctx.canvas.removeEventListener('contextrestored', redraw);
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData(chartColumns(metrics) as uPlot.AlignedData);
  }, [metrics]);

  return (
    <figure className="chart" data-testid="loss-chart" aria-label="Loss by step">
      <div ref={box} className="chart-box" />
      {metrics.length === 0 && <figcaption className="muted small chart-empty">The loss curve appears here while training.</figcaption>}
    </figure>
  );
}
