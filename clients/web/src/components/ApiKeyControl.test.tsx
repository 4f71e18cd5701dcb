import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { createRef } from 'react';
import { describe, expect, it, vi } from 'vitest';
import { ApiKeyControl } from './ApiKeyControl';

function setup(apiKey = '') {
  const onSave = vi.fn();
  const onForget = vi.fn();
  const inputRef = createRef<HTMLInputElement>();
  const view = render(<ApiKeyControl apiKey={apiKey} onSave={onSave} onForget={onForget} inputRef={inputRef} />);
  return { onSave, onForget, inputRef, view, input: screen.getByTestId('api-key-input') as HTMLInputElement };
}

describe('ApiKeyControl', () => {
  it('is a labelled password field that saves the trimmed key with Enter and then empties itself', async () => {
    const user = userEvent.setup();
    const { onSave, inputRef, input } = setup();
    expect(screen.getByLabelText('API key')).toBe(input);
    expect(inputRef.current).toBe(input);
    expect(input.type).toBe('password');
    expect(input.name).toBe('');
    expect(screen.getByTestId('api-key-status').textContent).toBe('No key set');
    expect(screen.queryByTestId('api-key-forget')).toBeNull();

    await user.type(input, '  dfk_abcdefgh1234 {Enter}');
    expect(onSave).toHaveBeenCalledWith('dfk_abcdefgh1234');
    expect(input.value).toBe('');
  });

  it('refuses an empty key or one with spaces and says why', async () => {
    const user = userEvent.setup();
    const { onSave, input } = setup();
    await user.click(screen.getByTestId('api-key-save'));
    expect(screen.getByRole('alert').textContent).toBe('Enter an API key first.');

    await user.type(input, 'two words');
    expect(screen.queryByRole('alert')).toBeNull();
    await user.click(screen.getByTestId('api-key-save'));
    expect(screen.getByRole('alert').textContent).toMatch(/no spaces/);
    expect(input.getAttribute('aria-invalid')).toBe('true');
    expect(input.getAttribute('aria-describedby')).toContain(screen.getByRole('alert').id);
    expect(onSave).not.toHaveBeenCalled();
  });

  it('shows a saved key masked, with a Forget button', async () => {
    const user = userEvent.setup();
    const { onForget, input } = setup('dfk_abcdefgh1234');
    const status = screen.getByTestId('api-key-status');
    expect(status.textContent).toBe('Key set ••••1234');
    expect(input.getAttribute('aria-describedby')).toBe(status.id);
    expect(input.value).toBe('');
    expect(document.body.textContent).not.toContain('abcdefgh');

    await user.click(screen.getByTestId('api-key-forget'));
    expect(onForget).toHaveBeenCalledTimes(1);
  });
});
