/** Step 5: the same prompt through the base model and through the model with the adapter. */
import { useBridge } from '../bridgeContext';
import { hasAdapter, isBusy, useStudio } from '../store';
import type { SampleKind } from '../store/samplesSlice';
import { NumberField } from './NumberField';

function SampleOutput({ kind, title }: { kind: SampleKind; title: string }) {
  const sample = useStudio((s) => s.samples[kind]);
  let body;
  switch (sample.status) {
    case 'generating':
      body = (
        <p className="loading">
          <span className="spinner" aria-hidden="true" /> Generating…
        </p>
      );
      break;
    case 'done': {
      // The engine returns the prompt and its continuation; show the prompt part muted.
      const echoed = sample.prompt !== '' && sample.text.startsWith(sample.prompt);
      body = (
        <p className="sample-text">
          {echoed && <span className="prompt-echo">{sample.prompt}</span>}
          {echoed ? sample.text.slice(sample.prompt.length) : sample.text}
        </p>
      );
      break;
    }
    case 'error':
      body = <p className="inline-error">{sample.error}</p>;
      break;
    default:
      body = <p className="muted small">Nothing generated yet.</p>;
  }
  return (
    <div className="sample" data-testid={`sample-${kind}`} data-status={sample.status}>
      <h3>{title}</h3>
      <div data-testid={`sample-${kind}-text`}>{body}</div>
    </div>
  );
}

function SampleControls() {
  const bridge = useBridge();
  const options = useStudio((s) => s.sampleOptions);
  const setOptions = useStudio((s) => s.setSampleOptions);
  const busy = useStudio(isBusy);
  const modelReady = useStudio((s) => s.model.status === 'ready');
  const adapter = useStudio(hasAdapter);
  return (
    <>
      <label className="field wide">
        <span>Prompt</span>
        <textarea data-testid="sample-prompt" rows={2} value={options.prompt} onChange={(e) => setOptions({ prompt: e.target.value })} />
      </label>
      <div className="grid">
        <NumberField label="Max new tokens" testId="sample-max-tokens" integer min={1} max={4096} value={options.maxNewTokens} onCommit={(maxNewTokens) => setOptions({ maxNewTokens })} />
        <NumberField label="Temperature" testId="sample-temperature" min={0} max={5} hint="0 is greedy" value={options.temperature} onCommit={(temperature) => setOptions({ temperature })} />
      </div>
      <div className="row">
        <button type="button" className="button secondary" data-testid="generate-base" disabled={busy || !modelReady} onClick={() => void bridge.generate('base')}>
          Generate (base)
        </button>
        <button type="button" className="button" data-testid="generate-adapted" disabled={busy || !adapter} onClick={() => void bridge.generate('adapted')}>
          Generate (with adapter)
        </button>
      </div>
    </>
  );
}

export function SamplePanel() {
  return (
    <div className="sample-panel">
      <SampleControls />
      <div className="samples">
        <SampleOutput kind="base" title="Base model" />
        <SampleOutput kind="adapted" title="With adapter" />
      </div>
    </div>
  );
}
