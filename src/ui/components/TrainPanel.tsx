/** Step 4: Train / Stop, progress, the live numbers, and the metric series as JSON for tests and scripts. */
import { useBridge } from '../bridgeContext';
import { formatLoss, formatRate } from '../format';
import { isBusy, useStudio } from '../store';
import { latestMetrics } from '../store/metrics';
import type { RunStatus } from '../store/runSlice';
import { settingsProblems } from '../store/validate';
import { LossChart } from './LossChart';

const STATUS_TEXT: Record<RunStatus, string> = {
  idle: 'Not started',
  running: 'Training…',
  done: 'Done',
  stopped: 'Stopped',
  error: 'Failed',
};

/** Why Train is disabled, if it is. */
function useBlockers(): string[] {
  const model = useStudio((s) => (s.model.status === 'ready' ? s.model.value : undefined));
  const datasetReady = useStudio((s) => s.dataset.status === 'ready');
  const settings = useStudio((s) => s.settings);
  const out: string[] = [];
  if (!model) out.push('Load a model.');
  if (!datasetReady) out.push('Load a dataset.');
  return out.concat(settingsProblems(settings, model));
}

function Controls() {
  const bridge = useBridge();
  const status = useStudio((s) => s.run.status);
  const stopRequested = useStudio((s) => s.run.stopRequested);
  const busy = useStudio(isBusy);
  const blockers = useBlockers();
  const running = status === 'running';
  return (
    <>
      <div className="row">
        <button type="button" className="button primary" data-testid="train-button" disabled={busy || blockers.length > 0} onClick={() => void bridge.train()}>
          {status === 'done' || status === 'stopped' ? 'Train again' : 'Train'}
        </button>
        <button type="button" className="button secondary" data-testid="stop-button" disabled={!running || stopRequested} onClick={() => void bridge.stop()}>
          {stopRequested ? 'Stopping…' : 'Stop'}
        </button>
        <span className={`pill status-${status}`} data-testid="run-status" data-status={status} role="status">
          {STATUS_TEXT[status]}
        </span>
      </div>
      {!running && blockers.length > 0 && (
        <ul className="blockers muted small" data-testid="train-blockers">
          {blockers.map((b) => (
            <li key={b}>{b}</li>
          ))}
        </ul>
      )}
    </>
  );
}

function Progress() {
  const run = useStudio((s) => s.run);
  const latest = latestMetrics(run.metrics);
  const total = run.totalSteps;
  return (
    <div className="progress-block">
      <progress data-testid="train-progress" value={latest.step} max={Math.max(1, total)} aria-label="Training progress" />
      <div className="stats">
        <span>
          Step <strong data-testid="progress-step" data-value={latest.step}>{latest.step}</strong> / <span data-testid="progress-total">{total}</span>
        </span>
        <span>
          Loss <strong data-testid="current-loss">{formatLoss(latest.loss)}</strong>
        </span>
        <span>
          Val loss <strong data-testid="current-val-loss">{formatLoss(latest.valLoss)}</strong>
        </span>
        <span data-testid="tokens-per-s">{formatRate(latest.tokensPerS)}</span>
        {latest.lr !== undefined && <span className="muted">lr {latest.lr.toExponential(2)}</span>}
        {run.summary && <span className="muted" data-testid="run-seconds">{run.summary.seconds.toFixed(1)} s</span>}
      </div>
      {run.status === 'running' && run.metrics.length === 0 && run.setup && (
        <p className="muted" role="status" data-testid="setup-progress">
          {run.setup.message} ({Math.round(run.setup.fraction * 100)}%)
        </p>
      )}
      {run.status === 'error' && run.error && <p className="inline-error" data-testid="run-error">{run.error}</p>}
      <pre hidden data-testid="metrics-json">{JSON.stringify(run.metrics)}</pre>
    </div>
  );
}

export function TrainPanel() {
  return (
    <div className="train-panel" data-testid="train-panel">
      <Controls />
      <Progress />
      <LossChart />
    </div>
  );
}
