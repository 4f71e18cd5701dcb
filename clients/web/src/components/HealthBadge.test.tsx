import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { HealthBadge, healthStateFrom } from './HealthBadge';

const health = (status: string, model_loaded: boolean) => ({ status, model_loaded, app: 'x', version: '1' });

describe('HealthBadge', () => {
  it('maps /health answers to states', () => {
    expect(healthStateFrom(health('healthy', true))).toBe('ready');
    expect(healthStateFrom(health('healthy', false))).toBe('starting');
    expect(healthStateFrom(health('starting', false))).toBe('starting');
    expect(healthStateFrom(health('stopping', true))).toBe('unavailable');
  });

  it.each([
    ['ready', 'Model ready'],
    ['starting', 'Starting'],
    ['unavailable', 'Unavailable'],
    ['checking', 'Checking…'],
  ] as const)('shows %s as "%s" in words, not only as a coloured dot', (state, text) => {
    const { container } = render(<HealthBadge state={state} />);
    expect(screen.getByTestId('health-status').textContent).toBe(text);
    expect(container.firstElementChild!.className).toContain(`health--${state}`);
  });
});
