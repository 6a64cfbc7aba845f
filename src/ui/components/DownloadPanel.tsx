/**
 * Step 7: the adapter (as PEFT reads it, or as a webpeft delta for the methods PEFT has no format for), the merged
 * model as transformers reads it, and whether it helped: for the trained adapter, or for one opened from a folder
 * (AdapterLoader), which replaces it.
 */
import { useBridge } from '../bridgeContext';
import {
  CONFIG_NAME,
  DELTA_CONFIG_NAME,
  DELTA_WEIGHTS_NAME,
  DELTA_ZIP_NAME,
  MERGED_ZIP_NAME,
  WEIGHTS_NAME,
  ZIP_NAME,
  configBlob,
  configFileName,
  isDelta,
  mergedZipBlob,
  saveBlob,
  weightsBlob,
  weightsFileName,
  zipBlob,
} from '../download';
import { formatLoss } from '../format';
import { DELTA_NOTE, METHOD_INFO, expectedExport } from '../methods';
import { hasAdapter, isBusy, useStudio, type Studio } from '../store';
import { ADAPTER_KIND_LABELS } from '../store/adapterSlice';
import type { AdapterFiles, AdapterKind, MethodName } from '../../run/api';

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
    body = <p className="muted small">Validation loss with and without the adapter is measured after training or opening an adapter.</p>;
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

type Part = 'config' | 'weights' | 'zip';

const BLOBS: Record<Part, (f: AdapterFiles) => Blob> = { config: configBlob, weights: weightsBlob, zip: zipBlob };

/** The name a part saves under: the exported files' own names, the zip by format. */
function partName(part: Part, files: AdapterFiles, zipName: string): string {
  return part === 'config' ? configFileName(files) : part === 'weights' ? weightsFileName(files) : zipName;
}

/** The PEFT type an exported adapter_config.json names (LORA, IA3, SHIRA), if it parses. */
function peftType(files: AdapterFiles): string | undefined {
  try {
    const cfg: unknown = JSON.parse(files.config);
    if (cfg && typeof cfg === 'object' && 'peft_type' in cfg && typeof cfg.peft_type === 'string') return cfg.peft_type;
  } catch {
    // not JSON: say nothing about it
  }
  return undefined;
}

/** The kind of an adapter opened from a folder, while it is the one applied. */
function loadedKind(s: Studio): AdapterKind | undefined {
  return s.adapter.loaded.status === 'ready' ? s.adapter.loaded.value.kind : undefined;
}

/**
 * The last run's method (or the opened adapter's kind) and whether its default export is a delta: from the exported
 * files once there are some. An opened LoRA/AdaLoRA re-exports as PEFT LoRA; IA3, SHiRA and deltas as a delta.
 */
function useAdapterFormat(): { method?: MethodName; loaded?: AdapterKind; delta: boolean; files?: AdapterFiles } {
  const files = useStudio((s) => s.adapter.files);
  const loaded = useStudio(loadedKind);
  const method = useStudio((s) => (loadedKind(s) ? undefined : s.run.settings?.method));
  const predicted = useStudio((s: Studio) => {
    const kind = loadedKind(s);
    if (kind) return kind === 'lora' || kind === 'adalora' ? 'peft' : 'webpeft-delta';
    const run = s.run.settings;
    if (!run) return 'peft';
    return expectedExport(run.method, run.options ?? {}, s.model.status === 'ready' ? s.model.value.modelType : undefined);
  });
  return { method, loaded, files, delta: files ? isDelta(files) : predicted === 'webpeft-delta' };
}

function AdapterText({ method, loaded, delta, files }: { method?: MethodName; loaded?: AdapterKind; delta: boolean; files?: AdapterFiles }) {
  if (loaded) {
    return (
      <p className="muted small" data-testid="adapter-format" data-format={delta ? 'webpeft-delta' : 'peft'}>
        {delta
          ? `The opened ${ADAPTER_KIND_LABELS[loaded]} adapter downloads as a webpeft delta (webpeft_delta.json + webpeft_delta.safetensors, documented in the README), which webpeft loads back; the merged model always works.`
          : `The opened ${ADAPTER_KIND_LABELS[loaded]} adapter downloads as a PEFT LoRA adapter on the original base model (PeftModel.from_pretrained).`}
      </p>
    );
  }
  if (delta) {
    const shiraMiss = method === 'sparse' || method === 'subnet';
    return (
      <p className="muted small" data-testid="adapter-format" data-format="webpeft-delta">
        {shiraMiss
          ? 'This budget does not fit PEFT’s SHiRA format (K = r·(in + out) per layer, Llama-family models): the adapter downloads as a webpeft delta (webpeft_delta.json + webpeft_delta.safetensors, documented in the README); the merged model always works.'
          : DELTA_NOTE}{' '}
        webpeft loads the delta back (<code>webpeft logits --adapter DIR</code>).
      </p>
    );
  }
  const kind = method ? METHOD_INFO[method].kind : 'lowrank';
  const type = files ? peftType(files) : undefined;
  let what = 'Every method downloads as an adapter on the original base model (PiSSA-like methods as a plain LoRA of rank 2r, as PEFT converts them).';
  if (method === 'ia3' || type === 'IA3') what = 'IA3 downloads as a PEFT IA3 adapter on the original base model.';
  else if (kind === 'sparse' || type === 'SHIRA') what = 'The kept entries download as a PEFT SHiRA adapter (r·(in + out) entries per layer) on the original base model.';
  return (
    <p className="muted small" data-testid="adapter-format" data-format="peft">
      Load it with <code>PeftModel.from_pretrained(base_model, &quot;path/to/adapter&quot;)</code> after unzipping. {what}
    </p>
  );
}

