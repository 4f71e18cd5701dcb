import { describe, expect, it } from 'vitest';
import { formatMs, formatPercent, formatProbability, formatWhen, hasBand, verdictText, verdictTone } from './format';

describe('format', () => {
  it('names the three verdicts', () => {
    expect(verdictTone('Uncertain')).toBe('uncertain');
    expect(verdictText('Uncertain')).toBe('Uncertain — needs a human look');
    expect(verdictText('Real')).toBe('Real');
    expect(verdictText('Deepfake')).toBe('Deepfake');
    expect(hasBand({ low: 0.3, high: 0.7 })).toBe(true);
    expect(hasBand({ low: 0.5, high: 0.5 })).toBe(false);
  });

  it('formats percentages', () => {
    expect(formatPercent(92.64)).toBe('92.6%');
    expect(formatPercent(100)).toBe('100%');
    expect(formatPercent(130)).toBe('100%');
    expect(formatPercent(-5)).toBe('0%');
    expect(formatPercent(Number.NaN)).toBe('0%');
  });

  it('never rounds small probabilities to a certain 0% or 100%', () => {
    expect(formatProbability(0.074)).toBe('7%');
    expect(formatProbability(0.004)).toBe('<1%');
    expect(formatProbability(0.996)).toBe('>99%');
    expect(formatProbability(0)).toBe('0%');
  });

  it('formats stage timings', () => {
    expect(formatMs(0)).toBe('–');
    expect(formatMs(7.25)).toBe('7.3 ms');
    expect(formatMs(181)).toBe('181 ms');
    expect(formatMs(1534)).toBe('1.53 s');
  });

  it('formats record times: the time of day for today, with the date before', () => {
    const now = new Date(2026, 10, 26, 18, 0, 0);
    const today = new Date(2026, 10, 26, 8, 1, 2);
    expect(formatWhen(today.toISOString(), now)).toBe(
      today.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' }),
    );
    const earlier = formatWhen(new Date(2025, 0, 5, 8, 1, 2).toISOString(), now);
    expect(earlier).toMatch(/2025/);
    expect(formatWhen('', now)).toBe('–');
    expect(formatWhen('yesterday', now)).toBe('–');
  });

  it('maps labels to tones', () => {
    expect(verdictTone('Real')).toBe('real');
    expect(verdictTone('Deepfake')).toBe('fake');
    expect(verdictTone('???')).toBe('unknown');
  });
});
