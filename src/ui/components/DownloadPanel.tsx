/** Step 7: the adapter as PEFT reads it, the merged model as transformers reads it, and whether it helped. */
import { useBridge } from '../bridgeContext';
import { CONFIG_NAME, MERGED_ZIP_NAME, WEIGHTS_NAME, ZIP_NAME, configBlob, mergedZipBlob, saveBlob, weightsBlob, zipBlob } from '../download';
import { formatLoss } from '../format';
import { hasAdapter, isBusy, useStudio } from '../store';
import type { AdapterFiles } from '../../run/api';

function Evaluation() {
  const bridge = useBridge();
  const evaluation = useStudio((s) => s.adapter.evaluation);
  const busy = useStudio(isBusy);
  let body;
  if (evaluation.status === 'done') {
    const change = (evaluation.adapted - evaluation.base) / evaluation.base;
    body = (
      <p className="eval">
        Validation loss: base <strong data-testid="eval-base-loss" data-value={evaluation.base}>{formatLoss(evaluation.base)}</strong>
        {' → '}with adapter <strong data-testid="eval-adapter-loss" data-value={evaluation.adapted}>{formatLoss(evaluation.adapted)}</strong>{' '}
        <span className={change < 0 ? 'good' : 'bad'}>({(change * 100).toFixed(1)}%)</span>
      </p>
    );
  } else if (evaluation.status === 'evaluating') {
    body = (
      <p className="loading" data-testid="eval-running">
        <span className="spinner" aria-hidden="true" /> Measuring validation loss…
      </p>
    );
  } else if (evaluation.status === 'error') {
    body = <p className="inline-error">{evaluation.error}</p>;
  } else {
    body = <p className="muted small">Validation loss with and without the adapter is measured after training.</p>;
  }
  return (
    <div className="row eval-row" data-testid="evaluation" data-status={evaluation.status}>
      {body}
      <button type="button" className="button secondary small" data-testid="evaluate-button" disabled={busy} onClick={() => void bridge.evaluate()}>
        {evaluation.status === 'idle' ? 'Measure' : 'Measure again'}
      </button>
    </div>
  );
}

export function DownloadPanel() {
  const bridge = useBridge();
  const ready = useStudio(hasAdapter);
  const busy = useStudio(isBusy);
  const exporting = useStudio((s) => s.adapter.exporting);
  const mergedExporting = useStudio((s) => s.adapter.mergedExporting);
  if (!ready) return <p className="muted">Train first; the adapter is ready to download when the run ends or is stopped.</p>;
  const save = async (name: string, make: (f: AdapterFiles) => Blob) => {
    const files = await bridge.exportAdapter();
    if (files) saveBlob(name, make(files));
  };
  const saveMerged = async () => {
    const files = await bridge.exportMerged();
    if (files) saveBlob(MERGED_ZIP_NAME, mergedZipBlob(files));
  };
  const disabled = busy;
  return (
    <div className="download-panel" data-testid="download-panel">
      <Evaluation />
      <div className="row">
        <button type="button" className="button" data-testid="download-config" disabled={disabled} onClick={() => void save(CONFIG_NAME, configBlob)}>
          {CONFIG_NAME}
        </button>
        <button type="button" className="button" data-testid="download-weights" disabled={disabled} onClick={() => void save(WEIGHTS_NAME, weightsBlob)}>
          {WEIGHTS_NAME}
        </button>
        <button type="button" className="button primary" data-testid="download-zip" disabled={disabled} onClick={() => void save(ZIP_NAME, zipBlob)}>
          {ZIP_NAME}
        </button>
        {exporting && <span className="muted small">Exporting…</span>}
      </div>
      <p className="muted small">
        Load it with <code>PeftModel.from_pretrained(base_model, &quot;path/to/adapter&quot;)</code> after unzipping. Every method
        downloads as an adapter on the original base model (PiSSA-like methods as a plain LoRA of rank 2r, as PEFT converts them).
      </p>
      <div className="row">
        <button type="button" className="button secondary" data-testid="download-merged" disabled={disabled} onClick={() => void saveMerged()}>
          Download merged model
        </button>
        {mergedExporting && (
          <span className="loading small" role="status">
            <span className="spinner" aria-hidden="true" /> Merging…
          </span>
        )}
      </div>
      <p className="muted small">
        {MERGED_ZIP_NAME}: config.json, model.safetensors and the tokenizer files with the update folded into the weights, for{' '}
        <code>AutoModelForCausalLM.from_pretrained</code>.
      </p>
    </div>
  );
}
