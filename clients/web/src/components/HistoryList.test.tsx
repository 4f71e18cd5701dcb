import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { makeRecord } from '../test/fixtures';
import type { PredictionHistory } from '../usePredictionHistory';
import { HistoryList } from './HistoryList';

const RECORDS = [
  makeRecord({ id: 'a', filename: 'a.jpg', prediction: 'Deepfake', confidence: 87.4 }),
  makeRecord({ id: 'b', filename: 'b.png', prediction: 'Real', confidence: 93 }),
];

function fakeHistory(overrides: Partial<PredictionHistory> = {}): PredictionHistory {
  return {
    entries: RECORDS,
    verdict: '',
    setVerdict: vi.fn(),
    hasMore: false,
    loading: false,
    failure: null,
    loadMore: vi.fn(),
    reload: vi.fn(),
    addAnalysis: vi.fn(),
    ...overrides,
  };
}

describe('HistoryList', () => {
  it('lists the records, marks the selected one and opens one on click', async () => {
    const user = userEvent.setup();
    const onSelect = vi.fn();
    render(<HistoryList history={fakeHistory()} selectedId="b" onSelect={onSelect} />);

    const items = screen.getAllByTestId('history-item');
    expect(items).toHaveLength(2);
    expect(items[0]!.textContent).toMatch(/a\.jpg.*Deepfake.*87\.4%/);
    expect(within(items[0]!).getByText(/./, { selector: 'time' }).getAttribute('dateTime')).toBe(
      '2026-11-26T08:01:02.123456Z',
    );
    expect(items[0]!.getAttribute('aria-current')).toBeNull();
    expect(items[1]!.getAttribute('aria-current')).toBe('true');

    await user.click(items[0]!);
    expect(onSelect).toHaveBeenCalledWith(RECORDS[0]);
    expect(screen.queryByTestId('history-load-more')).toBeNull();
    expect(screen.queryByTestId('history-error')).toBeNull();
  });

  it('shows an Uncertain record in its own tone and words, without a confidence figure', () => {
    const unsure = makeRecord({ id: 'u', filename: 'u.jpg', verdict: 'Uncertain', prediction: 'Real', confidence: 58 });
    const history = fakeHistory({ entries: [unsure, ...RECORDS] });
    render(<HistoryList history={history} selectedId={null} onSelect={vi.fn()} />);
    const item = screen.getAllByTestId('history-item')[0]!;
    expect(item.textContent).toMatch(/^u\.jpgUncertainneeds a human look/);
    expect(item.textContent).not.toMatch(/58%/);
    const tag = within(item).getByTestId('verdict-tag');
    expect(tag.className).toContain('tag--uncertain');
    expect(tag.getAttribute('title')).toBe('Uncertain — needs a human look');
    const second = screen.getAllByTestId('history-item')[1]!;
    expect(within(second).getByTestId('verdict-tag').className).toContain('tag--fake');
  });

  it('filters by verdict', async () => {
    const user = userEvent.setup();
    const history = fakeHistory({ verdict: 'Real', entries: [] });
    render(<HistoryList history={history} selectedId={null} onSelect={vi.fn()} />);
    const filter = screen.getByLabelText('Verdict') as HTMLSelectElement;
    expect(filter).toBe(screen.getByTestId('history-filter'));
    expect(filter.value).toBe('Real');
    expect(screen.getByText('No Real analyses yet.')).toBeTruthy();

    await user.selectOptions(filter, 'Deepfake');
    expect(history.setVerdict).toHaveBeenCalledWith('Deepfake');
    expect([...filter.options].map((o) => o.value)).toEqual(['', 'Real', 'Deepfake', 'Uncertain']);
    await user.selectOptions(filter, 'Uncertain');
    expect(history.setVerdict).toHaveBeenCalledWith('Uncertain');
  });

  it('loads more and moves focus to the first new entry', async () => {
    const user = userEvent.setup();
    const history = fakeHistory({ hasMore: true });
    const { rerender } = render(<HistoryList history={history} selectedId={null} onSelect={vi.fn()} />);

    await user.click(screen.getByTestId('history-load-more'));
    expect(history.loadMore).toHaveBeenCalledTimes(1);

    rerender(<HistoryList history={{ ...history, loading: true }} selectedId={null} onSelect={vi.fn()} />);
    expect(screen.getByTestId('history-load-more').textContent).toBe('Loading…');

    const more = [...RECORDS, makeRecord({ id: 'c', filename: 'c.jpg' })];
    rerender(
      <HistoryList history={{ ...history, entries: more, hasMore: false }} selectedId={null} onSelect={vi.fn()} />,
    );
    expect(screen.getAllByTestId('history-item')).toHaveLength(3);
    expect(screen.queryByTestId('history-load-more')).toBeNull();
    expect(document.activeElement).toBe(screen.getAllByTestId('history-item')[2]);
  });

  it('shows a quiet message in a live region when the history is unavailable', async () => {
    const user = userEvent.setup();
    const history = fakeHistory({ failure: 'unavailable', entries: [] });
    render(<HistoryList history={history} selectedId={null} onSelect={vi.fn()} />);

    const message = screen.getByTestId('history-error');
    expect(message.textContent).toMatch(/^History unavailable right now\./);
    expect(message.closest('[aria-live="polite"]')).toBeTruthy();
    expect(screen.queryByRole('alert')).toBeNull();
    expect(screen.queryByText(/No analyses yet/)).toBeNull();

    await user.click(screen.getByRole('button', { name: 'Try again' }));
    expect(history.reload).toHaveBeenCalledTimes(1);
  });

  it.each([
    ['key-required', 'This server requires an API key. Enter one above.'],
    ['key-rejected', 'The server did not accept this API key. Enter a valid one above.'],
    ['key-forbidden', 'Your API key may not read the history.'],
  ] as const)('explains a %s failure quietly, without "Try again"', (failure, text) => {
    render(<HistoryList history={fakeHistory({ failure, entries: [] })} selectedId={null} onSelect={vi.fn()} />);
    const message = screen.getByTestId('history-error');
    expect(message.textContent).toBe(text);
    expect(message.closest('[aria-live="polite"]')).toBeTruthy();
    expect(screen.queryByRole('alert')).toBeNull();
    expect(screen.queryByRole('button', { name: 'Try again' })).toBeNull();
  });

  it('says when the history is loading or empty', () => {
    const { rerender } = render(
      <HistoryList history={fakeHistory({ entries: [], loading: true })} selectedId={null} onSelect={vi.fn()} />,
    );
    expect(screen.getByText('Loading history…')).toBeTruthy();
    rerender(<HistoryList history={fakeHistory({ entries: [] })} selectedId={null} onSelect={vi.fn()} />);
    expect(screen.getByText(/No analyses yet/)).toBeTruthy();
  });
});