function DownloadButtons({ files, names, save, testIdPrefix, primary, disabled }: {
  files?: AdapterFiles;
  names: { config: string; weights: string; zip: string };
  save: (part: Part) => void;
  testIdPrefix: string;
  primary: boolean;
  disabled: boolean;
}) {
  const config = files ? configFileName(files) : names.config;
  const weights = files ? weightsFileName(files) : names.weights;
  return (
    <>
      <button type="button" className={`button${primary ? '' : ' secondary'}`} data-testid={`${testIdPrefix}config`} disabled={disabled} onClick={() => save('config')}>
        {config}
      </button>
      <button type="button" className={`button${primary ? '' : ' secondary'}`} data-testid={`${testIdPrefix}weights`} disabled={disabled} onClick={() => save('weights')}>
        {weights}
      </button>
      <button type="button" className={`button${primary ? ' primary' : ' secondary'}`} data-testid={`${testIdPrefix}zip`} disabled={disabled} onClick={() => save('zip')}>
        {names.zip}
      </button>
    </>
  );
}

export function DownloadPanel() {
  const bridge = useBridge();
  const ready = useStudio(hasAdapter);
  const busy = useStudio(isBusy);
  const exporting = useStudio((s) => s.adapter.exporting);
  const mergedExporting = useStudio((s) => s.adapter.mergedExporting);
  const deltaFiles = useStudio((s) => s.adapter.delta);
  const { method, loaded, delta, files } = useAdapterFormat();
  if (!ready) return <p className="muted">Train first, or open an adapter folder below; the adapter is ready to download when the run ends or is stopped.</p>;
  const save = async (part: Part, format?: 'webpeft-delta') => {
    const exported = await bridge.exportAdapter(format);
    if (exported) saveBlob(partName(part, exported, isDelta(exported) ? DELTA_ZIP_NAME : ZIP_NAME), BLOBS[part](exported));
  };
  const saveMerged = async () => {
    const merged = await bridge.exportMerged();
    if (merged) saveBlob(MERGED_ZIP_NAME, mergedZipBlob(merged));
  };
  const disabled = busy;
  // The methods beyond LoRA whose default download is PEFT's (IA3, SHiRA) have the webpeft delta too.
  const offerDelta = !delta && method !== undefined && METHOD_INFO[method].kind !== 'lowrank';
  const mainNames = delta
    ? { config: DELTA_CONFIG_NAME, weights: DELTA_WEIGHTS_NAME, zip: DELTA_ZIP_NAME }
    : { config: CONFIG_NAME, weights: WEIGHTS_NAME, zip: ZIP_NAME };
  return (
    <div className="download-panel" data-testid="download-panel">
      <Evaluation />
      <div className="row">
        <DownloadButtons files={files} names={mainNames} save={(p) => void save(p)} testIdPrefix="download-" primary disabled={disabled} />
        {exporting && <span className="muted small">Exporting…</span>}
      </div>
      <AdapterText method={method} loaded={loaded} delta={delta} files={files} />
      {offerDelta && (
        <>
          <div className="row" data-testid="delta-downloads">
            <span className="small">webpeft delta:</span>
            <DownloadButtons
              files={deltaFiles}
              names={{ config: DELTA_CONFIG_NAME, weights: DELTA_WEIGHTS_NAME, zip: DELTA_ZIP_NAME }}
              save={(p) => void save(p, 'webpeft-delta')}
              testIdPrefix="download-delta-"
              primary={false}
              disabled={disabled}
            />
          </div>
          <p className="muted small">The same update in webpeft&apos;s own format (documented in the README), which webpeft loads back.</p>
        </>
      )}
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
