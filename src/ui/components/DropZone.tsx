/** A drop target: highlights while something is dragged over it and hands the DataTransfer to onDrop. */
import { useState, type DragEvent, type ReactNode } from 'react';

interface Props {
  testId: string;
  title: string;
  hint: string;
  disabled?: boolean;
  onDrop(dt: DataTransfer): void;
  children?: ReactNode;
}

export function DropZone({ testId, title, hint, disabled, onDrop, children }: Props) {
  const [over, setOver] = useState(false);
  const allow = (e: DragEvent) => {
    if (disabled) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    setOver(true);
  };
  return (
    <div
      className={`dropzone${over ? ' over' : ''}${disabled ? ' disabled' : ''}`}
      data-testid={testId}
      aria-disabled={disabled || undefined}
      onDragEnter={allow}
      onDragOver={allow}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        if (!disabled) onDrop(e.dataTransfer);
      }}
    >
      <p className="drop-title">{title}</p>
      <p className="muted small">{hint}</p>
      {children && <div className="drop-actions">{children}</div>}
    </div>
  );
}
