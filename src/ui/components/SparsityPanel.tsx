/**
 * The sparse methods (sparse FT, SaRA, gradient subnet, DSEE) during and after a run: per target layer, how many
 * entries it keeps and the density that is, how prune-and-regrow (or SaRA's re-selection) changed the index set,
 * the share of rows and columns it touches, and a small picture of where the kept entries sit in the weight.
 * Fed by the run's sparsity snapshots (step 0, after each index-set update, the end) through the store.
 */
import { useEffect, useMemo, useRef } from 'react';
import type { LayerSparsity, SparsitySnapshot } from '../../run/api';
import { formatInt } from '../format';
import { METHOD_INFO, isSparseMethod } from '../methods';
import { cellDensities, formatShare, summarizeSparsity, updateSteps, type SparsityPoint } from '../sparsity';
import { useStudio } from '../store';

/** The longer side of a layer's picture, in CSS pixels; the other follows the weight's aspect (at least MIN_SIDE). */
const MAX_SIDE = 96;
const MIN_SIDE = 32;

export function gridSize(shape: [number, number]): { width: number; height: number } {
  const [out, inF] = shape;
  const clamp = (v: number) => Math.max(MIN_SIDE, Math.min(MAX_SIDE, Math.round(v)));
  return out >= inF ? { width: clamp((MAX_SIDE * inF) / Math.max(1, out)), height: MAX_SIDE } : { width: MAX_SIDE, height: clamp((MAX_SIDE * out) / Math.max(1, inF)) };
}

function cssColor(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** One layer's kept entries as a heatmap: rows are output features (top first), columns input features. */
function SparsityGrid({ layer }: { layer: LayerSparsity }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const { values, max } = useMemo(() => cellDensities(layer), [layer]);
  const { width, height } = gridSize(layer.shape);
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas) return;
    const draw = () => {
      const ctx = canvas.getContext('2d');
      if (!ctx) return;
      const dpr = Math.max(1, Math.round(window.devicePixelRatio || 1));
      canvas.width = width * dpr;
      canvas.height = height * dpr;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.globalAlpha = 1;
      ctx.fillStyle = cssColor('--surface-2', '#f0f2f5');
      ctx.fillRect(0, 0, width, height);
      ctx.fillStyle = cssColor('--accent', '#3b6ef5');
      const { gridRows, gridCols } = layer;
      for (let r = 0; r < gridRows; r++) {
        const y0 = Math.round((r * height) / gridRows);
        const y1 = Math.round(((r + 1) * height) / gridRows);
        for (let c = 0; c < gridCols; c++) {
          const v = values[r * gridCols + c];
          if (!(v > 0) || !(max > 0)) continue;
          const x0 = Math.round((c * width) / gridCols);
          const x1 = Math.round(((c + 1) * width) / gridCols);
          ctx.globalAlpha = Math.min(1, v / max);
          ctx.fillRect(x0, y0, Math.max(1, x1 - x0), Math.max(1, y1 - y0));
        }
      }
      ctx.globalAlpha = 1;
      ctx.strokeStyle = cssColor('--border', '#dde1e7');
      ctx.strokeRect(0.5, 0.5, width - 1, height - 1);
    };
    draw();
    // A crashed GPU process can take the 2-D canvases with it; draw again when they come back.
    canvas.addEventListener('contextrestored', draw);
    return () => canvas.removeEventListener('contextrestored', draw);
  }, [layer, values, max, width, height]);
  const total = layer.grid.reduce((a, b) => a + b, 0);
  const cellRows = Math.ceil(layer.shape[0] / layer.gridRows);
  const cellCols = Math.ceil(layer.shape[1] / layer.gridCols);
  const label = `Where the ${formatInt(layer.kept)} kept entries of ${layer.modulePath} sit: ${layer.gridRows}×${layer.gridCols} cells of about ${cellRows}×${cellCols} entries; the densest cell keeps ${formatShare(max)}`;
  return (
    <canvas
      ref={ref}
      className="sparsity-grid"
      style={{ width, height }}
      role="img"
      aria-label={label}
      title={label}
      data-testid="sparsity-grid"
      data-module={layer.modulePath}
      data-rows={layer.gridRows}
      data-cols={layer.gridCols}
      data-total={total}
      data-max={max}
    />
  );
}

function Legend() {
  return (
    <div className="sparsity-legend small muted" data-testid="sparsity-legend">
      <span className="legend-ramp" aria-hidden="true" />
      <span>
        Each picture is one weight, output features down and input features across, in a grid of cells; a cell&apos;s shade is the share of its entries
        kept, from none (blank) to the layer&apos;s densest cell (in the picture&apos;s tooltip).
      </span>
    </div>
  );
}

