// The "Recent analyses" list: pages of the server's prediction history, plus this tab's newest analyses
// until the server lists them (records are written a few hundred ms after the answer).

import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ApiError, listPredictions, type PredictResponse, type PredictionRecord } from './api';

export const HISTORY_PAGE_SIZE = 20;
/** Bounds the merged analyses when the history stays down (they are then never listed). */
const PENDING_LIMIT = 20;

export type VerdictFilter = '' | 'Real' | 'Deepfake' | 'Uncertain';

/**
 * Why the last request failed: `unavailable` (503, network, rate limit…), `key-required` (401 without a
 * key), `key-rejected` (401 with one), `key-forbidden` (403: the key lacks the "history" permission).
 */
export type HistoryFailure = 'unavailable' | 'key-required' | 'key-rejected' | 'key-forbidden';

function failureOf(err: unknown, keySent: boolean): HistoryFailure {
  if (err instanceof ApiError && err.status === 401) return keySent ? 'key-rejected' : 'key-required';
  if (err instanceof ApiError && err.status === 403) return 'key-forbidden';
  return 'unavailable';
}

export interface PredictionHistory {
  /** Newest first: this tab's not-yet-listed analyses, then the server's pages, no id twice. */
  entries: PredictionRecord[];
  verdict: VerdictFilter;
  setVerdict: (verdict: VerdictFilter) => void;
  hasMore: boolean;
  loading: boolean;
  /** The last request failed, and why (null when it did not); `entries` keeps what could be shown. */
  failure: HistoryFailure | null;
  loadMore: () => void;
  reload: () => void;
  /** Shows a just-made analysis at the top and reloads the first page. */
  addAnalysis: (record: PredictionRecord) => void;
}

/** The history record an answer will become, for the list until the server has written it. */
export function recordFromAnalysis(
  result: PredictResponse,
  id: string,
  file: { size: number; type: string },
  createdAt: Date = new Date(),
): PredictionRecord {
  return {
    id,
    created_at: createdAt.toISOString(),
    request_id: result.request_id,
    filename: result.filename,
    image_sha256: result.image_sha256,
    image_bytes: file.size,
    image_width: result.image_width,
    image_height: result.image_height,
    image_format: file.type.replace(/^image\//, '').toUpperCase(),
    prediction: result.prediction,
    verdict: result.verdict,
    fake_probability: result.fake_probability,
    confidence: result.confidence,
    faces: result.faces,
    model: result.model,
    weights_sha256: '',
    engine: result.engine,
    device: result.device,
    latency_ms: result.timings.total_ms,
    client: '',
    explained: result.heatmap_png !== '',
  };
}

/** `apiKey` is sent with every page; a new key reloads the list (what an old key saw is replaced). */
export function usePredictionHistory(apiKey = ''): PredictionHistory {
  const [verdict, setVerdict] = useState<VerdictFilter>('');
  const [records, setRecords] = useState<PredictionRecord[]>([]);
  const [nextToken, setNextToken] = useState('');
  const [loading, setLoading] = useState(true);
  const [failure, setFailure] = useState<HistoryFailure | null>(null);
  const [pending, setPending] = useState<PredictionRecord[]>([]);
  const [round, setRound] = useState(0);
  const controllerRef = useRef<AbortController | null>(null);

  const fetchPage = useCallback(
    (pageToken: string) => {
      // A newer request (reload, other filter) replaces one still running, so pages never mix.
      controllerRef.current?.abort();
      const controller = new AbortController();
      controllerRef.current = controller;
      setLoading(true);
      listPredictions({ verdict, pageSize: HISTORY_PAGE_SIZE, pageToken }, { signal: controller.signal, apiKey })
        .then(
          (page) => {
            const ids = new Set(page.predictions.map((r) => r.id));
            setRecords((prev) => {
              if (!pageToken) return page.predictions;
              // New records shift later pages; skip what an earlier page already showed.
              const shown = new Set(prev.map((r) => r.id));
              return [...prev, ...page.predictions.filter((r) => !shown.has(r.id))];
            });
            setNextToken(page.next_page_token);
            setFailure(null);
            setPending((p) => (p.some((r) => ids.has(r.id)) ? p.filter((r) => !ids.has(r.id)) : p));
          },
          (err: unknown) => {
            if (err instanceof ApiError && err.kind === 'aborted') return;
            setFailure(failureOf(err, apiKey !== ''));
            // Otherwise a failed filter change (or key change) would leave the previous list on screen.
            if (!pageToken) {
              setRecords([]);
              setNextToken('');
            }
          },
        )
        .finally(() => {
          if (controllerRef.current !== controller) return;
          controllerRef.current = null;
          setLoading(false);
        });
    },
    [verdict, apiKey],
  );

  useEffect(() => {
    fetchPage('');
    return () => controllerRef.current?.abort();
  }, [fetchPage, round]);

  const loadMore = useCallback(() => {
    if (nextToken && !loading) fetchPage(nextToken);
  }, [fetchPage, nextToken, loading]);

  const reload = useCallback(() => setRound((r) => r + 1), []);

  const addAnalysis = useCallback((record: PredictionRecord) => {
    setPending((p) => [record, ...p.filter((r) => r.id !== record.id)].slice(0, PENDING_LIMIT));
    setRound((r) => r + 1);
  }, []);

  const entries = useMemo(() => {
    const listed = new Set(records.map((r) => r.id));
    const merged = pending.filter((r) => !listed.has(r.id) && (!verdict || r.verdict === verdict));
    return merged.length ? [...merged, ...records] : records;
  }, [pending, records, verdict]);

  return { entries, verdict, setVerdict, hasMore: nextToken !== '', loading, failure, loadMore, reload, addAnalysis };
}
