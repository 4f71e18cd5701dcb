import { useCallback, useEffect, useState } from 'react';
import { getHealth } from './api';
import { healthStateFrom, type HealthState } from './components/HealthBadge';

// Poll fast while the model loads so the badge turns green soon after, slowly once it is up.
const POLL_MS: Record<HealthState, number> = {
  checking: 3_000,
  starting: 3_000,
  ready: 30_000,
  unavailable: 10_000,
};

/** The service's health, checked on load and then polled; `refresh` checks again at once. */
export function useHealth(): { state: HealthState; refresh: () => void } {
  const [state, setState] = useState<HealthState>('checking');
  const [round, setRound] = useState(0);

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let active = true;
    getHealth({ signal: controller.signal })
      .then(healthStateFrom, (): HealthState => 'unavailable')
      .then((next) => {
        if (!active) return;
        setState(next);
        timer = setTimeout(() => setRound((r) => r + 1), POLL_MS[next]);
      });
    return () => {
      active = false;
      controller.abort();
      clearTimeout(timer);
    };
  }, [round]);

  const refresh = useCallback(() => setRound((r) => r + 1), []);
  return { state, refresh };
}
