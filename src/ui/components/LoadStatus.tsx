/** What a Loadable shows when it is not loaded: nothing, a spinner line, or the error. */
import type { Loadable } from '../store';

export function LoadStatus<T>({ state, testId, emptyText }: { state: Loadable<T>; testId: string; emptyText: string }) {
  switch (state.status) {
    case 'empty':
      return <p className="muted" data-testid={`${testId}-empty`}>{emptyText}</p>;
    case 'loading':
      return (
        <p className="loading" data-testid={`${testId}-loading`} role="status">
          <span className="spinner" aria-hidden="true" /> Loading {state.label}…
        </p>
      );
    case 'error':
      return (
        <p className="inline-error" data-testid={`${testId}-error`}>
          {state.label}: {state.error}
        </p>
      );
    default:
      return null;
  }
}
