import { useId } from 'react';
import type { Face, PredictResponse } from '../api';
import { formatMs, formatPercent, formatProbability, verdictTone, type Verdict } from '../format';
import { ConfidenceBar } from './ConfidenceBar';
import { CheckIcon, WarningIcon, InfoIcon } from './icons';

const HINTS: Record<Verdict, string> = {
  fake: 'Signs of manipulation found. Route this image for human review.',
  real: 'No signs of manipulation found in the analysed image.',
  unknown: 'The service returned an unrecognised verdict.',
};

function VerdictIcon({ tone }: { tone: Verdict }) {
  if (tone === 'fake') return <WarningIcon />;
  if (tone === 'real') return <CheckIcon />;
  return <InfoIcon />;
}

/** The verdict spelled out, with an icon; colour only reinforces it. */
export function VerdictBanner({ prediction }: { prediction: string }) {
  const tone = verdictTone(prediction);
  return (
    <div className={`verdict verdict--${tone}`}>
      <span className="verdict__icon">
        <VerdictIcon tone={tone} />
      </span>
      <div>
        <p className="verdict__label">
          <span className="visually-hidden">Verdict: </span>
          <span data-testid="verdict">{prediction}</span>
        </p>
        <p className="verdict__hint">{HINTS[tone]}</p>
      </div>
    </div>
  );
}

export function NoFaceNotice() {
  return (
    <p className="notice" data-testid="no-face-notice">
      <InfoIcon />
      <span>No face found — the whole image was analysed.</span>
    </p>
  );
}

/** One row per face, numbered as the boxes on the image. */
export function FacesTable({ faces }: { faces: readonly Face[] }) {
  const headingId = useId();
  return (
    <div className="faces-block">
      <h3 id={headingId} className="faces__heading">
        Faces analysed <span className="muted">(numbered as on the image)</span>
      </h3>
      <div className="table-wrap">
        <table className="faces" aria-labelledby={headingId}>
          <thead>
            <tr>
              <th scope="col">Face</th>
              <th scope="col">Verdict</th>
              <th scope="col">Deepfake probability</th>
              <th scope="col">Confidence</th>
            </tr>
          </thead>
          <tbody>
            {faces.map((face, i) => (
              <tr key={i}>
                <td>{i + 1}</td>
                <td>
                  <span className={`tag tag--${verdictTone(face.label)}`}>{face.label}</span>
                </td>
                <td>{formatProbability(face.fake_probability)}</td>
                <td>{formatPercent(face.confidence)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

/** An analysis made in this tab, from the full answer (explanation, stage timings). */
export function ResultView({ result }: { result: PredictResponse }) {
  const tone = verdictTone(result.prediction);
  const t = result.timings;
  const engineLine = [result.engine, result.device && `on ${result.device}`].filter(Boolean).join(' ');

  return (
    <div className="result">
      <VerdictBanner prediction={result.prediction} />

      <ConfidenceBar value={result.confidence} tone={tone} label="Confidence in this verdict" />
      <p className="small muted">
        Deepfake probability {formatProbability(result.fake_probability)} (called a deepfake at{' '}
        {formatProbability(result.threshold)} or above)
      </p>

      <p className="result__explanation" data-testid="explanation">
        {result.explanation}
      </p>

      {!result.face_found && <NoFaceNotice />}
      {result.faces.length > 0 && <FacesTable faces={result.faces} />}

      <p className="result__meta small">
        Model <strong>{result.model || 'unknown'}</strong>
        {engineLine && <> · {engineLine}</>}
      </p>

      <details className="details">
        <summary>Technical details</summary>
        <dl className="details__grid">
          <dt>Decode</dt>
          <dd>{formatMs(t.decode_ms)}</dd>
          <dt>Face detection</dt>
          <dd>{formatMs(t.faces_ms)}</dd>
          <dt>Inference</dt>
          <dd>{formatMs(t.inference_ms)}</dd>
          <dt>Grad-CAM</dt>
          <dd>{formatMs(t.gradcam_ms)}</dd>
          <dt>Total (server)</dt>
          <dd>{formatMs(t.total_ms)}</dd>
          <dt>Image size</dt>
          <dd>
            {result.image_width} × {result.image_height} px
          </dd>
          <dt>Engine / device</dt>
          <dd>
            {result.engine || '–'} / {result.device || '–'}
          </dd>
          <dt>Request id</dt>
          <dd className="mono">{result.request_id || '–'}</dd>
          <dt>SHA-256</dt>
          <dd className="mono break">{result.image_sha256 || '–'}</dd>
        </dl>
      </details>
    </div>
  );
}
