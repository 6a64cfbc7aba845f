/** Page entry: one store, one bridge (which owns the trainer worker), and the React tree. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { TrainerBridge, errorMessage } from './bridge';
import { BridgeContext } from './bridgeContext';
import { ErrorBoundary } from './components/ErrorBoundary';
import { connectWorker } from './connection';
import { studio } from './store';
import './styles.css';

const bridge = new TrainerBridge(studio, connectWorker);

// Anything that escapes a handler still reaches the person, not only the console.
window.addEventListener('unhandledrejection', (e) => {
  studio.getState().pushAlert('page', 'Unexpected error', errorMessage(e.reason));
});
window.addEventListener('error', (e) => {
  studio.getState().pushAlert('page', 'Unexpected error', e.message || errorMessage(e.error));
});

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <ErrorBoundary>
      <BridgeContext.Provider value={bridge}>
        <App />
      </BridgeContext.Provider>
    </ErrorBoundary>
  </StrictMode>,
);

void bridge.start();
