import { describe, expect, it, vi } from 'vitest';
import { cleanApiKey, forgetApiKey, loadApiKey, maskApiKey, saveApiKey } from './apiKey';

describe('API key storage', () => {
  it('keeps the key in sessionStorage only', () => {
    expect(loadApiKey()).toBe('');
    saveApiKey('dfk_secret1234');
    expect(loadApiKey()).toBe('dfk_secret1234');
    expect(sessionStorage.length).toBe(1);
    expect(sessionStorage.getItem(sessionStorage.key(0)!)).toBe('dfk_secret1234');
    expect(localStorage.length).toBe(0);
    forgetApiKey();
    expect(loadApiKey()).toBe('');
    expect(sessionStorage.length).toBe(0);
  });

  it('copes with blocked storage', () => {
    const blocked = () => {
      throw new DOMException('blocked', 'SecurityError');
    };
    vi.spyOn(Storage.prototype, 'getItem').mockImplementation(blocked);
    vi.spyOn(Storage.prototype, 'setItem').mockImplementation(blocked);
    vi.spyOn(Storage.prototype, 'removeItem').mockImplementation(blocked);
    expect(() => saveApiKey('k')).not.toThrow();
    expect(loadApiKey()).toBe('');
    expect(() => forgetApiKey()).not.toThrow();
  });
});

describe('cleanApiKey', () => {
  it('trims and accepts printable ASCII', () => {
    expect(cleanApiKey('  dfk_Ab-9_x~+/=  \n')).toBe('dfk_Ab-9_x~+/=');
  });

  it.each(['', '   ', 'two words', 'line\nbreak', 'tab\tkey', 'clé'])('rejects %j', (input) => {
    expect(cleanApiKey(input)).toBeNull();
  });
});

describe('maskApiKey', () => {
  it('shows the last four characters of long keys only', () => {
    expect(maskApiKey('dfk_abcdefgh1234')).toBe('••••1234');
    expect(maskApiKey('short')).toBe('••••');
  });
});
