/**
 * A number input that keeps what the person typed (so "0." or "5e-" can be finished) and commits every parseable
 * value, in range or not; the form's validation (store/validate.ts) names what is out of range.
 */
import { useState } from 'react';

interface Props {
  label: string;
  testId: string;
  value: number;
  onCommit(value: number): void;
  integer?: boolean;
  min?: number;
  max?: number;
  hint?: string;
  disabled?: boolean;
}

export function parseNumber(text: string, integer = false): number | null {
  const t = text.trim();
  if (t === '') return null;
  const n = Number(t);
  if (!Number.isFinite(n)) return null;
  if (integer && !Number.isInteger(n)) return null;
  return n;
}

export function NumberField({ label, testId, value, onCommit, integer, min, max, hint, disabled }: Props) {
  const [text, setText] = useState(() => String(value));
  const [seen, setSeen] = useState(value);
  // Follow changes made elsewhere (defaults for a new model) unless the text already means that value.
  if (!Object.is(value, seen)) {
    setSeen(value);
    if (!Object.is(parseNumber(text, integer), value) && !Number.isNaN(value)) setText(String(value));
  }
  const parsed = parseNumber(text, integer);
  const invalid = parsed === null || (min !== undefined && parsed < min) || (max !== undefined && parsed > max);
  return (
    <label className="field">
      <span>{label}</span>
      <input
        type="text"
        inputMode={integer ? 'numeric' : 'decimal'}
        spellCheck={false}
        autoComplete="off"
        data-testid={testId}
        value={text}
        disabled={disabled}
        aria-invalid={invalid || undefined}
        onChange={(e) => {
          setText(e.target.value);
          const n = parseNumber(e.target.value, integer);
          onCommit(n ?? Number.NaN);
        }}
      />
      {hint && <small className="muted">{hint}</small>}
    </label>
  );
}
