/** Step 5: singular-value spectra, of the target weights before training and of the update while it trains. */
import { LiveSpectra } from './LiveSpectra';
import { WeightSpectra } from './WeightSpectra';

export function SpectraPanel() {
  return (
    <div className="spectra-panel" data-testid="spectra-panel">
      <WeightSpectra />
      <LiveSpectra />
    </div>
  );
}
