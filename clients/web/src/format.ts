// Small display helpers shared by the components, so numbers read the same everywhere.

export type Verdict = 'real' | 'fake' | 'uncertain' | 'unknown';

/** Maps the API's verdict ("Real" / "Deepfake" / "Uncertain") or label to a tone used for colours and icons. */
export function verdictTone(label: string): Verdict {
  const l = label.trim().toLowerCase();
  if (l === 'real') return 'real';
  if (l === 'deepfake' || l === 'fake') return 'fake';
  if (l === 'uncertain') return 'uncertain';
  return 'unknown';
}

/** What an Uncertain verdict asks of the reader, everywhere it is shown. */
export const NEEDS_A_LOOK = 'needs a human look';

/** The verdict in words: "Uncertain — needs a human look", else the verdict itself. */
export function verdictText(verdict: string): string {
  return verdictTone(verdict) === 'uncertain' ? `Uncertain — ${NEEDS_A_LOOK}` : verdict;
}

/** True when the model has an uncertain band (Uncertain verdicts are possible). */
export function hasBand(band: { low: number; high: number }): boolean {
  return band.high > band.low;
}

export function clampPercent(value: number): number {
  if (!Number.isFinite(value)) return 0;
  return Math.min(100, Math.max(0, value));
}

/** 0-100 value → "92.6%" (one decimal, trailing ".0" kept off for whole numbers). */
export function formatPercent(value: number): string {
  const v = Math.round(clampPercent(value) * 10) / 10;
  return `${Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)}%`;
}

/** 0-1 probability → "7%" (whole percent; "<1%" / ">99%" so 0.004 never reads as a certain 0%). */
export function formatProbability(p: number): string {
  if (!Number.isFinite(p)) return '–';
  const pct = p * 100;
  if (pct > 0 && pct < 1) return '<1%';
  if (pct > 99 && pct < 100) return '>99%';
  return `${Math.round(pct)}%`;
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '–';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}

/**
 * An RFC 3339 time for lists and details: the time of day for today, with the date otherwise (the
 * server's history spans days). "–" for an empty or unparsable value.
 */
export function formatWhen(iso: string, now: Date = new Date()): string {
  const t = new Date(iso);
  if (!iso || Number.isNaN(t.getTime())) return '–';
  if (t.toDateString() === now.toDateString()) {
    return t.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }
  return t.toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  });
}
