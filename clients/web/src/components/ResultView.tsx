import { useId } from 'react';
import type { PredictResponse } from '../api';
import { formatMs, formatPercent, formatProbability, verdictTone, type Verdict } from '../format';
import { ConfidenceBar } from './ConfidenceBar';
import { CheckIcon, WarningIcon, InfoIcon } from './icons';

interface ResultViewProps {
  result: PredictResponse;
  /** False for history entries restored after a reload: their image and heatmap are gone. */
  imageAvailable: boolean;
}

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

export function ResultView({ result, imageAvailable }: ResultViewProps) {
  const tone = verdictTone(result.prediction);
  const facesHeadingId = useId();
  const t = result.timings;
  const engineLine = [result.engine, result.device && `on ${result.device}`].filter(Boolean).join(' ');

  return (
    <div className="result">
      {/* The verdict is spelled out and has an icon; colour only reinforces it. */}
      <div className={`verdict verdict--${tone}`}>
        <span className="verdict__icon">
          <VerdictIcon tone={tone} />
        </span>
        <div>
          <p className="verdict__label">
            <span className="visually-hidden">Verdict: </span>
            <span data-testid="verdict">{result.prediction}</span>
          </p>
          <p className="verdict__hint">{HINTS[tone]}</p>
        </div>
      </div>

      <ConfidenceBar value={result.confidence} tone={tone} label="Confidence in this verdict" />
      <p className="small muted">
        Deepfake probability {formatProbability(result.fake_probability)} (called a deepfake at{' '}
        {formatProbability(result.threshold)} or above)
      </p>

      <p className="result__explanation" data-testid="explanation">
        {result.explanation}
      </p>

      {!result.face_found && (
        <p className="notice" data-testid="no-face-notice">
          <InfoIcon />
          <span>No face found — the whole image was analysed.</span>
        </p>
      )}

      {!imageAvailable && (
        <p className="notice">
          <InfoIcon />
          <span>Reopened from this session’s history: the image and heatmap are no longer in memory.</span>
        </p>
      )}

      {result.faces.length > 0 && (
        <div className="faces-block">
          <h3 id={facesHeadingId} className="faces__heading">
            Faces analysed <span className="muted">(numbered as on the image)</span>
          </h3>
          <div className="table-wrap">
            <table className="faces" aria-labelledby={facesHeadingId}>
              <thead>
                <tr>
                  <th scope="col">Face</th>
                  <th scope="col">Verdict</th>
                  <th scope="col">Deepfake probability</th>
                  <th scope="col">Confidence</th>
                </tr>
              </thead>
              <tbody>
                {result.faces.map((face, i) => (
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
      )}

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
