/** Step 1: get a checkpoint in: drop a folder, pick a folder or files, or use the bundled sample. */
import { useState } from 'react';
import { useBridge } from '../bridgeContext';
import { fetchSampleModel, filesFromDrop, filesFromInput, type PickedFiles } from '../files';
import { isBusy, useStudio } from '../store';
import { DropZone } from './DropZone';
import { FilePicker } from './FilePicker';

export function ModelLoader() {
  const bridge = useBridge();
  const busy = useStudio(isBusy);
  const [fetching, setFetching] = useState(false);
  const load = (pick: () => PickedFiles | Promise<PickedFiles>) => void bridge.loadModelFrom(pick);
  const useSample = async () => {
    setFetching(true);
    try {
      await bridge.loadModelFrom(fetchSampleModel);
    } finally {
      setFetching(false);
    }
  };
  const disabled = busy || fetching;
  return (
    <DropZone
      testId="model-dropzone"
      title="Drop a Hugging Face checkpoint folder here"
      hint="config.json, *.safetensors, tokenizer.json — read locally, never uploaded"
      disabled={disabled}
      onDrop={(dt) => {
        const picked = filesFromDrop(dt); // must start inside the drop event
        load(() => picked);
      }}
    >
      <FilePicker testId="model-folder-input" label="Choose folder…" folder disabled={disabled} onFiles={(l) => load(() => filesFromInput(l))} />
      <FilePicker testId="model-files-input" label="Choose files…" multiple disabled={disabled} onFiles={(l) => load(() => filesFromInput(l))} />
      <button type="button" className="button" data-testid="use-sample-model" disabled={disabled} onClick={() => void useSample()}>
        {fetching ? 'Fetching sample…' : 'Use the sample model (stories260K)'}
      </button>
    </DropZone>
  );
}
