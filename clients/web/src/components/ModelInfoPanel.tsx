import type { ModelInfoResponse } from '../api';
import { formatProbability, hasBand, NEEDS_A_LOOK } from '../format';

interface ModelInfoPanelProps {
  info: ModelInfoResponse | null;
  /** True once loading model info failed (and the service is not ready to retry). */
  failed: boolean;
}

function fixed(v: number, digits: number): string {
  return v > 0 ? v.toFixed(digits) : '–';
}

/** Which model answers and how well it measured, so reviewers can weigh the verdicts. */
export function ModelInfoPanel({ info, failed }: ModelInfoPanelProps) {
  return (
    <section className="about" aria-labelledby="about-heading">
      <h2 id="about-heading" className="about__heading">
        About the model
      </h2>
      {info ? (
        <p className="small">
          Model <strong data-testid="model-name">{info.model_name || 'unknown'}</strong>
          {info.architecture && <> ({info.architecture})</>} · ROC AUC{' '}
          <strong data-testid="model-auc">{fixed(info.metrics.auc, 3)}</strong> · accuracy{' '}
          {info.metrics.accuracy > 0 ? `${(info.metrics.accuracy * 100).toFixed(1)}%` : '–'}
          {info.metrics.dataset && (
            <>
              {' '}
              on {info.metrics.dataset}
              {info.metrics.images > 0 && <> ({info.metrics.images.toLocaleString('en-US')} images)</>}
            </>
          )}
          {info.engine && (
            <>
              {' '}
              · {info.engine}
              {info.device && <> on {info.device}</>}
            </>
          )}
          {info.version && <> · service v{info.version}</>}
        </p>
      ) : (
        <p className="small muted">{failed ? 'Model information is unavailable.' : 'Loading model information…'}</p>
      )}
      {info && hasBand(info.uncertain_band) && (
        <p className="small" data-testid="model-band">
          Uncertain ({NEEDS_A_LOOK}) for deepfake probabilities from {formatProbability(info.uncertain_band.low)} up
          to {formatProbability(info.uncertain_band.high)}
          {info.uncertain_band.target_precision > 0 && (
            <>
              , so that the other verdicts are right at least{' '}
              {formatProbability(info.uncertain_band.target_precision)} of the time
            </>
          )}
          {info.uncertain_band.fitted_on && <> on {info.uncertain_band.fitted_on}</>}
          {info.uncertain_band.abstention_share > 0 && (
            <> ({formatProbability(info.uncertain_band.abstention_share)} of those images were Uncertain)</>
          )}
          .
        </p>
      )}
      <p className="small muted">
        Verdicts are probabilities from a model trained on 2019–2020 video face swaps. Use them to prioritise
        human review, not to decide alone.
      </p>
    </section>
  );
}
