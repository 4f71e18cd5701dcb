import type { PredictionRecord } from '../api';
import { formatMs, formatProbability, formatWhen } from '../format';
import { formatBytes } from '../validation';
import { InfoIcon } from './icons';
import { FacesTable, NoFaceNotice, VerdictBanner, VerdictConfidence } from './ResultView';

/** A history record without its analysis in memory: the server keeps no image, heatmap or explanation. */
export function RecordView({ record }: { record: PredictionRecord }) {
  const image = [
    record.image_width > 0 && record.image_height > 0 && `${record.image_width} × ${record.image_height} px`,
    record.image_format,
    record.image_bytes > 0 && formatBytes(record.image_bytes),
  ]
    .filter(Boolean)
    .join(' · ');

  return (
    <div className="result">
      <VerdictBanner verdict={record.verdict} />
      <VerdictConfidence verdict={record.verdict} prediction={record.prediction} confidence={record.confidence} />
      <p className="small muted">Deepfake probability {formatProbability(record.fake_probability)}</p>

      <p className="notice" data-testid="image-not-stored">
        <InfoIcon />
        <span>From the prediction history. Images are not stored, so it is shown without the picture.</span>
      </p>

      {record.faces.length > 0 ? <FacesTable faces={record.faces} /> : <NoFaceNotice />}

      <dl className="details__grid small">
        <dt>Time</dt>
        <dd>
          <time dateTime={record.created_at}>{formatWhen(record.created_at)}</time>
        </dd>
        <dt>File</dt>
        <dd className="break">{record.filename || 'Untitled image'}</dd>
        <dt>Image</dt>
        <dd>{image || '–'}</dd>
        <dt>Model</dt>
        <dd>{record.model || 'unknown'}</dd>
        <dt>Engine / device</dt>
        <dd>
          {record.engine || '–'} / {record.device || '–'}
        </dd>
        <dt>Latency (server)</dt>
        <dd>{formatMs(record.latency_ms)}</dd>
      </dl>

      <details className="details">
        <summary>Technical details</summary>
        <dl className="details__grid">
          <dt>Heatmap requested</dt>
          <dd>{record.explained ? 'Yes' : 'No'}</dd>
          <dt>Client</dt>
          <dd>{record.client || '–'}</dd>
          <dt>Record id</dt>
          <dd className="mono break">{record.id}</dd>
          <dt>Request id</dt>
          <dd className="mono">{record.request_id || '–'}</dd>
          <dt>Image SHA-256</dt>
          <dd className="mono break">{record.image_sha256 || '–'}</dd>
          <dt>Weights SHA-256</dt>
          <dd className="mono break">{record.weights_sha256 || '–'}</dd>
        </dl>
      </details>
    </div>
  );
}
