import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ConfidenceBar } from './ConfidenceBar';

describe('ConfidenceBar', () => {
  it('shows the value as text and as the bar width', () => {
    render(<ConfidenceBar value={92.64} tone="real" label="Confidence in this verdict" />);
    expect(screen.getByTestId('confidence-value').textContent).toBe('92.6%');
    const bar = screen.getByRole('meter', { name: 'Confidence in this verdict' });
    expect(bar).toBe(screen.getByTestId('confidence-bar'));
    expect(bar.getAttribute('aria-valuenow')).toBe('92.6');
    expect(bar.getAttribute('aria-valuemin')).toBe('0');
    expect(bar.getAttribute('aria-valuemax')).toBe('100');
    expect(bar.getAttribute('aria-valuetext')).toBe('92.6%');
    const fill = bar.firstElementChild as HTMLElement;
    expect(fill.style.width).toBe('92.64%');
    expect(fill.className).toContain('confidence__fill--real');
  });

  it('clamps out-of-range and missing values', () => {
    const { rerender } = render(<ConfidenceBar value={140} tone="fake" />);
    expect(screen.getByTestId('confidence-value').textContent).toBe('100%');
    expect((screen.getByTestId('confidence-bar').firstElementChild as HTMLElement).style.width).toBe('100%');

    rerender(<ConfidenceBar value={-3} tone="fake" />);
    expect(screen.getByTestId('confidence-value').textContent).toBe('0%');

    rerender(<ConfidenceBar value={Number.NaN} tone="unknown" />);
    expect(screen.getByTestId('confidence-bar').getAttribute('aria-valuenow')).toBe('0');
  });

  it('colours the bar by verdict', () => {
    render(<ConfidenceBar value={60} tone="fake" />);
    expect(screen.getByTestId('confidence-bar').firstElementChild!.className).toContain('confidence__fill--fake');
  });
});
