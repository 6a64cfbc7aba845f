/** Which GPU the worker got, or why it got none. */
import { useStudio } from '../store';

export function DeviceBadge() {
  const device = useStudio((s) => s.device);
  let text: string;
  let title = '';
  switch (device.status) {
    case 'starting':
      text = 'Starting WebGPU…';
      break;
    case 'ready': {
      const d = device.summary;
      text = `WebGPU · ${d.description || 'GPU adapter'}`;
      title = `max buffer ${d.maxBufferMiB} MiB; features: ${d.features.join(', ') || 'none'}`;
      break;
    }
    default:
      text = 'WebGPU unavailable';
      title = device.error;
  }
  return (
    <span className={`pill device-${device.status}`} data-testid="device-status" data-status={device.status} title={title}>
      <span className="dot" aria-hidden="true" />
      {text}
    </span>
  );
}
