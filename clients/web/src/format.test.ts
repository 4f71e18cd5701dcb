import { describe, expect, it } from 'vitest';
import { formatMs, formatPercent, formatProbability, verdictTone } from './format';

describe('format', () => {
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

  it('maps labels to tones', () => {
    expect(verdictTone('Real')).toBe('real');
    expect(verdictTone('Deepfake')).toBe('fake');
    expect(verdictTone('???')).toBe('unknown');
  });
});
