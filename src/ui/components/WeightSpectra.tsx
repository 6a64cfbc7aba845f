/**
 * Before training: the singular values of each weight the settings target, the rank marked on them and the energy
 * (fraction of Σσ²) the rank keeps, to help choose r and the method. Asked of the worker shortly after the settings
 * change (or on the button), and never while a run is going.
 */
import { useEffect, useMemo } from 'react';
import type { WeightSpectrum } from '../../run/api';
import { useBridge } from '../bridgeContext';
import { loraUse } from '../methods';
import { formatEnergy, formatSigma, pick, splitAtRank } from '../spectra';
import { useStudio } from '../store';
import { shownWeightSpectra } from '../store/spectraSlice';
import { SpectrumChart, type Curve } from './SpectrumChart';

/** Settings edits come in bursts (typing a rank): wait for a pause before asking for SVDs. */
const DEBOUNCE_MS = 500;

function useAutoLoad(): void {
  const bridge = useBridge();
  const auto = useStudio((s) => s.spectra.auto);
  const ready = useStudio((s) => s.model.status === 'ready' && s.model.value);
  const running = useStudio((s) => s.run.status === 'running');
  const method = useStudio((s) => s.settings.method);
  const options = useStudio((s) => s.settings.options);
  const rank = useStudio((s) => s.settings.lora.rank);
  const targets = useStudio((s) => s.settings.lora.targets);
  useEffect(() => {
    if (!auto || !ready || running) return;
    const t = setTimeout(() => void bridge.loadWeightSpectra(), DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [bridge, auto, ready, running, method, options, rank, targets]);
}

function Controls({ list, shown }: { list?: WeightSpectrum[]; shown?: WeightSpectrum }) {
  const bridge = useBridge();
  const auto = useStudio((s) => s.spectra.auto);
  const setAuto = useStudio((s) => s.setSpectraAuto);
  const select = useStudio((s) => s.selectWeight);
  const loading = useStudio((s) => s.spectra.weights.status === 'loading');
  const blocked = useStudio((s) => s.model.status !== 'ready' || s.run.status === 'running');
  return (
    <div className="row">
      <label className="field inline">
        <span>Weight</span>
        <select data-testid="weight-spectra-select" value={shown?.name ?? ''} disabled={!list?.length} onChange={(e) => select(e.target.value)}>
          {list?.map((w) => (
            <option key={w.name} value={w.name}>
              {w.name}
            </option>
          ))}
        </select>
      </label>
      <button type="button" className="button secondary small" data-testid="weight-spectra-refresh" disabled={blocked || loading} onClick={() => void bridge.loadWeightSpectra(true)}>
        Compute spectra
      </button>
      <label className="check small">
        <input type="checkbox" data-testid="weight-spectra-auto" checked={auto} onChange={(e) => setAuto(e.target.checked)} />
        <span>Update as the settings change</span>
      </label>
      {loading && (
        <span className="loading small" role="status">
          <span className="spinner" aria-hidden="true" /> Computing singular values…
        </span>
      )}
    </div>
  );
}

/** Whether the chosen method has a rank to mark on the spectra (the LoRA family, DSEE, "match LoRA rank"). */
function useRanked(): boolean {
  const method = useStudio((s) => s.settings.method);
  const matchLoraRank = useStudio((s) => s.settings.options.matchLoraRank);
  return loraUse(method, { matchLoraRank }).rank;
}

function WeightTable({ list, shown, ranked }: { list: WeightSpectrum[]; shown?: WeightSpectrum; ranked: boolean }) {
  const select = useStudio((s) => s.selectWeight);
  return (
    <div className="table-box">
      <table className="data-table" data-testid="weight-spectra-table" aria-label={ranked ? 'Target weights: shape, rank and the energy it keeps' : 'Target weights: shape and largest singular value'}>
        <thead>
          <tr>
            <th scope="col">Weight</th>
            <th scope="col">Shape</th>
            {ranked && <th scope="col">Rank</th>}
            {ranked && <th scope="col">Energy kept</th>}
            <th scope="col">σ₁</th>
          </tr>
        </thead>
        <tbody>
          {list.map((w) => (
            <tr key={w.name} data-testid="weight-spectrum-row" data-name={w.name} aria-current={w === shown ? 'true' : undefined}>
              <th scope="row">
                <button type="button" className="link-button mono" onClick={() => select(w.name)}>
                  {w.name}
                </button>
              </th>
              <td className="num">{`${w.shape[0]}×${w.shape[1]}`}</td>
              {ranked && <td className="num" data-testid="weight-rank" data-value={w.rank}>{w.rank}</td>}
              {ranked && <td className="num" data-testid="weight-energy" data-value={w.energyAtRank}>{formatEnergy(w.energyAtRank)}</td>}
              <td className="num">{formatSigma(w.singularValues[0])}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Chart({ shown, ranked }: { shown: WeightSpectrum; ranked: boolean }) {
  const curves = useMemo((): Curve[] => {
    if (!ranked) return [{ label: 'σ(W)', values: shown.singularValues, color: 'accent' }];
    const { kept, rest } = splitAtRank(shown.singularValues, shown.rank);
    return [
      { label: `kept (top ${shown.rank})`, values: kept, color: 'accent' },
      { label: 'rest', values: rest, color: 'text', width: 1.5 },
    ];
  }, [shown, ranked]);
  const marker = ranked ? { at: shown.rank + 0.5, label: `r = ${shown.rank}` } : undefined;
  return <SpectrumChart curves={curves} marker={marker} label={`Singular values of ${shown.name}, log scale`} testId="weight-spectrum-chart" />;
}

function EmptyText() {
  const weights = useStudio((s) => s.spectra.weights);
  const noModel = useStudio((s) => s.model.status !== 'ready');
  const auto = useStudio((s) => s.spectra.auto);
  const noTargets = useStudio((s) => !loraUse(s.settings.method, s.settings.options).targets);
  if (weights.status === 'error') return <p className="inline-error" data-testid="weight-spectra-error">{weights.error}</p>;
  if (weights.status === 'loading') return null;
  if (noModel) return <p className="muted small">Load a model to see the singular values of the weights you target.</p>;
  if (noTargets) return <p className="muted small">Norms only trains no linear weight: there are no target weights to show.</p>;
  return <p className="muted small">{auto ? 'The spectra appear here once the settings are valid.' : 'Press “Compute spectra”.'}</p>;
}

export function WeightSpectra() {
  useAutoLoad();
  const weights = useStudio((s) => s.spectra.weights);
  const selected = useStudio((s) => s.spectra.selectedWeight);
  const ranked = useRanked();
  const targeted = useStudio((s) => loraUse(s.settings.method, s.settings.options).targets);
  const list = targeted ? shownWeightSpectra(weights) : undefined;
  const shown = pick(list, selected, (w) => w.name);
  return (
    <div className="spectra-view" data-testid="weight-spectra" data-status={weights.status} aria-busy={weights.status === 'loading'}>
      <h3>Before training: σ(W) of each target weight</h3>
      <Controls list={list} shown={shown} />
      {shown ? (
        <>
          <Chart shown={shown} ranked={ranked} />
          <p className="small" data-testid="weight-spectra-caption">
            <span className="mono">{shown.name}</span> ({shown.shape[0]}×{shown.shape[1]}):{' '}
            {ranked ? (
              <>
                rank {shown.rank} keeps <strong>{formatEnergy(shown.energyAtRank)}</strong> of Σσ².
              </>
            ) : (
              <>σ₁ = {formatSigma(shown.singularValues[0])}.</>
            )}
          </p>
          {list && <WeightTable list={list} shown={shown} ranked={ranked} />}
        </>
      ) : (
        <EmptyText />
      )}
    </div>
  );
}
