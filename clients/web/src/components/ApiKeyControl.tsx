import { useId, useState, type FormEvent, type Ref } from 'react';
import { API_KEY_INVALID_MESSAGE, cleanApiKey, maskApiKey } from '../apiKey';

interface ApiKeyControlProps {
  /** The saved key, "" when none. */
  apiKey: string;
  onSave: (key: string) => void;
  onForget: () => void;
  /** Lets the app move focus here when the server asks for a key (HTTP 401). */
  inputRef: Ref<HTMLInputElement>;
}

/** Header control for the API key some servers require; the saved key is only ever shown masked. */
export function ApiKeyControl({ apiKey, onSave, onForget, inputRef }: ApiKeyControlProps) {
  const [draft, setDraft] = useState('');
  const [problem, setProblem] = useState('');
  const inputId = useId();
  const statusId = useId();
  const problemId = useId();

  const submit = (e: FormEvent<HTMLFormElement>) => {
    // Never let the browser submit the form: that would navigate (and a GET form puts fields in the URL).
    e.preventDefault();
    const key = cleanApiKey(draft);
    if (!key) {
      setProblem(draft.trim() ? API_KEY_INVALID_MESSAGE : 'Enter an API key first.');
      return;
    }
    setProblem('');
    // The field is emptied so the secret does not stay in the page once saved.
    setDraft('');
    onSave(key);
  };

  return (
    <form className="api-key" onSubmit={submit} noValidate>
      <label htmlFor={inputId} className="api-key__label">
        API key
      </label>
      {/* No `name`: an unnamed field is never serialised into a request or URL. autoComplete="off" and the
          other hints keep browsers from offering to store the key in their password manager or dictionary. */}
      <input
        id={inputId}
        ref={inputRef}
        className="api-key__input"
        type="password"
        autoComplete="off"
        autoCapitalize="off"
        spellCheck={false}
        value={draft}
        onChange={(e) => {
          setDraft(e.target.value);
          setProblem('');
        }}
        placeholder={apiKey ? 'Replace the key' : 'Only if the server needs one'}
        aria-invalid={problem ? true : undefined}
        aria-describedby={problem ? `${statusId} ${problemId}` : statusId}
        data-testid="api-key-input"
      />
      <button type="submit" className="button button--ghost button--small" data-testid="api-key-save">
        Save
      </button>
      <span id={statusId} className="api-key__status muted" data-testid="api-key-status">
        {apiKey ? `Key set ${maskApiKey(apiKey)}` : 'No key set'}
      </span>
      {apiKey && (
        <button type="button" className="button button--ghost button--small" onClick={onForget} data-testid="api-key-forget">
          Forget
        </button>
      )}
      {problem && (
        <p id={problemId} className="api-key__problem" role="alert">
          {problem}
        </p>
      )}
    </form>
  );
}
