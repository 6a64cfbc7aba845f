/**
 * One uPlot chart in a <div>: created when `optionsKey` changes (series added or renamed), fed `data` on every
 * change, sized to its box, and drawn again when a crashed GPU process (a lost WebGPU device can take it down)
 * gives the 2-D canvas back.
 */
import { useEffect, useRef, type RefObject } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartColors {
  text: string;
  grid: string;
  accent: string;
  warn: string;
  good: string;
}

/** The page's palette (styles.css custom properties), so charts follow light and dark mode. */
export function chartColors(): ChartColors {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  return { text: v('--text-muted', '#888'), grid: v('--border', '#8884'), accent: v('--accent', '#3b6ef5'), warn: v('--warn', '#e8862a'), good: v('--good', '#1f8a4c') };
}

export function axisStyle(c: ChartColors): Pick<uPlot.Axis, 'stroke' | 'grid' | 'ticks'> {
  return { stroke: c.text, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid, width: 1 } };
}

export function usePlot(makeOptions: (width: number) => uPlot.Options, data: uPlot.AlignedData, optionsKey: string, height: number): { box: RefObject<HTMLDivElement | null>; plot: RefObject<uPlot | null> } {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  // Read at creation time only; the chart is rebuilt when optionsKey changes, not on every render.
  const latest = useRef({ makeOptions, data });
  latest.current = { makeOptions, data };

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const u = new uPlot(latest.current.makeOptions(Math.max(200, el.clientWidth)), latest.current.data, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro.observe(el);
    const redraw = () => u.redraw(false);
    u.ctx.canvas.addEventListener('contextrestored', redraw);
    return () => {
      u.ctx.canvas.removeEventListener('contextrestored', redraw);
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [optionsKey, height]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return { box, plot };
}
