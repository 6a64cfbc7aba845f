/** How many parameters the adapter trains, asked of the worker whenever the method or the adapter settings change. */
import { useEffect } from 'react';
import { useBridge } from '../bridgeContext';
import { formatInt, formatPercent } from '../format';
import { useStudio } from '../store';

export function TrainableCount() {
  const bridge = useBridge();
  const lora = useStudio((s) => s.settings.lora);
  const method = useStudio((s) => s.settings.method);
  const options = useStudio((s) => s.settings.options);
  const total = useStudio((s) => (s.model.status === 'ready' ? s.model.value.parameters : 0));
  const trainable = useStudio((s) => s.trainable);
  useEffect(() => {
    const t = setTimeout(() => void bridge.countTrainable(lora, method, options), 150);
    return () => clearTimeout(t);
  }, [bridge, lora, method, options, total]);
  let text: string;
  switch (trainable.status) {
    case 'ready':
      text = `${formatInt(trainable.count)} (${formatPercent(trainable.count, total)} of ${formatInt(total)})`;
      break;
    case 'counting':
      text = 'counting…';
      break;
    case 'error':
      text = trainable.error;
      break;
    default:
      text = '—';
  }
  return (
    <p className="trainable">
      Trainable parameters:{' '}
      <strong data-testid="trainable-params" data-status={trainable.status} data-value={trainable.status === 'ready' ? trainable.count : undefined}>
        {text}
      </strong>
    </p>
  );
}
