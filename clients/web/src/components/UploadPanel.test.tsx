import { fireEvent, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { UploadPanel } from './UploadPanel';

const noop = () => undefined;

function renderPanel(overrides: Partial<Parameters<typeof UploadPanel>[0]> = {}) {
  const props = {
    file: null,
    busy: false,
    elapsedMs: 0,
    explain: true,
    onExplainChange: noop,
    onFile: vi.fn(),
    onAnalyze: vi.fn(),
    ...overrides,
  };
  render(<UploadPanel {...props} />);
  return props;
}

describe('UploadPanel', () => {
  it('opens the file picker from a real, keyboard-operable button', async () => {
    const user = userEvent.setup();
    renderPanel();
    const input = screen.getByTestId('file-input') as HTMLInputElement;
    const pickerOpened = vi.spyOn(input, 'click');
    const button = screen.getByRole('button', { name: 'Choose an image' });
    expect(button.getAttribute('aria-describedby')).toBeTruthy();

    await user.tab();
    expect(document.activeElement).toBe(button);
    await user.keyboard('{Enter}');
    expect(pickerOpened).toHaveBeenCalledTimes(1);
    await user.keyboard(' ');
    expect(pickerOpened).toHaveBeenCalledTimes(2);
  });

  it('passes the first dropped file on and counts the others', () => {
    const props = renderPanel();
    const a = new File(['a'], 'a.jpg', { type: 'image/jpeg' });
    const b = new File(['b'], 'b.png', { type: 'image/png' });
    fireEvent.drop(screen.getByTestId('drop-zone'), { dataTransfer: { files: [a, b], types: ['Files'] } });
    expect(props.onFile).toHaveBeenCalledWith(a, 1);
  });

  it('ignores drops and disables the controls while busy', () => {
    const props = renderPanel({ busy: true, elapsedMs: 1530, file: new File(['x'], 'x.jpg') });
    fireEvent.drop(screen.getByTestId('drop-zone'), {
      dataTransfer: { files: [new File(['a'], 'a.jpg')], types: ['Files'] },
    });
    expect(props.onFile).not.toHaveBeenCalled();
    const analyze = screen.getByTestId('analyze-button') as HTMLButtonElement;
    expect(analyze.disabled).toBe(true);
    expect(analyze.textContent).toBe('Analyzing… 1.5 s');
    expect((screen.getByTestId('explain-toggle') as HTMLInputElement).disabled).toBe(true);
    expect((screen.getByRole('button', { name: 'Choose another image' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('labels the heatmap checkbox', () => {
    const onExplainChange = vi.fn();
    renderPanel({ onExplainChange });
    fireEvent.click(screen.getByLabelText(/Show Grad-CAM heatmap/));
    expect(onExplainChange).toHaveBeenCalledWith(false);
  });
});
