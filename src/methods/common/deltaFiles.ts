/** A webpeft delta (webpeft_delta.json + .safetensors) as the adapter-file pair the page and the CLI save. */
import { DELTA_JSON, DELTA_SAFETENSORS, type DeltaFile, writeDelta } from '../../formats/webpeftDelta';
import type { AdapterFiles } from '../../run/api';

export function deltaAdapterFiles(d: DeltaFile): AdapterFiles {
  const files = writeDelta(d);
  const json = files.find((f) => f.name === DELTA_JSON);
  const st = files.find((f) => f.name === DELTA_SAFETENSORS);
  if (!json || !st) throw new Error('writeDelta did not produce both delta files');
  return { config: new TextDecoder().decode(json.data), weights: st.data, configName: DELTA_JSON, weightsName: DELTA_SAFETENSORS };
}
