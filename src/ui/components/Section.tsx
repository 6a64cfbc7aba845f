import type { ReactNode } from 'react';

interface Props {
  step: number;
  title: string;
  subtitle?: string;
  testId: string;
  children: ReactNode;
}

export function Section({ step, title, subtitle, testId, children }: Props) {
  return (
    <section className="card" data-testid={testId} aria-labelledby={`${testId}-title`}>
      <header className="card-head">
        <span className="step" aria-hidden="true">{step}</span>
        <div>
          <h2 id={`${testId}-title`}>{title}</h2>
          {subtitle && <p className="muted">{subtitle}</p>}
        </div>
      </header>
      {children}
    </section>
  );
}
