/** A compact definition list of label → value pairs, each value addressable by data-testid. */
import type { ReactNode } from 'react';

export interface Fact {
  label: string;
  value: ReactNode;
  testId?: string;
  title?: string;
  /** Takes two columns (long names such as architectures). */
  wide?: boolean;
}

export function Facts({ items, testId }: { items: Fact[]; testId?: string }) {
  return (
    <dl className="facts" data-testid={testId}>
      {items.map((f) => (
        <div key={f.label} className={f.wide ? 'fact wide' : 'fact'}>
          <dt>{f.label}</dt>
          <dd data-testid={f.testId} title={f.title}>
            {f.value}
          </dd>
        </div>
      ))}
    </dl>
  );
}
