import type { HistoryEntry } from '../history';
import { formatClock, formatPercent, verdictTone } from '../format';

interface HistoryListProps {
  entries: readonly HistoryEntry[];
  selectedId: string | null;
  /** Whether an entry's image and heatmap are still in memory (not after a page reload). */
  isInMemory: (id: string) => boolean;
  onSelect: (id: string) => void;
  onClear: () => void;
}

/** Recent analyses of this browser session, newest first; each row reopens its result. */
export function HistoryList({ entries, selectedId, isInMemory, onSelect, onClear }: HistoryListProps) {
  return (
    <section className="card history" aria-labelledby="history-heading">
      <div className="card__header">
        <h2 id="history-heading">Recent analyses</h2>
        {entries.length > 0 && (
          <button type="button" className="button button--ghost button--small" onClick={onClear}>
            Clear
          </button>
        )}
      </div>
      {entries.length === 0 ? (
        <p className="muted small">Analyses from this browser session appear here.</p>
      ) : (
        <ol className="history__list">
          {entries.map((e) => {
            const tone = verdictTone(e.result.prediction);
            const selected = e.id === selectedId;
            const inMemory = isInMemory(e.id);
            return (
              <li key={e.id}>
                <button
                  type="button"
                  className={`history__item${selected ? ' is-selected' : ''}`}
                  aria-current={selected ? 'true' : undefined}
                  onClick={() => onSelect(e.id)}
                  data-testid="history-item"
                >
                  <span className="history__name" title={e.result.filename}>
                    {e.result.filename || 'Untitled image'}
                  </span>
                  <span className="history__meta">
                    <span className={`tag tag--${tone}`}>{e.result.prediction}</span>
                    <span>{formatPercent(e.result.confidence)}</span>
                    <time dateTime={new Date(e.createdAt).toISOString()}>{formatClock(e.createdAt)}</time>
                    {!inMemory && <span className="muted">(image not kept)</span>}
                  </span>
                </button>
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}
