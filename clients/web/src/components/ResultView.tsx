import { useId } from 'react';
import type { Face, PredictResponse, UncertainBand } from '../api';
import {
  hasBand,
  formatMs,
  formatPercent,
  formatProbability,
  NEEDS_A_LOOK,
  verdictText,
  verdictTone,
  type Verdict,
} from '../format';
import { ConfidenceBar } from './ConfidenceBar';
import { CheckIcon, WarningIcon, InfoIcon, QuestionIcon } from './icons';

const HINTS: Record<Verdict, string> = {
  fake: 'Signs of manipulation found. Route this image for human review.',
  real: 'No signs of manipulation found in the analysed image.',
  uncertain: 'The model cannot tell reliably whether this image is authentic. Have a person review it.',
  unknown: 'The service returned an unrecognised verdict.',
};

function VerdictIcon({ tone }: { tone: Verdict }) {
  if (tone === 'fake') return <WarningIcon />;
  if (tone === 'real') return <CheckIcon />;
  if (tone === 'uncertain') return <QuestionIcon />;
  return <InfoIcon />;
}

/** The verdict spelled out, with an icon; colour only reinforces it. */
export function VerdictBanner({ verdict }: { verdict: string }) {
  const tone = verdictTone(verdict);
  return (
    <div className={`verdict verdict--${tone}`} data-tone={tone}>
      <span className="verdict__icon">
        <VerdictIcon tone={tone} />
      </span>
      <div>
        <p className="verdict__label">
          <span className="visually-hidden">Verdict: </span>
          <span data-testid="verdict">{verdict}</span>
          {tone === 'uncertain' && <span className="verdict__need"> — {NEEDS_A_LOOK}</span>}
        </p>
        <p className="verdict__hint">{HINTS[tone]}</p>
      </div>
    </div>
  );
}

/** A verdict as a small tag: its words (and, for Uncertain, what it asks) carry the meaning, not its colour. */
export function VerdictTag({ verdict }: { verdict: string }) {
  const tone = verdictTone(verdict);
  return (
    <span className={`tag tag--${tone}`} data-testid="verdict-tag" title={verdictText(verdict)}>
      {tone === 'uncertain' && <QuestionIcon className="tag__icon" />}
      {verdict}
    </span>
  );
}

/**
 * The confidence bar for a verdict. `confidence` is the API's confidence in the two-valued `prediction`,
 * so for an Uncertain verdict the bar says which way the model leans instead of claiming confidence in it.
 */
export function VerdictConfidence({
  verdict,
  prediction,
  confidence,
}: {
  verdict: string;
  prediction: string;
  confidence: number;
}) {
  const tone = verdictTone(verdict);
  const label = tone === 'uncertain' ? `Leans ${prediction}, too close to call` : 'Confidence in this verdict';
  return <ConfidenceBar value={confidence} tone={tone} label={label} />;
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
                  <VerdictTag verdict={face.verdict} />
                  {verdictTone(face.verdict) === 'uncertain' && (
                    <span className="faces__need small">{NEEDS_A_LOOK}</span>
                  )}
                </td>
                <td>{formatProbability(face.fake_probability)}</td>
                <td>
                  {formatPercent(face.confidence)}
                  {/* The confidence is in the two-valued label, so say which one it is for an Uncertain face. */}
                  {verdictTone(face.verdict) === 'uncertain' && (
                    <span className="faces__need small">leans {face.label}</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

/** How the probability maps to a verdict: the threshold, or the uncertain band when the model has one. */
function ProbabilityNote({
  probability,
  threshold,
  band,
}: {
  probability: number;
  threshold: number;
  band?: UncertainBand | null;
}) {
  const p = formatProbability(probability);
  if (band && hasBand(band)) {
    return (
      <p className="small muted" data-testid="probability-note">
        Deepfake probability {p} (Real below {formatProbability(band.low)}, Deepfake at{' '}
        {formatProbability(band.high)} or above, Uncertain in between)
      </p>
    );
  }
  return (
    <p className="small muted" data-testid="probability-note">
      Deepfake probability {p} (called a deepfake at {formatProbability(threshold)} or above)
    </p>
  );
}

/** An analysis made in this tab, from the full answer (explanation, stage timings). */
export function ResultView({ result, band }: { result: PredictResponse; band?: UncertainBand | null }) {
  const t = result.timings;
  const engineLine = [result.engine, result.device && `on ${result.device}`].filter(Boolean).join(' ');

  return (
    <div className="result">
      <VerdictBanner verdict={result.verdict} />

      <VerdictConfidence verdict={result.verdict} prediction={result.prediction} confidence={result.confidence} />
      <ProbabilityNote probability={result.fake_probability} threshold={result.threshold} band={band} />

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
