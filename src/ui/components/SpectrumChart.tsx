/**
 * Singular values against their index on a log y-axis (uPlot), with an optional dashed marker between two indices
 * (the chosen rank). The curves are rebuilt into a new chart only when their names change.
 */
import { useEffect, useMemo, useRef } from 'react';
import type uPlot from 'uplot';
import { spectrumColumns } from '../spectra';
import { axisStyle, chartColors, usePlot, type ChartColors } from './usePlot';

export interface Curve {
  label: string;
  values: readonly (number | null)[];
  color: keyof ChartColors;
  dash?: number[];
  width?: number;
}

export interface Marker {
  /** x position in index units, e.g. rank + 0.5 to fall between the kept and the dropped values. */
  at: number;
  label: string;
}

const HEIGHT = 220;

function markerPlugin(current: { readonly marker?: Marker }, color: string): uPlot.Plugin {
  return {
    hooks: {
      draw: [
        (u: uPlot) => {
          const m = current.marker;
          if (!m || u.data[0].length === 0) return;
          const dpr = window.devicePixelRatio || 1;
          const x = u.valToPos(m.at, 'x', true);
          const ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = color;
          ctx.fillStyle = color;
          ctx.lineWidth = dpr;
          ctx.setLineDash([4 * dpr, 4 * dpr]);
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
          ctx.font = `${11 * dpr}px system-ui, sans-serif`;
          ctx.fillText(m.label, x + 4 * dpr, u.bbox.top + 12 * dpr);
          ctx.restore();
        },
      ],
    },
  };
}

export function SpectrumChart({ curves, marker, label, testId }: { curves: Curve[]; marker?: Marker; label: string; testId: string }) {
  const markerRef = useRef<{ marker?: Marker }>({});
  markerRef.current.marker = marker;
  const data = useMemo(() => spectrumColumns(curves.map((c) => c.values)) as uPlot.AlignedData, [curves]);
  const key = curves.map((c) => `${c.label}:${c.color}`).join('|');
  const makeOptions = (width: number): uPlot.Options => {
    const c = chartColors();
    const axis = axisStyle(c);
    return {
      width,
      height: HEIGHT,
      scales: { x: { time: false }, y: { distr: 3, log: 10 } },
      axes: [
        { ...axis, label: 'index i' },
        { ...axis, label: 'σᵢ', size: 60 },
      ],
      series: [
        { label: 'i' },
        ...curves.map((k) => ({ label: k.label, stroke: c[k.color], width: k.width ?? 2, dash: k.dash, points: { show: false } })),
      ],
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      plugins: [markerPlugin(markerRef.current, c.text)],
    };
  };
  const { box, plot } = usePlot(makeOptions, data, key, HEIGHT);
  useEffect(() => {
    plot.current?.redraw(false);
  }, [marker?.at, marker?.label, plot]);
  return (
    <figure className="chart" data-testid={testId} aria-label={label}>
      <div ref={box} className="chart-box" />
    </figure>
  );
}
