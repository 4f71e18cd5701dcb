// The API key the user entered for this tab. sessionStorage only: it survives a reload but is gone when the
// tab closes and is never shared with other tabs or written to disk for long (unlike localStorage).

const STORAGE_KEY = 'deepfake-detector.api-key';

export const API_KEY_REQUIRED_MESSAGE = 'This server requires an API key. Enter one above.';
export const API_KEY_REJECTED_MESSAGE = 'The server did not accept this API key. Enter a valid one above.';
export const API_KEY_INVALID_MESSAGE = 'An API key has no spaces or special characters. Check what you pasted.';

/** The saved key, or "" (also when storage is blocked, e.g. by privacy settings). */
export function loadApiKey(): string {
  try {
    return sessionStorage.getItem(STORAGE_KEY) ?? '';
  } catch {
    return '';
  }
}

/** Best effort: when storage is blocked the key still works in memory until the page reloads. */
export function saveApiKey(key: string): void {
  try {
    sessionStorage.setItem(STORAGE_KEY, key);
  } catch {
    // Nothing to do: see above.
  }
}

export function forgetApiKey(): void {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Blocked storage holds nothing to remove.
  }
}

/**
 * The key as it will be sent, or null when it cannot be: fetch rejects header values with control or
 * non-Latin-1 characters, which would otherwise surface as a misleading network error. Keys are printable
 * ASCII (the server's are "dfk_" + URL-safe base64).
 */
export function cleanApiKey(input: string): string | null {
  const key = input.trim();
  return /^[\x21-\x7e]+$/.test(key) ? key : null;
}

/** "••••1234": the last four characters only for keys long enough that they give little away. */
export function maskApiKey(key: string): string {
  return key.length >= 12 ? `••••${key.slice(-4)}` : '••••';
}
