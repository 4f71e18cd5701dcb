import { describe, expect, it } from 'vitest';
import { ACCEPT_ATTRIBUTE, MAX_FILE_BYTES, fileExtension, formatBytes, validateImageFile } from './validation';

const file = (name: string, type: string, size = 1000) => ({ name, type, size });

describe('validateImageFile', () => {
  it.each([
    ['photo.jpg', 'image/jpeg'],
    ['photo.JPEG', 'image/jpeg'],
    ['scan.png', 'image/png'],
    ['IMG_0001.Jpg', 'image/jpeg'],
    // Some platforms give no MIME type; the extension decides then.
    ['photo.jpg', ''],
  ])('accepts %s (%s)', (name, type) => {
    expect(validateImageFile(file(name, type))).toEqual({ ok: true });
  });

  it.each([
    ['animation.gif', 'image/gif'],
    ['photo.webp', 'image/webp'],
    ['notes.txt', 'text/plain'],
    ['report.pdf', 'application/pdf'],
    ['no-extension', 'image/jpeg'],
    // An allowed extension with a disallowed type is still rejected.
    ['renamed.png', 'image/gif'],
    ['archive.jpg.zip', 'application/zip'],
  ])('rejects %s (%s) as not a JPG or PNG', (name, type) => {
    const result = validateImageFile(file(name, type));
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.message).toContain(name);
      expect(result.message).toMatch(/not a JPG or PNG image/);
    }
  });

  it('accepts exactly 10 MB and rejects one byte more', () => {
    expect(validateImageFile(file('big.jpg', 'image/jpeg', MAX_FILE_BYTES)).ok).toBe(true);
    const result = validateImageFile(file('big.jpg', 'image/jpeg', MAX_FILE_BYTES + 1));
    expect(result).toEqual({
      ok: false,
      message: '“big.jpg” is 10.1 MB; the limit is 10 MB. Choose a smaller image.',
    });
  });

  it('rejects an empty file', () => {
    const result = validateImageFile(file('empty.png', 'image/png', 0));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(/empty/);
  });

  it('checks the type before the size', () => {
    const result = validateImageFile(file('huge.gif', 'image/gif', MAX_FILE_BYTES * 2));
    expect(!result.ok && result.message).toMatch(/not a JPG or PNG/);
  });
});

describe('helpers', () => {
  it('extracts lower-case extensions', () => {
    expect(fileExtension('A.B.PNG')).toBe('.png');
    expect(fileExtension('README')).toBe('');
  });

  it('formats sizes', () => {
    expect(formatBytes(512)).toBe('512 bytes');
    expect(formatBytes(2048)).toBe('2 KB');
    expect(formatBytes(12.34 * 1024 * 1024)).toBe('12.4 MB');
  });

  it('lists extensions and MIME types for the file picker', () => {
    expect(ACCEPT_ATTRIBUTE).toBe('.jpg,.jpeg,.png,image/jpeg,image/png');
  });
});
