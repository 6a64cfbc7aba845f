/** What the worker found in the checkpoint. */
import type { ModelSummary } from '../../run/api';
import { formatCount, formatInt } from '../format';
import { useStudio } from '../store';
import { Facts, type Fact } from './Facts';
import { LoadStatus } from './LoadStatus';

function modelFacts(m: ModelSummary): Fact[] {
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  return [
    { label: 'Architecture', value: m.architecture, testId: 'model-architecture', wide: true },
    { label: 'model_type', value: m.modelType, testId: 'model-type' },
    { label: 'Parameters', value: formatCount(m.parameters), testId: 'model-parameters', title: formatInt(m.parameters) },
    { label: 'Layers', value: m.layers, testId: 'model-layers' },
    { label: 'Hidden', value: m.hidden, testId: 'model-hidden' },
    { label: 'Heads / KV heads', value: `${m.heads} / ${m.kvHeads}`, testId: 'model-heads' },
    { label: 'MLP', value: m.intermediate, testId: 'model-intermediate' },
    { label: 'Vocabulary', value: formatInt(m.vocab), testId: 'model-vocab' },
    { label: 'Max positions', value: formatInt(m.maxPositions), testId: 'model-max-positions' },
    { label: 'Weights dtype', value: m.dtype, testId: 'model-dtype', title: 'Computation is always float32' },
    { label: 'Tied embeddings', value: yes(m.tiedEmbeddings), testId: 'model-tied' },
    { label: 'Tokenizer', value: yes(m.hasTokenizer), testId: 'model-tokenizer' },
    { label: 'Chat template', value: yes(m.hasChatTemplate), testId: 'model-chat-template' },
  ];
}

export function ModelCard() {
  const model = useStudio((s) => s.model);
  if (model.status !== 'ready') return <LoadStatus state={model} testId="model" emptyText="No model loaded yet." />;
  const m = model.value;
  return (
    <div className="summary" data-testid="model-card">
      <p className="summary-title">
        <strong data-testid="model-label">{model.label}</strong>
        <span className="muted small"> · {m.files.length} files</span>
      </p>
      <Facts items={modelFacts(m)} />
      {!m.hasTokenizer && (
        <p className="inline-warning">No tokenizer.json: add it to the folder to read text datasets and generate.</p>
      )}
      <details className="small">
        <summary>Files</summary>
        <ul className="file-list" data-testid="model-files">
          {m.files.map((f) => (
            <li key={f}>{f}</li>
          ))}
        </ul>
      </details>
    </div>
  );
}
