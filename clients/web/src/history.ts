// Recent analyses of this browser session, kept in sessionStorage so a reload keeps the list.
// Heatmaps (hundreds of KB of base64 each) and images are not stored: sessionStorage holds about 5 MB and
// a full store must never break an analysis. Images and heatmaps live only in memory (see App).

import { normalizePredictResponse, type PredictResponse } from './api';

export const HISTORY_LIMIT = 20;
export const HISTORY_STORAGE_KEY = 'deepfake-ui:history:v1';

export interface HistoryEntry {
  /** The server's request id (unique per analysis); a local id if the server sent none. */
  id: string;
  /** When the answer arrived, epoch milliseconds. */
  createdAt: number;
  result: PredictResponse;
}

function safeStorage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    // Access throws when storage is disabled (some privacy modes); history then lasts one page view.
    return null;
  }
}

export function newEntryId(result: PredictResponse): string {
  if (result.request_id) return result.request_id;
  return `local-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Newest first, one entry per id, at most `limit`. */
export function addToHistory(
  entries: readonly HistoryEntry[],
  entry: HistoryEntry,
  limit = HISTORY_LIMIT,
): HistoryEntry[] {
  return [entry, ...entries.filter((e) => e.id !== entry.id)].slice(0, limit);
}

function stripForStorage(entry: HistoryEntry): HistoryEntry {
  return { ...entry, result: { ...entry.result, heatmap_png: '' } };
}

export function loadHistory(storage: Storage | null = safeStorage()): HistoryEntry[] {
  if (!storage) return [];
  try {
    const raw = storage.getItem(HISTORY_STORAGE_KEY);
    if (!raw) return [];
    const parsed: unknown = JSON.parse(raw);
    if (!Array.isArray(parsed)) return [];
    const entries: HistoryEntry[] = [];
    for (const item of parsed as unknown[]) {
      if (typeof item !== 'object' || item === null) continue;
      const { id, createdAt, result } = item as Record<string, unknown>;
      if (typeof id !== 'string' || typeof createdAt !== 'number') continue;
      try {
        entries.push({ id, createdAt, result: normalizePredictResponse(result) });
      } catch {
        // An entry from an older or corrupted store: skip it rather than lose the rest.
      }
    }
    return entries.slice(0, HISTORY_LIMIT);
  } catch {
    return [];
  }
}

/** Writes the list; on a full store it keeps dropping the oldest entries until it fits. */
export function saveHistory(entries: readonly HistoryEntry[], storage: Storage | null = safeStorage()): void {
  if (!storage) return;
  let toSave = entries.map(stripForStorage);
  for (;;) {
    try {
      if (toSave.length === 0) {
        storage.removeItem(HISTORY_STORAGE_KEY);
      } else {
        storage.setItem(HISTORY_STORAGE_KEY, JSON.stringify(toSave));
      }
      return;
    } catch {
      if (toSave.length === 0) return;
      toSave = toSave.slice(0, Math.floor(toSave.length / 2));
    }
  }
}
