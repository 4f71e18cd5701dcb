import { act, renderHook, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { jsonResponse, makePrediction, makeRecord } from './test/fixtures';
import { HISTORY_PAGE_SIZE, recordFromAnalysis, usePredictionHistory } from './usePredictionHistory';

/** Answers GET /v1/predictions from `pages`, keyed by the query string; records the URLs asked. */
function serveHistory(pages: (query: URLSearchParams) => Response) {
  const fetchMock = vi.fn(async (input: RequestInfo | URL) => pages(new URL(String(input), 'http://x').searchParams));
  vi.stubGlobal('fetch', fetchMock);
  return fetchMock;
}

const ids = (h: { entries: { id: string }[] }) => h.entries.map((r) => r.id);

describe('usePredictionHistory', () => {
  it('loads the first page, then appends the next one without repeating records', async () => {
    const fetchMock = serveHistory((q) =>
      q.get('page_token') === 't2'
        ? jsonResponse({ predictions: [makeRecord({ id: 'b' }), makeRecord({ id: 'c' })], next_page_token: '' })
        : jsonResponse({ predictions: [makeRecord({ id: 'a' }), makeRecord({ id: 'b' })], next_page_token: 't2' }),
    );
    const { result } = renderHook(() => usePredictionHistory());
    await waitFor(() => expect(result.current.loading).toBe(false));
    expect(ids(result.current)).toEqual(['a', 'b']);
    expect(result.current.hasMore).toBe(true);
    expect(String(fetchMock.mock.calls[0]![0])).toBe(`/v1/predictions?page_size=${HISTORY_PAGE_SIZE}`);

    act(() => result.current.loadMore());
    await waitFor(() => expect(result.current.loading).toBe(false));
    expect(ids(result.current)).toEqual(['a', 'b', 'c']);
    expect(result.current.hasMore).toBe(false);
    expect(String(fetchMock.mock.calls[1]![0])).toContain('page_token=t2');
  });

  it('merges an analysis until the server lists it, respecting the verdict filter', async () => {
    let written = false;
    const fetchMock = serveHistory((q) => {
      const all = [...(written ? [makeRecord({ id: 'new', prediction: 'Deepfake' })] : []), makeRecord({ id: 'old' })];
      const verdict = q.get('verdict');
      const predictions = all.filter((r) => !verdict || r.verdict === verdict);
      return jsonResponse({ predictions, next_page_token: '' });
    });
    const { result } = renderHook(() => usePredictionHistory());
    await waitFor(() => expect(result.current.loading).toBe(false));

    const local = makeRecord({ id: 'new', prediction: 'Deepfake', created_at: '2026-11-26T09:00:00.000Z' });
    act(() => result.current.addAnalysis(local));
    await waitFor(() => expect(fetchMock).toHaveBeenCalledTimes(2));
    await waitFor(() => expect(result.current.loading).toBe(false));
    expect(ids(result.current)).toEqual(['new', 'old']);

    act(() => result.current.setVerdict('Real'));
    await waitFor(() => expect(fetchMock).toHaveBeenCalledTimes(3));
    expect(String(fetchMock.mock.calls[2]![0])).toContain('verdict=Real');
    await waitFor(() => expect(result.current.loading).toBe(false));
    expect(ids(result.current)).toEqual(['old']);

    written = true;
    act(() => result.current.setVerdict(''));
    await waitFor(() => expect(fetchMock).toHaveBeenCalledTimes(4));
    await waitFor(() => expect(result.current.loading).toBe(false));
    expect(ids(result.current)).toEqual(['new', 'old']);
    // The server's record replaced the merged one.
    expect(result.current.entries[0]!.created_at).toBe(makeRecord().created_at);
  });

  it('filters merged analyses by their verdict, Uncertain included', async () => {
    const fetchMock = serveHistory(() => jsonResponse({ predictions: [], next_page_token: '' }));
    const { result } = renderHook(() => usePredictionHistory());
    await waitFor(() => expect(result.current.loading).toBe(false));
    const unsure = makeRecord({ id: 'unsure', verdict: 'Uncertain', prediction: 'Deepfake' });
    act(() => result.current.addAnalysis(unsure));
    await waitFor(() => expect(result.current.loading).toBe(false));
    expect(ids(result.current)).toEqual(['unsure']);

    act(() => result.current.setVerdict('Deepfake'));
    await waitFor(() => expect(String(fetchMock.mock.calls.at(-1)![0])).toContain('verdict=Deepfake'));
    await waitFor(() => expect(result.current.loading).toBe(false));
    expect(ids(result.current)).toEqual([]);

    act(() => result.current.setVerdict('Uncertain'));
    await waitFor(() => expect(String(fetchMock.mock.calls.at(-1)![0])).toContain('verdict=Uncertain'));
    await waitFor(() => expect(result.current.loading).toBe(false));
    expect(ids(result.current)).toEqual(['unsure']);
  });

  it('reports a failed first page and recovers on reload', async () => {
    let up = false;
    serveHistory(() =>
      up
        ? jsonResponse({ predictions: [makeRecord()], next_page_token: '' })
        : jsonResponse({ code: 14, message: 'The prediction history is unavailable.' }, 503),
    );
    const { result } = renderHook(() => usePredictionHistory());
    await waitFor(() => expect(result.current.failure).toBe('unavailable'));
    expect(result.current.entries).toEqual([]);

    up = true;
    act(() => result.current.reload());
    await waitFor(() => expect(result.current.failure).toBeNull());
    expect(ids(result.current)).toEqual(['rec-1']);
  });
});

describe('usePredictionHistory with API keys', () => {
  it('sends the key, reloads when it changes and tells a missing key from a forbidden one', async () => {
    const fetchMock = vi.fn(async (_input: RequestInfo | URL, init?: RequestInit) => {
      const auth = new Headers(init?.headers).get('authorization');
      if (!auth) return jsonResponse({ code: 16, message: 'A valid API key is required.' }, 401);
      if (auth === 'Bearer predict-only') return jsonResponse({ code: 7, message: 'No history.' }, 403);
      return jsonResponse({ predictions: [makeRecord()], next_page_token: '' });
    });
    vi.stubGlobal('fetch', fetchMock);
    const { result, rerender } = renderHook(({ apiKey }) => usePredictionHistory(apiKey), {
      initialProps: { apiKey: '' },
    });
    await waitFor(() => expect(result.current.failure).toBe('key-required'));

    rerender({ apiKey: 'good' });
    await waitFor(() => expect(result.current.failure).toBeNull());
    expect(ids(result.current)).toEqual(['rec-1']);
    expect(new Headers(fetchMock.mock.calls.at(-1)![1]?.headers).get('authorization')).toBe('Bearer good');

    // A key that may not read the history: what the previous key saw is not left on screen.
    rerender({ apiKey: 'predict-only' });
    await waitFor(() => expect(result.current.failure).toBe('key-forbidden'));
    expect(result.current.entries).toEqual([]);
  });

  it('reports a key the server does not accept', async () => {
    serveHistory(() => jsonResponse({ code: 16, message: 'A valid API key is required.' }, 401));
    const { result } = renderHook(() => usePredictionHistory('revoked'));
    await waitFor(() => expect(result.current.failure).toBe('key-rejected'));
  });
});

describe('recordFromAnalysis', () => {
  it('describes the answer as the server will record it', () => {
    const at = new Date('2026-11-26T08:00:00Z');
    const record = recordFromAnalysis(makePrediction(), 'id-1', { size: 2048, type: 'image/jpeg' }, at);
    expect(record).toMatchObject({
      id: 'id-1',
      created_at: '2026-11-26T08:00:00.000Z',
      filename: 'group.jpg',
      image_bytes: 2048,
      image_format: 'JPEG',
      prediction: 'Deepfake',
      verdict: 'Deepfake',
      confidence: 87.4,
      latency_ms: 341.4,
      explained: true,
    });
    expect(record.faces).toHaveLength(2);
  });
});
