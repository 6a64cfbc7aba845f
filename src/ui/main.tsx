/** Page entry: one store, one bridge (which owns the trainer worker), and the React tree. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { TrainerBridge, errorMessage } from './bridge';
import { BridgeContext } from './bridgeContext';
import { ErrorBoundary } from './components/ErrorBoundary';
import { connectWorker } from './connection';
import { fetchSampleDataset, fetchSampleModel } from './files';
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

// `?sample` (what `npm start` opens) starts the studio on the bundled stories260K model and sample text.
void bridge.start().then(async () => {
  if (!new URLSearchParams(window.location.search).has('sample')) return;
  await bridge.loadModelFrom(fetchSampleModel);
  if (studio.getState().model.status === 'ready') await bridge.loadDatasetFrom(fetchSampleDataset);
});
