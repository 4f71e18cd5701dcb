import { useId, useRef, useState, type ChangeEvent, type DragEvent, type ReactNode } from 'react';
import { ACCEPT_ATTRIBUTE, formatBytes } from '../validation';
import { UploadIcon } from './icons';

interface UploadPanelProps {
  file: File | null;
  busy: boolean;
  /** Milliseconds since the running analysis started (shown on the button). */
  elapsedMs: number;
  explain: boolean;
  onExplainChange: (explain: boolean) => void;
  /** Called with the chosen or dropped file; `extraFiles` counts files dropped beyond the first. */
  onFile: (file: File, extraFiles: number) => void;
  onAnalyze: () => void;
  /** The image area (preview or analysed overlay), shown between the drop zone and the controls. */
  children?: ReactNode;
}

function hasFiles(e: DragEvent): boolean {
  return Array.from(e.dataTransfer?.types ?? []).includes('Files');
}

/**
 * Drop zone + options + Analyze button. A real <button> opens the file picker (Tab, then Enter or
 * Space), the whole zone is a <label> of the file input for mouse users, and drag-and-drop comes on top.
 */
export function UploadPanel(props: UploadPanelProps) {
  const { file, busy, elapsedMs, explain, onExplainChange, onFile, onAnalyze, children } = props;
  const inputId = useId();
  const hintId = useId();
  const explainId = useId();
  const [dragDepth, setDragDepth] = useState(0);
  const inputRef = useRef<HTMLInputElement>(null);

  const takeFiles = (files: FileList | null | undefined) => {
    const first = files?.[0];
    if (files && first) onFile(first, files.length - 1);
  };

  const onChange = (e: ChangeEvent<HTMLInputElement>) => {
    takeFiles(e.target.files);
    // Reset, so choosing the same file again still fires a change event.
    e.target.value = '';
  };

  // dragenter/dragleave also fire for child elements; a depth counter avoids flicker.
  const onDragEnter = (e: DragEvent<HTMLDivElement>) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    setDragDepth((d) => d + 1);
  };
  const onDragOver = (e: DragEvent<HTMLDivElement>) => {
    if (!hasFiles(e)) return;
    e.preventDefault(); // required for the drop event to fire
    e.dataTransfer.dropEffect = busy ? 'none' : 'copy';
  };
  const onDragLeave = () => setDragDepth((d) => Math.max(0, d - 1));
  const onDrop = (e: DragEvent<HTMLDivElement>) => {
    e.preventDefault();
    setDragDepth(0);
    if (!busy) takeFiles(e.dataTransfer?.files);
  };

  const dragging = dragDepth > 0;

  return (
    <div className="upload">
      <div
        className={`drop-zone${dragging ? ' is-dragging' : ''}${file ? ' drop-zone--compact' : ''}${busy ? ' is-disabled' : ''}`}
        data-testid="drop-zone"
        onDragEnter={onDragEnter}
        onDragOver={onDragOver}
        onDragLeave={onDragLeave}
        onDrop={onDrop}
      >
        {/* The file input stays in the DOM (tests and drops use it) but out of the tab order: the
            button below is the keyboard control, because a hidden file input does not reliably open the
            picker from the keyboard. */}
        <input
          ref={inputRef}
          id={inputId}
          className="visually-hidden"
          type="file"
          accept={ACCEPT_ATTRIBUTE}
          tabIndex={-1}
          aria-hidden="true"
          disabled={busy}
          onChange={onChange}
          data-testid="file-input"
        />
        {/* The label makes the whole zone clickable; clicks on the button inside it do not re-trigger it. */}
        <label htmlFor={inputId} className="drop-zone__label">
          <UploadIcon className="drop-zone__icon" />
          <button
            type="button"
            className="drop-zone__button"
            disabled={busy}
            aria-describedby={hintId}
            onClick={() => inputRef.current?.click()}
          >
            {file ? 'Choose another image' : 'Choose an image'}
          </button>
          <span className="drop-zone__sub">{dragging ? 'Drop the image to use it' : 'or drag and drop it here'}</span>
        </label>
        <p id={hintId} className="drop-zone__hint">
          JPG or PNG, up to 10 MB. Images are sent only to this service.
        </p>
      </div>

      {file && (
        <p className="upload__file small">
          <span className="upload__filename">{file.name}</span> · {formatBytes(file.size)}
        </p>
      )}

      {children}

      <div className="upload__actions">
        <label className="checkbox" htmlFor={explainId}>
          <input
            id={explainId}
            type="checkbox"
            checked={explain}
            disabled={busy}
            onChange={(e) => onExplainChange(e.target.checked)}
            data-testid="explain-toggle"
          />
          <span>
            Show Grad-CAM heatmap <span className="muted">(a little slower)</span>
          </span>
        </label>
        <button
          type="button"
          className="button button--primary"
          disabled={!file || busy}
          onClick={onAnalyze}
          data-testid="analyze-button"
        >
          {busy ? (
            <>
              <span className="spinner" aria-hidden="true" />
              Analyzing… {(elapsedMs / 1000).toFixed(1)} s
            </>
          ) : (
            'Analyze image'
          )}
        </button>
      </div>
    </div>
  );
}
