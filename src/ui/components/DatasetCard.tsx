/** What the worker made of the dataset: counts, problems by line, and one example as the model sees it. */
import type { DatasetProblem, DatasetSummary } from '../../run/api';
import { formatInt, formatPercent } from '../format';
import { useStudio } from '../store';
import { Facts, type Fact } from './Facts';
import { LoadStatus } from './LoadStatus';

const FORMAT_NAMES: Record<DatasetSummary['format'], string> = {
  text: 'plain text',
  alpaca: 'instruction (alpaca)',
  chat: 'chat messages',
};

function datasetFacts(d: DatasetSummary): Fact[] {
  return [
    { label: 'Format', value: FORMAT_NAMES[d.format] ?? d.format, testId: 'dataset-format' },
    { label: 'Examples', value: formatInt(d.examples), testId: 'dataset-examples' },
    { label: 'Train / validation', value: `${formatInt(d.trainExamples)} / ${formatInt(d.valExamples)}`, testId: 'dataset-split' },
    { label: 'Tokens', value: formatInt(d.tokens), testId: 'dataset-tokens' },
    {
      label: 'Loss tokens',
      value: `${formatInt(d.lossTokens)} (${formatPercent(d.lossTokens, d.tokens)})`,
      testId: 'dataset-loss-tokens',
    },
  ];
}

const SHOWN_PROBLEMS = 50;

function Problems({ problems }: { problems: DatasetProblem[] }) {
  if (problems.length === 0) return null;
  return (
    <div className="problems" data-testid="dataset-problems">
      <p className="inline-warning">
        {problems.length} problem{problems.length === 1 ? '' : 's'} (skipped lines):
      </p>
      <ul>
        {problems.slice(0, SHOWN_PROBLEMS).map((p, i) => (
          <li key={`${p.line}-${i}`} data-testid="dataset-problem" data-line={p.line}>
            <span className="mono">line {p.line}</span> {p.message}
          </li>
        ))}
      </ul>
      {problems.length > SHOWN_PROBLEMS && <p className="muted small">…and {problems.length - SHOWN_PROBLEMS} more.</p>}
    </div>
  );
}

export function DatasetCard() {
  const dataset = useStudio((s) => s.dataset);
  if (dataset.status !== 'ready') return <LoadStatus state={dataset} testId="dataset" emptyText="No dataset loaded yet." />;
  const d = dataset.value;
  return (
    <div className="summary" data-testid="dataset-card">
      <p className="summary-title">
        <strong data-testid="dataset-label">{d.fileName || dataset.label}</strong>
      </p>
      <Facts items={datasetFacts(d)} />
      {d.valExamples === 0 && <p className="inline-warning">No validation examples: raise the validation fraction to compare losses.</p>}
      <Problems problems={d.problems} />
      <details className="preview" open>
        <summary>Preview (as the model sees it)</summary>
        <pre data-testid="dataset-preview">{d.preview}</pre>
      </details>
    </div>
  );
}