function Summary({ snapshot, history }: { snapshot: SparsitySnapshot; history: SparsityPoint[] }) {
  const sum = summarizeSparsity(snapshot);
  const steps = updateSteps(history);
  return (
    <p className="small stats" data-testid="sparsity-summary" data-step={snapshot.step}>
      <span>
        Step <strong data-testid="sparsity-step">{snapshot.step}</strong>
      </span>
      <span>{sum.layers} layers</span>
      <span data-testid="sparsity-total-density" data-value={sum.density}>
        {formatInt(sum.kept)} of {formatInt(sum.size)} entries kept ({formatShare(sum.density)})
      </span>
      <span data-testid="sparsity-updates-total" data-value={sum.updates}>
        {sum.updates === 0 ? 'no index-set update yet' : `${sum.updates} index-set update${sum.updates === 1 ? '' : 's'}`}
        {steps.length > 0 && ` (after step${steps.length === 1 ? '' : 's'} ${steps.join(', ')})`}
      </span>
      <span>
        {formatInt(sum.dropped)} dropped, {formatInt(sum.regrown)} regrown in all
      </span>
    </p>
  );
}

function LayerRow({ layer }: { layer: LayerSparsity }) {
  const n = (v: number) => formatInt(v);
  return (
    <tr data-testid="sparsity-row" data-module={layer.modulePath}>
      <th scope="row" className="mono">
        {layer.modulePath}
      </th>
      <td className="num">{`${layer.shape[0]}×${layer.shape[1]}`}</td>
      <td className="num" data-testid="sparsity-kept" data-value={layer.kept}>
        {n(layer.kept)}
      </td>
      <td className="num" data-testid="sparsity-density" data-value={layer.density}>
        {formatShare(layer.density)}
      </td>
      <td className="num" data-testid="sparsity-updates" data-value={layer.updates}>
        {layer.updates}
      </td>
      <td className="num" data-testid="sparsity-dropped" data-value={layer.dropped}>
        {n(layer.dropped)}
      </td>
      <td className="num" data-testid="sparsity-regrown" data-value={layer.regrown}>
        {n(layer.regrown)}
      </td>
      <td className="num" data-testid="sparsity-last" data-dropped={layer.lastDropped} data-regrown={layer.lastRegrown}>
        {layer.updates > 0 ? `−${n(layer.lastDropped)} / +${n(layer.lastRegrown)}` : '—'}
      </td>
      <td className="num" data-testid="sparsity-rows" data-value={layer.rowsTouched}>
        {formatShare(layer.rowsTouched)}
      </td>
      <td className="num" data-testid="sparsity-cols" data-value={layer.colsTouched}>
        {formatShare(layer.colsTouched)}
      </td>
      <td>
        <SparsityGrid layer={layer} />
      </td>
    </tr>
  );
}

function LayerTable({ snapshot }: { snapshot: SparsitySnapshot }) {
  return (
    <div className="table-box sparsity-box">
      <table className="data-table" data-testid="sparsity-table" aria-label="Sparse layers: entries kept, index-set updates and where the kept entries sit">
        <thead>
          <tr>
            <th scope="col">Layer</th>
            <th scope="col">Shape</th>
            <th scope="col">Kept</th>
            <th scope="col" title="kept / (out · in), as actually kept">
              Density
            </th>
            <th scope="col" title="Index-set updates so far: prune-and-regrow (sparse FT) or re-selection (SaRA)">
              Updates
            </th>
            <th scope="col" title="Entries dropped over all updates">
              Dropped
            </th>
            <th scope="col" title="Entries regrown over all updates">
              Regrown
            </th>
            <th scope="col" title="Dropped / regrown at the last update">
              Last update
            </th>
            <th scope="col" title="Share of output rows holding at least one kept entry">
              Rows touched
            </th>
            <th scope="col" title="Share of input columns holding at least one kept entry">
              Cols touched
            </th>
            <th scope="col">Where</th>
          </tr>
        </thead>
        <tbody>
          {snapshot.layers.map((l) => (
            <LayerRow key={l.modulePath} layer={l} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function SparsityPanel() {
  const method = useStudio((s) => s.settings.method);
  const sparsity = useStudio((s) => s.sparsity);
  const running = useStudio((s) => s.run.status === 'running');
  const { live, history, snapshots } = sparsity;
  if (!live && !isSparseMethod(method)) return null;
  const runMethod = sparsity.method ?? method;
  return (
    <div className="spectra-view sparsity-panel" data-testid="sparsity-panel" data-snapshots={snapshots} data-step={live?.step ?? -1}>
      <h3>{METHOD_INFO[runMethod].label}: the entries each layer trains</h3>
      {live ? (
        <>
          <Summary snapshot={live} history={history} />
          <Legend />
          <LayerTable snapshot={live} />
        </>
      ) : (
        <p className="muted small" data-testid="sparsity-empty">
          {running
            ? 'The kept entries of each layer appear once the run has chosen them (step 0).'
            : 'During a run of a sparse method, each layer’s kept entries, their density, how prune-and-regrow moves them and where they sit appear here.'}
        </p>
      )}
    </div>
  );
}
