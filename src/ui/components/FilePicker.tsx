/** A file input shown as a button. `folder` turns on webkitdirectory (a whole checkpoint folder at once). */
import { useId, type ChangeEvent } from 'react';

interface Props {
  testId: string;
  label: string;
  multiple?: boolean;
  folder?: boolean;
  accept?: string;
  disabled?: boolean;
  onFiles(list: FileList): void;
}

export function FilePicker({ testId, label, multiple, folder, accept, disabled, onFiles }: Props) {
  const id = useId();
  const onChange = (e: ChangeEvent<HTMLInputElement>) => {
    const list = e.target.files;
    if (list && list.length > 0) onFiles(list);
    e.target.value = ''; // picking the same folder again fires change again
  };
  // webkitdirectory is not in React's input props; the DOM attribute is what Chromium, Firefox and Safari read.
  const dirProps: Record<string, string> = folder ? { webkitdirectory: '', directory: '' } : {};
  return (
    <span className="picker">
      <input
        id={id}
        className="visually-hidden"
        type="file"
        data-testid={testId}
        multiple={multiple || folder}
        accept={accept}
        disabled={disabled}
        onChange={onChange}
        {...dirProps}
      />
      <label htmlFor={id} className={`button secondary${disabled ? ' disabled' : ''}`} aria-disabled={disabled || undefined}>
        {label}
      </label>
    </span>
  );
}
