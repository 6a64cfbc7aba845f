/**
 * The chosen method's own hyperparameters, one field per option by its kind (number, checkbox, select,
 * comma-separated list), and a line on what the method's adapter downloads as where that is not plain LoRA.
 */
import { useState } from 'react';
import type { MethodOptions } from '../../run/api';
import {
  METHOD_INFO,
  OPTION_FIELDS,
  exportNote,
  formatList,
  parseList,
  relevantOptionKeys,
  type BooleanOptionField,
  type ChoiceOptionField,
  type ListOptionField,
} from '../methods';
import { useStudio } from '../store';
import { NumberField } from './NumberField';

type SetOptions = (patch: Partial<MethodOptions>) => void;

function Checkbox({ field, value, onChange }: { field: BooleanOptionField & { key: keyof MethodOptions }; value: boolean; onChange: (v: boolean) => void }) {
  return (
    <label className="check option-check" title={field.title}>
      <input type="checkbox" data-testid={`option-${field.key}`} checked={value} onChange={(e) => onChange(e.target.checked)} />
      <span>
        {field.label}
        {field.hint && <small className="muted block">{field.hint}</small>}
      </span>
    </label>
  );
}

function Choice<V extends string>({ field, value, onChange }: { field: ChoiceOptionField<V> & { key: keyof MethodOptions }; value: V; onChange: (v: V) => void }) {
  return (
    <label className="field" title={field.title}>
      <span>{field.label}</span>
      <select
        data-testid={`option-${field.key}`}
        value={value}
        onChange={(e) => {
          const picked = field.choices.find((c) => c.value === e.target.value);
          if (picked) onChange(picked.value);
        }}
      >
        {field.choices.map((c) => (
          <option key={c.value} value={c.value}>
            {c.label}
          </option>
        ))}
      </select>
      {field.hint && <small className="muted">{field.hint}</small>}
    </label>
  );
}

/** Keeps the typed text (a trailing comma, spaces) and commits the parsed list on every change. */
function ListText({ field, value, onChange }: { field: ListOptionField & { key: keyof MethodOptions }; value: string[]; onChange: (v: string[]) => void }) {
  const [text, setText] = useState(() => formatList(value));
  const [seen, setSeen] = useState(value);
  if (value !== seen) {
    setSeen(value);
    if (formatList(parseList(text)) !== formatList(value)) setText(formatList(value));
  }
  return (
    <label className="field wide-field" title={field.title}>
      <span>{field.label}</span>
      <input
        type="text"
        spellCheck={false}
        autoComplete="off"
        className="mono"
        data-testid={`option-${field.key}`}
        placeholder={field.placeholder}
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          onChange(parseList(e.target.value));
        }}
      />
      {field.hint && <small className="muted">{field.hint}</small>}
    </label>
  );
}

function OptionInput({ optionKey, options, setOptions }: { optionKey: keyof MethodOptions; options: MethodOptions; setOptions: SetOptions }) {
  switch (optionKey) {
    case 'svd':
      return <Choice field={OPTION_FIELDS.svd} value={options.svd} onChange={(svd) => setOptions({ svd })} />;
    case 'sparseInit':
      return <Choice field={OPTION_FIELDS.sparseInit} value={options.sparseInit} onChange={(sparseInit) => setOptions({ sparseInit })} />;
    case 'subnetScore':
      return <Choice field={OPTION_FIELDS.subnetScore} value={options.subnetScore} onChange={(subnetScore) => setOptions({ subnetScore })} />;
    case 'matchLoraRank':
      return <Checkbox field={OPTION_FIELDS.matchLoraRank} value={options.matchLoraRank} onChange={(matchLoraRank) => setOptions({ matchLoraRank })} />;
    case 'ia3FeedForward':
      return <ListText field={OPTION_FIELDS.ia3FeedForward} value={options.ia3FeedForward} onChange={(ia3FeedForward) => setOptions({ ia3FeedForward })} />;
    default: {
      const f = OPTION_FIELDS[optionKey];
      return (
        <NumberField
          label={f.label}
          testId={`option-${optionKey}`}
          integer={f.integer}
          min={f.min}
          max={f.max}
          hint={f.hint}
          value={options[optionKey]}
          onCommit={(v) => setOptions({ [optionKey]: v } as Partial<MethodOptions>)}
        />
      );
    }
  }
}

export function MethodOptionsFields() {
  const method = useStudio((s) => s.settings.method);
  const options = useStudio((s) => s.settings.options);
  const setOptions = useStudio((s) => s.setMethodOptions);
  const modelType = useStudio((s) => (s.model.status === 'ready' ? s.model.value.modelType : undefined));
  const keys = relevantOptionKeys(method, options);
  const note = exportNote(method, options, modelType);
  if (keys.length === 0 && !note) return null;
  return (
    <div data-testid="method-options">
      {keys.length > 0 && (
        <>
          <p className="label">{METHOD_INFO[method].label} options</p>
          <div className="grid">
            {keys.map((key) => (
              <OptionInput key={key} optionKey={key} options={options} setOptions={setOptions} />
            ))}
          </div>
        </>
      )}
      {note && (
        <p className="muted small method-note" data-testid="method-export-note">
          {note}
        </p>
      )}
    </div>
  );
}
