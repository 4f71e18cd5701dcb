import { describe, expect, it } from 'vitest';
import { HISTORY_LIMIT, HISTORY_STORAGE_KEY, addToHistory, loadHistory, saveHistory, type HistoryEntry } from './history';
import { makePrediction } from './test/fixtures';

const entry = (id: string, createdAt = 1): HistoryEntry => ({
  id,
  createdAt,
  result: makePrediction({ request_id: id }),
});

describe('history', () => {
  it('keeps the newest entries first, one per id, bounded', () => {
    let list: HistoryEntry[] = [];
    for (let i = 0; i < HISTORY_LIMIT + 5; i++) list = addToHistory(list, entry(`r${i}`));
    expect(list).toHaveLength(HISTORY_LIMIT);
    expect(list[0]!.id).toBe(`r${HISTORY_LIMIT + 4}`);
    list = addToHistory(list, entry('r10', 99));
    expect(list.filter((e) => e.id === 'r10')).toHaveLength(1);
    expect(list[0]!.createdAt).toBe(99);
  });

  it('round-trips through sessionStorage without heatmaps', () => {
    saveHistory([entry('a'), entry('b')]);
    const stored = window.sessionStorage.getItem(HISTORY_STORAGE_KEY)!;
    expect(stored).not.toContain(makePrediction().heatmap_png);
    const loaded = loadHistory();
    expect(loaded.map((e) => e.id)).toEqual(['a', 'b']);
    expect(loaded[0]!.result.heatmap_png).toBe('');
    expect(loaded[0]!.result.faces).toHaveLength(2);
  });

  it('ignores corrupted storage', () => {
    window.sessionStorage.setItem(HISTORY_STORAGE_KEY, '{not json');
    expect(loadHistory()).toEqual([]);
    window.sessionStorage.setItem(HISTORY_STORAGE_KEY, JSON.stringify([{ id: 1 }, entry('ok'), { id: 'x', createdAt: 2, result: null }]));
    expect(loadHistory().map((e) => e.id)).toEqual(['ok']);
  });

  it('drops the oldest entries when the store is full', () => {
    const writes: string[] = [];
    const store = {
      setItem: (_key: string, value: string) => {
        if (value.length > 10_000) throw new DOMException('full', 'QuotaExceededError');
        writes.push(value);
      },
      removeItem: () => undefined,
    } as unknown as Storage;
    const list = Array.from({ length: 20 }, (_, i) => entry(`id${i}`));
    saveHistory(list, store);
    expect(writes).toHaveLength(1);
    const saved = JSON.parse(writes[0]!) as HistoryEntry[];
    expect(saved.length).toBeGreaterThan(0);
    expect(saved.length).toBeLessThan(20);
    expect(saved[0]!.id).toBe('id0');
  });
});
