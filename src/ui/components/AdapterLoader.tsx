/**
 * Step 7, the other way round: open an adapter folder (PEFT LoRA/AdaLoRA, IA3, SHiRA as PEFT saves them, or a
 * webpeft delta) onto the loaded model, in place of the trained adapter, to measure it, sample with it, merge it
 * or re-export it. A dropped folder or the folder picker; the engine applies it and names what it found.
 */
import { useBridge } from '../bridgeContext';
import { filesFromDrop, filesFromInput, type PickedFiles } from '../files';
import { hasAdapter, isBusy, useStudio } from '../store';
import { ADAPTER_KIND_LABELS, type LoadedAdapterInfo } from '../store/adapterSlice';
import { DropZone } from './DropZone';
import { FilePicker } from './FilePicker';

/** "IA3, 15 modules" / "LoRA r=8, 14 modules". */
export function describeLoadedAdapter(info: LoadedAdapterInfo): string {
  const rank = info.r > 0 ? ` r=${info.r}` : '';
  return `${ADAPTER_KIND_LABELS[info.kind]}${rank}, ${info.modules} module${info.modules === 1 ? '' : 's'}`;
}

function AdapterStatus() {
  const loaded = useStudio((s) => s.adapter.loaded);
  const trained = useStudio((s) => s.adapter.loaded.status === 'empty' && hasAdapter(s));
  switch (loaded.status) {
    case 'loading':
      return (
        <p className="loading small" data-testid="adapter-status" data-status="loading" role="status">
          <span className="spinner" aria-hidden="true" /> Applying the adapter in {loaded.label}…
        </p>
      );
    case 'ready':
      return (
        <p className="small" data-testid="adapter-status" data-status="ready" data-kind={loaded.value.kind} data-modules={loaded.value.modules} data-r={loaded.value.r}>
          Adapter loaded from <strong data-testid="adapter-label">{loaded.label}</strong> ({describeLoadedAdapter(loaded.value)}); it replaces the trained one for
          validation, generation and the downloads above.
        </p>
      );
    case 'error':
      return (
        <p className="inline-error small" data-testid="adapter-status" data-status="error">
          {loaded.label}: {loaded.error.replace(/\.$/, '')}. No adapter is applied now.
        </p>
      );
    default:
      return (
        <p className="muted small" data-testid="adapter-status" data-status={trained ? 'trained' : 'empty'}>
          {trained ? 'The adapter is the one this page trained.' : 'No adapter yet: train one, or open an adapter folder.'}
        </p>
      );
  }
}

export function AdapterLoader() {
  const bridge = useBridge();
  const busy = useStudio(isBusy);
  const noModel = useStudio((s) => s.model.status !== 'ready');
  const disabled = busy || noModel;
  const load = (pick: () => PickedFiles | Promise<PickedFiles>) => void bridge.loadAdapterFrom(pick);
  return (
    <div className="adapter-loader" data-testid="adapter-loader">
      <DropZone
        testId="adapter-dropzone"
        title="Open an adapter folder"
        hint={
          noModel
            ? 'Load the base model it was trained on first.'
            : 'PEFT LoRA, AdaLoRA, IA3 or SHiRA (adapter_config.json + adapter_model.safetensors), or a webpeft delta (webpeft_delta.json + webpeft_delta.safetensors); it replaces the trained adapter'
        }
        disabled={disabled}
        onDrop={(dt) => {
          const picked = filesFromDrop(dt); // must start inside the drop event
          load(() => picked);
        }}
      >
        <FilePicker testId="adapter-input" label="Open adapter folder…" folder disabled={disabled} onFiles={(l) => load(() => filesFromInput(l))} />
      </DropZone>
      <AdapterStatus />
    </div>
  );
}
