/**
 * During training: the latest spectra snapshot the run streamed. For one adapted layer, σ(ΔW) and σ(W + ΔW) against
 * σ(W) on a log scale; for every layer, the effective rank of ΔW and the count of intruder dimensions (top singular
 * vectors of W + ΔW unlike any of W's top ones).
 */
import { useMemo } from 'react';
import type { LayerSpectrum, SpectraSnapshot } from '../../run/api';
import { formatSigma, pick, summarizeSnapshot } from '../spectra';
import { useStudio } from '../store';
import { SpectrumChart, type Curve } from './SpectrumChart';

function LayerChart({ layer }: { layer: LayerSpectrum }) {
  const curves = useMemo(
    (): Curve[] => [
      // W's curve drawn over W + ΔW's, dashed: where they coincide both stay visible.
      { label: 'σ(W + ΔW)', values: layer.merged, color: 'accent', width: 3 },
      { label: 'σ(W)', values: layer.base, color: 'text', dash: [5, 4], width: 1.5 },
      { label: 'σ(ΔW)', values: layer.delta, color: 'warn' },
    ],
    [layer],
  );
  return <SpectrumChart curves={curves} label={`Singular values of ΔW, W + ΔW and W for ${layer.modulePath}, log scale`} testId="live-spectrum-chart" />;
}

function LayerTable({ snapshot, shown }: { snapshot: SpectraSnapshot; shown?: LayerSpectrum }) {
  const select = useStudio((s) => s.selectLayer);
  return (
    <div className="table-box">
      <table className="data-table" data-testid="live-spectra-table" aria-label="Adapted layers: effective rank of ΔW and intruder dimensions">
        <thead>
          <tr>
            <th scope="col">Layer</th>
            <th scope="col">Effective rank of ΔW</th>
            <th scope="col">Intruders</th>
            <th scope="col">σ₁(ΔW)</th>
          </tr>
        </thead>
        <tbody>
          {snapshot.layers.map((l) => (
            <tr key={l.modulePath} data-testid="layer-spectrum-row" data-module={l.modulePath} aria-current={l === shown ? 'true' : undefined}>
              <th scope="row">
                <button type="button" className="link-button mono" onClick={() => select(l.modulePath)}>
                  {l.modulePath}
                </button>
              </th>
              <td className="num" data-testid="layer-effective-rank" data-value={l.effectiveRank}>
                {Number.isFinite(l.effectiveRank) ? l.effectiveRank.toFixed(2) : '—'}
              </td>
              <td className={`num${l.intruders > 0 ? ' bad' : ''}`} data-testid="layer-intruders" data-value={l.intruders}>
                {l.intruders}
              </td>
              <td className="num">{formatSigma(l.delta[0])}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Summary({ snapshot }: { snapshot: SpectraSnapshot }) {
  const sum = summarizeSnapshot(snapshot);
  return (
    <p className="small stats" data-testid="live-spectra-summary" data-step={snapshot.step}>
      <span>
        Step <strong data-testid="live-spectra-step">{snapshot.step}</strong>
      </span>
      <span>{sum.layers} layers</span>
      <span>mean effective rank {Number.isFinite(sum.meanEffectiveRank) ? sum.meanEffectiveRank.toFixed(2) : '—'}</span>
      <span>
        {sum.intruders} intruder{sum.intruders === 1 ? '' : 's'} in {sum.layersWithIntruders} layer{sum.layersWithIntruders === 1 ? '' : 's'}
      </span>
      <span className="muted" data-testid="intruder-threshold" data-value={snapshot.intruderThreshold}>
        intruder: best |cos| with W’s top singular vectors &lt; {snapshot.intruderThreshold}
      </span>
    </p>
  );
}

export function LiveSpectra() {
  const live = useStudio((s) => s.spectra.live);
  const selected = useStudio((s) => s.spectra.selectedLayer);
  const select = useStudio((s) => s.selectLayer);
  const every = useStudio((s) => s.settings.train.spectraEvery);
  const running = useStudio((s) => s.run.status === 'running');
  const count = useStudio((s) => s.spectra.snapshots);
  const shown = pick(live?.layers, selected, (l) => l.modulePath);
  let empty: string;
  if (live && live.layers.length === 0) empty = 'This run’s update has no low-rank part to take the spectra of (it trains single entries, vectors or norms).';
  else if (!(every > 0)) empty = '“Spectra every” is 0 in the training settings: no snapshots are taken.';
  else if (running) empty = `The first snapshot arrives after step ${every}.`;
  else empty = `Every ${every} steps of a run, the spectra of each adapted layer appear here.`;
  return (
    <div className="spectra-view" data-testid="live-spectra" data-snapshots={count} data-step={live?.step ?? 0}>
      <h3>During training: ΔW and W + ΔW</h3>
      {live && shown ? (
        <>
          <div className="row">
            <label className="field inline">
              <span>Layer</span>
              <select data-testid="live-spectra-select" value={shown.modulePath} onChange={(e) => select(e.target.value)}>
                {live.layers.map((l) => (
                  <option key={l.modulePath} value={l.modulePath}>
                    {l.modulePath}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <LayerChart layer={shown} />
          <Summary snapshot={live} />
          <LayerTable snapshot={live} shown={shown} />
        </>
      ) : (
        <p className="muted small" data-testid="live-spectra-empty">{empty}</p>
      )}
    </div>
  );
}
