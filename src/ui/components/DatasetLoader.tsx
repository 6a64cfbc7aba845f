/** Step 2: a dataset file (drop, pick or the sample) and how to read it. */
import { useEffect, useState } from 'react';
import { useBridge } from '../bridgeContext';
import { fetchSampleDataset, filesFromDrop, filesFromInput, type PickedFiles } from '../files';
import { isBusy, useStudio } from '../store';
import { DropZone } from './DropZone';
import { FilePicker } from './FilePicker';
import { NumberField } from './NumberField';

const ACCEPT = '.txt,.jsonl,.json';

/** Re-reads the loaded dataset shortly after an option that changes its packing or split. */
function useDatasetRefresh() {
  const bridge = useBridge();
  const data = useStudio((s) => s.settings.data);
  const seqLen = useStudio((s) => s.settings.train.seqLen);
  const seed = useStudio((s) => s.settings.train.seed);
  useEffect(() => {
    const t = setTimeout(() => void bridge.refreshDataset(), 400);
    return () => clearTimeout(t);
  }, [bridge, data, seqLen, seed]);
}

function DatasetOptionsForm({ disabled }: { disabled: boolean }) {
  const data = useStudio((s) => s.settings.data);
  const setData = useStudio((s) => s.setData);
  return (
    <fieldset className="options" disabled={disabled}>
      <label className="field">
        <span>Bad lines</span>
        <select data-testid="dataset-on-bad-line" value={data.onBadLine} onChange={(e) => setData({ onBadLine: e.target.value === 'refuse' ? 'refuse' : 'skip' })}>
          <option value="skip">Skip and report them</option>
          <option value="refuse">Refuse the file</option>
        </select>
      </label>
      <NumberField label="Validation fraction" testId="dataset-val-fraction" value={data.valFraction} min={0} max={0.9} onCommit={(valFraction) => setData({ valFraction })} />
      <label className="check">
        <input type="checkbox" data-testid="dataset-train-all-tokens" checked={data.trainOnAllTokens} onChange={(e) => setData({ trainOnAllTokens: e.target.checked })} />
        <span>Train on all tokens (not only responses)</span>
      </label>
    </fieldset>
  );
}

export function DatasetLoader() {
  const bridge = useBridge();
  const busy = useStudio(isBusy);
  const noModel = useStudio((s) => s.model.status !== 'ready');
  const [fetching, setFetching] = useState(false);
  useDatasetRefresh();
  const load = (pick: () => PickedFiles | Promise<PickedFiles>) => void bridge.loadDatasetFrom(pick);
  const useSample = async () => {
    setFetching(true);
    try {
      await bridge.loadDatasetFrom(fetchSampleDataset);
    } finally {
      setFetching(false);
    }
  };
  const disabled = busy || fetching || noModel;
  return (
    <>
      <DropZone
        testId="dataset-dropzone"
        title="Drop a dataset file here"
        hint={
          noModel
            ? 'Load a model first: the dataset is tokenized with its tokenizer.'
            : '.txt (plain text), .jsonl / .json (alpaca instruction/input/output or chat messages)'
        }
        disabled={disabled}
        onDrop={(dt) => {
          const picked = filesFromDrop(dt);
          load(() => picked);
        }}
      >
        <FilePicker testId="dataset-input" label="Choose file…" accept={ACCEPT} disabled={disabled} onFiles={(l) => load(() => filesFromInput(l))} />
        <button type="button" className="button" data-testid="use-sample-dataset" disabled={disabled} onClick={() => void useSample()}>
          {fetching ? 'Fetching sample…' : 'Use the sample dataset'}
        </button>
      </DropZone>
      <DatasetOptionsForm disabled={busy} />
    </>
  );
}
