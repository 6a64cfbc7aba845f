/** The optimisation: learning rate and schedule, batch shape, regularisation, validation and spectra cadence, seed. */
import { useStudio } from '../store';
import type { TrainOptions } from '../store/defaults';
import { NumberField } from './NumberField';

interface FieldSpec {
  key: keyof Omit<TrainOptions, 'schedule'>;
  label: string;
  integer?: boolean;
  min?: number;
  max?: number;
  hint?: string;
}

const MAIN: FieldSpec[] = [
  { key: 'lr', label: 'Learning rate', min: 0 },
  { key: 'steps', label: 'Steps', integer: true, min: 1 },
  { key: 'batchSize', label: 'Batch size', integer: true, min: 1 },
  { key: 'seqLen', label: 'Sequence length', integer: true, min: 1 },
  { key: 'gradAccum', label: 'Grad accumulation', integer: true, min: 1, hint: 'micro-batches per step' },
  { key: 'warmupSteps', label: 'Warmup steps', integer: true, min: 0 },
  { key: 'weightDecay', label: 'Weight decay', min: 0 },
  { key: 'maxGradNorm', label: 'Clip grad norm', min: 0, hint: '0 disables' },
  { key: 'valEvery', label: 'Validate every', integer: true, min: 0, hint: 'steps; 0 never' },
  { key: 'spectraEvery', label: 'Spectra every', integer: true, min: 0, hint: 'steps; 0 never' },
  { key: 'seed', label: 'Seed', integer: true, min: 0 },
];

const ADAM: FieldSpec[] = [
  { key: 'beta1', label: 'β1', min: 0, max: 1 },
  { key: 'beta2', label: 'β2', min: 0, max: 1 },
  { key: 'eps', label: 'ε', min: 0 },
];

function Fields({ specs }: { specs: FieldSpec[] }) {
  const train = useStudio((s) => s.settings.train);
  const setTrain = useStudio((s) => s.setTrain);
  return (
    <>
      {specs.map((f) => (
        <NumberField
          key={f.key}
          label={f.label}
          testId={`setting-${f.key}`}
          integer={f.integer}
          min={f.min}
          max={f.max}
          hint={f.hint}
          value={train[f.key]}
          onCommit={(v) => setTrain({ [f.key]: v })}
        />
      ))}
    </>
  );
}

export function TrainFields() {
  const schedule = useStudio((s) => s.settings.train.schedule);
  const setTrain = useStudio((s) => s.setTrain);
  return (
    <fieldset className="group">
      <legend>Training</legend>
      <div className="grid">
        <Fields specs={MAIN} />
        <label className="field" title="Learning rate after the linear warmup">
          <span>Schedule</span>
          <select data-testid="setting-schedule" value={schedule} onChange={(e) => setTrain({ schedule: e.target.value === 'constant' ? 'constant' : 'cosine' })}>
            <option value="cosine">Cosine</option>
            <option value="constant">Constant</option>
          </select>
        </label>
      </div>
      <details className="advanced">
        <summary>AdamW</summary>
        <div className="grid">
          <Fields specs={ADAM} />
        </div>
      </details>
    </fieldset>
  );
}
