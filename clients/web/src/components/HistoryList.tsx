import { useEffect, useId, useRef } from 'react';
import type { PredictionRecord } from '../api';
import { API_KEY_REJECTED_MESSAGE, API_KEY_REQUIRED_MESSAGE } from '../apiKey';
import { formatPercent, formatWhen, NEEDS_A_LOOK, verdictTone } from '../format';
import type { HistoryFailure, PredictionHistory, VerdictFilter } from '../usePredictionHistory';
import { VerdictTag } from './ResultView';

interface HistoryListProps {
  history: PredictionHistory;
  selectedId: string | null;
  onSelect: (record: PredictionRecord) => void;
}

const FILTERS: { value: VerdictFilter; label: string }[] = [
  { value: '', label: 'All' },
  { value: 'Real', label: 'Real' },
  { value: 'Deepfake', label: 'Deepfake' },
  { value: 'Uncertain', label: 'Uncertain' },
];

// Quiet texts: the history is secondary, analysing keeps working whatever happened to it.
const FAILURE_TEXT: Record<HistoryFailure, string> = {
  unavailable: 'History unavailable right now.',
  'key-required': API_KEY_REQUIRED_MESSAGE,
  'key-rejected': API_KEY_REJECTED_MESSAGE,
  'key-forbidden': 'Your API key may not read the history.',
};

/** The server's prediction history, newest first; each row opens its details. */
export function HistoryList({ history, selectedId, onSelect }: HistoryListProps) {
  const { entries, verdict, setVerdict, hasMore, loading, failure, loadMore, reload } = history;
  const filterId = useId();
  const listRef = useRef<HTMLOListElement>(null);
  const focusFrom = useRef<number | null>(null);

  // After "Load more", keyboard users continue at the first new entry (the button goes on the last page).
  useEffect(() => {
    const from = focusFrom.current;
    if (from === null || loading) return;
    focusFrom.current = null;
    listRef.current?.querySelectorAll<HTMLButtonElement>('.history__item')[from]?.focus();
  }, [entries, loading]);

  let empty = 'No analyses yet. Results of analysed images appear here.';
  if (loading) empty = 'Loading history…';
  else if (verdict) empty = `No ${verdict} analyses yet.`;

  return (
    <section className="card history" aria-labelledby="history-heading" aria-busy={loading}>
      <div className="card__header">
        <h2 id="history-heading">Recent analyses</h2>
        <span className="history__filter small">
          <label htmlFor={filterId}>Verdict</label>
          <select
            id={filterId}
            value={verdict}
            onChange={(e) => setVerdict(e.target.value as VerdictFilter)}
            data-testid="history-filter"
          >
            {FILTERS.map((f) => (
              <option key={f.value} value={f.value}>
                {f.label}
              </option>
            ))}
          </select>
        </span>
      </div>

      {/* Always rendered, so screen readers announce the message when it appears. (No role="status":
          the page has one announcer for results.) */}
      <div className="history__status" aria-live="polite">
        {failure && (
          <p className="muted small" data-testid="history-error">
            {FAILURE_TEXT[failure]}
            {/* Retrying only helps an outage; a key problem is solved by saving a key, which reloads. */}
            {failure === 'unavailable' && (
              <>
                {' '}
                <button type="button" className="link-button" onClick={reload}>
                  Try again
                </button>
              </>
            )}
          </p>
        )}
      </div>

      {entries.length === 0 && !failure && <p className="muted small">{empty}</p>}
      {entries.length > 0 && (
        <ol className="history__list" ref={listRef}>
          {entries.map((r) => {
            const selected = r.id === selectedId;
            return (
              <li key={r.id}>
                <button
                  type="button"
                  className={`history__item${selected ? ' is-selected' : ''}`}
                  aria-current={selected ? 'true' : undefined}
                  onClick={() => onSelect(r)}
                  data-testid="history-item"
                >
                  <span className="history__name" title={r.filename}>
                    {r.filename || 'Untitled image'}
                  </span>
                  <span className="history__meta">
                    <VerdictTag verdict={r.verdict} />
                    {verdictTone(r.verdict) === 'uncertain' ? (
                      <span className="history__need">{NEEDS_A_LOOK}</span>
                    ) : (
                      <span>{formatPercent(r.confidence)}</span>
                    )}
                    <time dateTime={r.created_at}>{formatWhen(r.created_at)}</time>
                  </span>
                </button>
              </li>
            );
          })}
        </ol>
      )}

      {hasMore && entries.length > 0 && (
        <button
          type="button"
          className="button button--ghost button--small"
          onClick={() => {
            if (loading) return;
            focusFrom.current = entries.length;
            loadMore();
          }}
          data-testid="history-load-more"
        >
          {loading ? 'Loading…' : 'Load more'}
        </button>
      )}
    </section>
  );
}
