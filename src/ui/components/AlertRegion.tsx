/** Every failure the page knows about, with what failed and why; dismissable one by one. */
import { useStudio } from '../store';

export function AlertRegion() {
  const alerts = useStudio((s) => s.alerts);
  const dismiss = useStudio((s) => s.dismissAlert);
  return (
    <div className="alerts" role="alert" aria-live="assertive" data-testid="alerts">
      {alerts.map((a) => (
        <div key={a.id} className="alert" data-testid="alert" data-source={a.source}>
          <div>
            <p className="alert-title" data-testid="alert-title">{a.title}</p>
            <p className="alert-message" data-testid="alert-message">{a.message}</p>
          </div>
          <button type="button" className="icon-button" aria-label="Dismiss" onClick={() => dismiss(a.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
