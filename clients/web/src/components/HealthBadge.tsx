import type { HealthResponse } from '../api';

export type HealthState = 'checking' | 'ready' | 'starting' | 'unavailable';

/** GET /health answers 200 with status "healthy" | "starting" | "stopping" (see HealthResponse). */
export function healthStateFrom(h: HealthResponse): HealthState {
  const status = h.status.toLowerCase();
  if (status === 'healthy' && h.model_loaded) return 'ready';
  if (status === 'stopping') return 'unavailable';
  return 'starting';
}

const TEXT: Record<HealthState, string> = {
  checking: 'Checking…',
  ready: 'Model ready',
  starting: 'Starting',
  unavailable: 'Unavailable',
};

const DESCRIPTION: Record<HealthState, string> = {
  checking: 'Checking whether the detection service is up.',
  ready: 'The detection service is up and the model is loaded.',
  starting: 'The detection service is loading its model; analyses will work shortly.',
  unavailable: 'The detection service cannot be reached right now.',
};

export function HealthBadge({ state }: { state: HealthState }) {
  return (
    <p className={`health health--${state}`} title={DESCRIPTION[state]}>
      <span className="health__dot" aria-hidden="true" />
      <span className="visually-hidden">Service status: </span>
      <span data-testid="health-status">{TEXT[state]}</span>
    </p>
  );
}
