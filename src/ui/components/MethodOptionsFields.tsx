/** The chosen method's own hyperparameters, and nothing for the methods that have none. */
import type { MethodOptions } from '../../run/api';
import { METHOD_INFO, OPTION_FIELDS, relevantOptionKeys } from '../methods';
import { useStudio } from '../store';
import { NumberField } from './NumberField';

function SvdChoice() {
  const svd = useStudio((s) => s.settings.options.svd);
  const setOptions = useStudio((s) => s.setMethodOptions);
  return (
    <label className="field" title="Exact: PEFT's init_lora_weights='pissa'; randomized: 'pissa_niter_N' (faster on large layers)">
      <span>SVD</span>
      <select data-testid="option-svd" value={svd} onChange={(e) => setOptions({ svd: e.target.value === 'randomized' ? 'randomized' : 'exact' })}>
        <option value="exact">Exact</option>
        <option value="randomized">Randomized</option>
      </select>
    </label>
  );
}

export function MethodOptionsFields() {
  const method = useStudio((s) => s.settings.method);
  const options = useStudio((s) => s.settings.options);
  const setOptions = useStudio((s) => s.setMethodOptions);
  const keys = relevantOptionKeys(method, options);
  if (keys.length === 0) return null;
  return (
    <div data-testid="method-options">
      <p className="label">{METHOD_INFO[method].label} options</p>
      <div className="grid">
        {keys.map((key) => {
          if (key === 'svd') return <SvdChoice key={key} />;
          const f = OPTION_FIELDS[key];
          return (
            <NumberField
              key={key}
              label={f.label}
              testId={`option-${key}`}
              integer={f.integer}
              min={f.min}
              max={f.max}
              hint={f.hint}
              value={options[key]}
              onCommit={(v) => setOptions({ [key]: v } as Partial<MethodOptions>)}
            />
          );
        })}
      </div>
    </div>
  );
}
