/**
 * Step 5: singular-value spectra, of the target weights before training and of the update while it trains, and
 * for the sparse methods the entries each layer keeps and where they sit.
 */
import { LiveSpectra } from './LiveSpectra';
import { SparsityPanel } from './SparsityPanel';
import { WeightSpectra } from './WeightSpectra';

export function SpectraPanel() {
  return (
    <div className="spectra-panel" data-testid="spectra-panel">
      <WeightSpectra />
      <LiveSpectra />
      <SparsityPanel />
    </div>
  );
}
