import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';

// jsdom has no object URLs; previews only need a unique string.
let urlCounter = 0;
if (!('createObjectURL' in URL)) {
  Object.assign(URL, {
    createObjectURL: () => `blob:test/${++urlCounter}`,
    revokeObjectURL: () => undefined,
  });
}

afterEach(() => {
  cleanup();
  // The saved API key lives in sessionStorage, which jsdom keeps for the whole test file.
  sessionStorage.clear();
  localStorage.clear();
});
