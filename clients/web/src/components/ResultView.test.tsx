import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { UncertainBand } from '../api';
import { makePrediction, makeRecord, makeUncertainPrediction } from '../test/fixtures';
import { RecordView } from './RecordView';
import { ResultView, VerdictBanner } from './ResultView';

const BAND: UncertainBand = {
  low: 0.3,
  high: 0.7,
  target_precision: 0.95,
  fitted_on: 'calib split',
  abstention_share: 0.2,
  real_precision: 0.96,
  deepfake_precision: 0.95,
};

describe('VerdictBanner', () => {
  it('shows Uncertain in its own tone, words and icon, not as the red alarm', () => {
    const { container } = render(<VerdictBanner verdict="Uncertain" />);
    const banner = container.querySelector('.verdict')!;
    expect(banner.className).toContain('verdict--uncertain');
    expect(banner.className).not.toContain('verdict--fake');
    expect(screen.getByTestId('verdict').textContent).toBe('Uncertain');
    // The words carry the meaning, not the colour alone: the label, its request and the hint.
    expect(banner.querySelector('.verdict__label')!.textContent).toBe('Verdict: Uncertain — needs a human look');
    expect(banner.textContent).toMatch(/cannot tell reliably whether this image is authentic/);
    expect(banner.querySelector('svg')).toBeTruthy();
  });

  it('keeps the Real and Deepfake banners as they were', () => {
    const { container, rerender } = render(<VerdictBanner verdict="Deepfake" />);
    expect(container.querySelector('.verdict')!.className).toContain('verdict--fake');
    expect(container.textContent).not.toMatch(/needs a human look/);
    rerender(<VerdictBanner verdict="Real" />);
    expect(container.querySelector('.verdict')!.className).toContain('verdict--real');
  });
});

describe('ResultView', () => {
  it('shows an Uncertain answer: banner, leaning bar, face tags and the band in the probability note', () => {
    render(<ResultView result={makeUncertainPrediction()} band={BAND} />);
    expect(screen.getByTestId('verdict').textContent).toBe('Uncertain');
    expect(screen.getByText('Leans Deepfake, too close to call')).toBeTruthy();
    expect(screen.getByTestId('confidence-bar').querySelector('.confidence__fill--uncertain')).toBeTruthy();
    expect(screen.getByTestId('probability-note').textContent).toBe(
      'Deepfake probability 62% (Real below 30%, Deepfake at 70% or above, Uncertain in between)',
    );
    const rows = within(screen.getByRole('table')).getAllByRole('row').slice(1);
    expect(rows[0]!.textContent).toMatch(/^1Uncertainneeds a human look62%62%leans Deepfake$/);
    expect(within(rows[0]!).getByTestId('verdict-tag').className).toContain('tag--uncertain');
    expect(within(rows[1]!).getByTestId('verdict-tag').className).toContain('tag--real');
    expect(rows[1]!.textContent).not.toMatch(/needs a human look/);
  });

  it('without a band says the threshold, as before', () => {
    render(<ResultView result={makePrediction()} band={{ ...BAND, low: 0.5, high: 0.5 }} />);
    expect(screen.getByTestId('verdict').textContent).toBe('Deepfake');
    expect(screen.getByText('Confidence in this verdict')).toBeTruthy();
    expect(screen.getByTestId('probability-note').textContent).toBe(
      'Deepfake probability 87% (called a deepfake at 50% or above)',
    );
  });

  it('shows an Uncertain history record the same way', () => {
    const record = makeRecord({ verdict: 'Uncertain', prediction: 'Real', confidence: 58 });
    render(<RecordView record={{ ...record, faces: record.faces.map((f) => ({ ...f, verdict: 'Uncertain' })) }} />);
    expect(screen.getByTestId('verdict').textContent).toBe('Uncertain');
    expect(screen.getByText('Leans Real, too close to call')).toBeTruthy();
    expect(screen.getByRole('table').textContent).toMatch(/Uncertain\s*needs a human look/);
  });
});
