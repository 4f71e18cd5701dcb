import type { ModelInfoResponse } from '../api';

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
      <p className="small muted">
        Verdicts are probabilities from a model trained on 2019–2020 video face swaps. Use them to prioritise
        human review, not to decide alone.
      </p>
    </section>
  );
}
