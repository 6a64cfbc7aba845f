/** The fine-tuning method: one radio per method with what it does in a line. */
import { METHOD_NAMES } from '../../run/api';
import { METHOD_INFO } from '../methods';
import { useStudio } from '../store';

export function MethodPicker() {
  const method = useStudio((s) => s.settings.method);
  const setMethod = useStudio((s) => s.setMethod);
  // OLoRA's QR init is defined for the Llama family only (PEFT refuses GPT-2 too).
  const gpt2 = useStudio((s) => s.model.status === 'ready' && s.model.value.modelType === 'gpt2');
  return (
    <fieldset className="group">
      <legend id="method-legend">Method</legend>
      <div className="methods" role="radiogroup" aria-labelledby="method-legend" data-testid="method-picker">
        {METHOD_NAMES.map((m) => {
          const info = METHOD_INFO[m];
          const unavailable = m === 'olora' && gpt2;
          return (
            <label key={m} className={`method-choice${m === method ? ' chosen' : ''}`} title={unavailable ? 'Needs a Llama-family model' : undefined}>
              <input
                type="radio"
                name="method"
                value={m}
                data-testid={`method-${m}`}
                checked={m === method}
                disabled={unavailable && m !== method}
                onChange={() => setMethod(m)}
              />
              <span>
                <strong>{info.label}</strong> <span className="muted small">{info.description}</span>
              </span>
            </label>
          );
        })}
      </div>
    </fieldset>
  );
}
