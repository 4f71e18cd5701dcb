// Typed client for the REST surface that Envoy transcodes to gRPC (proto/deepfake/v1/detector.proto).
// JSON field names are the proto field names (snake_case). Every failure is turned into an ApiError whose
// `message` can be shown to the user as it is.

export interface Box {
  x_min: number;
  y_min: number;
  x_max: number;
  y_max: number;
}

export interface Face {
  box: Box;
  detection_confidence: number;
  fake_probability: number;
  /** "Real" or "Deepfake": the threshold alone. */
  label: string;
  confidence: number;
  /**
   * "Real", "Deepfake" or "Uncertain". "Uncertain": the deepfake probability lies inside the model's
   * uncertain band, where the model cannot decide reliably, so the face needs a human look.
   */
  verdict: string;
}

export interface StageTimings {
  decode_ms: number;
  faces_ms: number;
  inference_ms: number;
  gradcam_ms: number;
  total_ms: number;
}

export interface PredictResponse {
  /** "Real", "Deepfake" or "Uncertain": Deepfake when any face is, else Uncertain when any face is, else Real. */
  verdict: string;
  /** "Real" or "Deepfake" (two-valued, for compatibility). */
  prediction: string;
  confidence: number;
  explanation: string;
  filename: string;
  model: string;
  device: string;
  grad_cam_available: boolean;
  fake_probability: number;
  faces: Face[];
  face_found: boolean;
  /** Base64 PNG (standard alphabet); "" when no heatmap was requested. */
  heatmap_png: string;
  request_id: string;
  image_sha256: string;
  timings: StageTimings;
  image_width: number;
  image_height: number;
  engine: string;
  threshold: number;
  /** Id of this analysis in the server's prediction history ("" if the service sent none). */
  prediction_id: string;
}

/** One entry of the server's prediction history (no image bytes are stored). */
export interface PredictionRecord {
  id: string;
  /** RFC 3339 UTC. */
  created_at: string;
  request_id: string;
  filename: string;
  image_sha256: string;
  image_bytes: number;
  image_width: number;
  image_height: number;
  image_format: string;
  prediction: string;
  /** "Real", "Deepfake" or "Uncertain", as in PredictResponse. */
  verdict: string;
  fake_probability: number;
  confidence: number;
  faces: Face[];
  model: string;
  weights_sha256: string;
  engine: string;
  device: string;
  latency_ms: number;
  client: string;
  explained: boolean;
}

export interface ListPredictionsResponse {
  predictions: PredictionRecord[];
  /** "" on the last page. */
  next_page_token: string;
}

export interface ListPredictionsQuery {
  /** "Real", "Deepfake" or "Uncertain"; empty for all. */
  verdict?: string;
  pageSize?: number;
  pageToken?: string;
  /** RFC 3339 bounds: at or after `startTime`, before `endTime`. */
  startTime?: string;
  endTime?: string;
}

export interface HealthResponse {
  status: string;
  app: string;
  version: string;
  model_loaded: boolean;
}

export interface ModelMetrics {
  dataset: string;
  images: number;
  auc: number;
  accuracy: number;
  precision: number;
  recall: number;
  log_loss: number;
  expected_calibration_error: number;
}

/** Probabilities in [low, high) get the verdict Uncertain; low == high means the model has no band. */
export interface UncertainBand {
  low: number;
  high: number;
  target_precision: number;
  fitted_on: string;
  abstention_share: number;
  real_precision: number;
  deepfake_precision: number;
}

export interface ModelInfoResponse {
  model_name: string;
  device: string;
  model_path: string;
  total_parameters: number;
  trainable_parameters: number;
  architecture: string;
  engine: string;
  input_size: number;
  labels: string[];
  threshold: number;
  calibration: string;
  face_detector: string;
  weights_sha256: string;
  init: string;
  metrics: ModelMetrics;
  version: string;
  uncertain_band: UncertainBand;
}

export type ApiErrorKind = 'http' | 'network' | 'timeout' | 'aborted' | 'invalid-response';

export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  /** HTTP status; 0 when no response arrived. */
  readonly status: number;
  /** gRPC status code from the error body, when the transcoder sent one. */
  readonly code: number | undefined;
  readonly requestId: string | undefined;

  constructor(
    message: string,
    opts: { kind: ApiErrorKind; status?: number; code?: number; requestId?: string },
  ) {
    super(message);
    this.name = 'ApiError';
    this.kind = opts.kind;
    this.status = opts.status ?? 0;
    this.code = opts.code;
    this.requestId = opts.requestId;
  }
}

export const DEFAULT_TIMEOUT_MS = 60_000;

export const NETWORK_ERROR_MESSAGE =
  'Could not reach the detection service. Check your connection and try again.';

/** Shown when the server's error body has no usable `message` (e.g. an Envoy plain-text page). */
export function messageForStatus(status: number): string {
  switch (status) {
    case 400:
      return 'The image could not be processed. Check that it is a valid JPG or PNG file.';
    case 401:
      return 'This server requires a valid API key.';
    case 403:
      return 'This API key may not do that. Ask for a key with the right permission.';
    case 404:
      return 'The detection service was not found at this address.';
    case 413:
      return 'The image is too large. The limit is 10 MB.';
    case 429:
      return 'Too many requests right now. Wait a moment and try again.';
    case 502:
    case 504:
      return 'The detection service did not respond. Try again in a moment.';
    case 503:
      return 'The detection service is starting or temporarily unavailable. Try again in a moment.';
    default:
      if (status >= 500) return 'The detection service hit an error. Try again later.';
      return `The request failed (HTTP ${status}).`;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function errorFromResponse(res: Response): Promise<ApiError> {
  const requestId = res.headers.get('x-request-id') ?? undefined;
  let message = '';
  let code: number | undefined;
  try {
    // Envoy answers with plain text for its own errors (e.g. "upstream connect error"); only a JSON body
    // with a `message` comes from the service and is written for users.
    const body: unknown = JSON.parse(await res.text());
    if (isRecord(body)) {
      if (typeof body.message === 'string') message = body.message.trim();
      if (typeof body.code === 'number') code = body.code;
    }
  } catch {
    // Not JSON: fall back to the generic text for the status.
  }
  return new ApiError(message || messageForStatus(res.status), {
    kind: 'http',
    status: res.status,
    code,
    requestId,
  });
}

function num(value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function normalizeBox(raw: unknown): Box {
  const b = isRecord(raw) ? raw : {};
  return { x_min: num(b.x_min), y_min: num(b.y_min), x_max: num(b.x_max), y_max: num(b.y_max) };
}

function normalizeFace(raw: unknown): Face {
  const f = isRecord(raw) ? raw : {};
  return {
    box: normalizeBox(f.box),
    detection_confidence: num(f.detection_confidence),
    fake_probability: num(f.fake_probability),
    label: str(f.label),
    confidence: num(f.confidence),
    // A server from before verdicts sends none: without an uncertain band the verdict is the label.
    verdict: str(f.verdict) || str(f.label),
  };
}

/**
 * Checks the shape of a Predict answer and fills absent fields with proto3 defaults. The transcoder is
 * configured to print every field, but a UI should not crash on a proxy that drops defaults.
 */
export function normalizePredictResponse(raw: unknown): PredictResponse {
  if (!isRecord(raw) || typeof raw.prediction !== 'string' || raw.prediction === '') {
    throw new ApiError('The detection service sent an unexpected answer. Try again.', {
      kind: 'invalid-response',
      status: 200,
    });
  }
  const t = isRecord(raw.timings) ? raw.timings : {};
  return {
    verdict: str(raw.verdict) || raw.prediction,
    prediction: raw.prediction,
    confidence: num(raw.confidence),
    explanation: str(raw.explanation),
    filename: str(raw.filename),
    model: str(raw.model),
    device: str(raw.device),
    grad_cam_available: raw.grad_cam_available === true,
    fake_probability: num(raw.fake_probability),
    faces: Array.isArray(raw.faces) ? raw.faces.map(normalizeFace) : [],
    face_found: raw.face_found === true,
    heatmap_png: str(raw.heatmap_png),
    request_id: str(raw.request_id),
    image_sha256: str(raw.image_sha256),
    timings: {
      decode_ms: num(t.decode_ms),
      faces_ms: num(t.faces_ms),
      inference_ms: num(t.inference_ms),
      gradcam_ms: num(t.gradcam_ms),
      total_ms: num(t.total_ms),
    },
    image_width: num(raw.image_width),
    image_height: num(raw.image_height),
    engine: str(raw.engine),
    threshold: num(raw.threshold),
    prediction_id: str(raw.prediction_id),
  };
}

const UNEXPECTED_HISTORY = 'The prediction history sent an unexpected answer.';

/** Like normalizePredictResponse: an id and a verdict are required, everything else has a default. */
export function normalizePredictionRecord(raw: unknown): PredictionRecord {
  if (!isRecord(raw) || !str(raw.id) || !str(raw.prediction)) {
    throw new ApiError(UNEXPECTED_HISTORY, { kind: 'invalid-response', status: 200 });
  }
  return {
    id: str(raw.id),
    created_at: str(raw.created_at),
    request_id: str(raw.request_id),
    filename: str(raw.filename),
    image_sha256: str(raw.image_sha256),
    image_bytes: num(raw.image_bytes),
    image_width: num(raw.image_width),
    image_height: num(raw.image_height),
    image_format: str(raw.image_format),
    prediction: str(raw.prediction),
    verdict: str(raw.verdict) || str(raw.prediction),
    fake_probability: num(raw.fake_probability),
    confidence: num(raw.confidence),
    faces: Array.isArray(raw.faces) ? raw.faces.map(normalizeFace) : [],
    model: str(raw.model),
    weights_sha256: str(raw.weights_sha256),
    engine: str(raw.engine),
    device: str(raw.device),
    latency_ms: num(raw.latency_ms),
    client: str(raw.client),
    explained: raw.explained === true,
  };
}

/** `data:` URL for the heatmap; accepts the URL-safe alphabet too, in case a proxy re-encodes bytes. */
export function heatmapDataUrl(base64Png: string): string {
  if (!base64Png) return '';
  return `data:image/png;base64,${base64Png.replace(/-/g, '+').replace(/_/g, '/')}`;
}

interface RequestOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Options of the routes that need an API key when the server has keys configured. */
export interface AuthOptions extends RequestOptions {
  /** Sent as `authorization: Bearer <key>`; "" or absent sends no header (servers without keys). */
  apiKey?: string;
}

/**
 * fetch + JSON with the error mapping above; a timeout and the caller's signal both abort it. The key is a
 * separate argument, not part of `opts`, so the open routes (/health, /model-info) cannot send it by accident.
 */
async function requestJson(
  url: string,
  init: RequestInit,
  opts: RequestOptions = {},
  apiKey = '',
): Promise<unknown> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onCallerAbort = () => controller.abort();
  if (opts.signal?.aborted) controller.abort();
  opts.signal?.addEventListener('abort', onCallerAbort);

  try {
    let res: Response;
    try {
      res = await fetch(url, {
        ...init,
        headers: apiKey
          ? { Accept: 'application/json', Authorization: `Bearer ${apiKey}` }
          : { Accept: 'application/json' },
        signal: controller.signal,
      });
    } catch {
      if (timedOut) {
        throw new ApiError(
          `The detection service did not answer within ${Math.round(timeoutMs / 1000)} s. Try again.`,
          { kind: 'timeout' },
        );
      }
      if (controller.signal.aborted) throw new ApiError('The request was cancelled.', { kind: 'aborted' });
      throw new ApiError(NETWORK_ERROR_MESSAGE, { kind: 'network' });
    }
    if (!res.ok) throw await errorFromResponse(res);
    try {
      return JSON.parse(await res.text()) as unknown;
    } catch {
      throw new ApiError('The detection service sent an unexpected answer. Try again.', {
        kind: 'invalid-response',
        status: res.status,
      });
    }
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onCallerAbort);
  }
}

export interface PredictOptions extends AuthOptions {
  /** Ask for the Grad-CAM heatmap (one extra backward pass per face). */
  explain: boolean;
}

/** POST /predict with multipart/form-data (`file` part), the original app's route. */
export async function predict(file: File, opts: PredictOptions): Promise<PredictResponse> {
  const form = new FormData();
  form.append('file', file, file.name);
  // The browser sets the multipart Content-Type with its boundary; setting it here would break that.
  const raw = await requestJson(
    `/predict?explain=${opts.explain ? 'true' : 'false'}`,
    { method: 'POST', body: form },
    opts,
    opts.apiKey,
  );
  return normalizePredictResponse(raw);
}

export async function getHealth(opts: RequestOptions = {}): Promise<HealthResponse> {
  const raw = await requestJson('/health', { method: 'GET' }, { timeoutMs: 10_000, ...opts });
  const h = isRecord(raw) ? raw : {};
  return { status: str(h.status), app: str(h.app), version: str(h.version), model_loaded: h.model_loaded === true };
}

export async function getModelInfo(opts: RequestOptions = {}): Promise<ModelInfoResponse> {
  const raw = await requestJson('/model-info', { method: 'GET' }, { timeoutMs: 10_000, ...opts });
  const m = isRecord(raw) ? raw : {};
  const metrics = isRecord(m.metrics) ? m.metrics : {};
  const band = isRecord(m.uncertain_band) ? m.uncertain_band : {};
  return {
    model_name: str(m.model_name),
    device: str(m.device),
    model_path: str(m.model_path),
    total_parameters: num(m.total_parameters),
    trainable_parameters: num(m.trainable_parameters),
    architecture: str(m.architecture),
    engine: str(m.engine),
    input_size: num(m.input_size),
    labels: Array.isArray(m.labels) ? m.labels.filter((l): l is string => typeof l === 'string') : [],
    threshold: num(m.threshold),
    calibration: str(m.calibration),
    face_detector: str(m.face_detector),
    weights_sha256: str(m.weights_sha256),
    init: str(m.init),
    metrics: {
      dataset: str(metrics.dataset),
      images: num(metrics.images),
      auc: num(metrics.auc),
      accuracy: num(metrics.accuracy),
      precision: num(metrics.precision),
      recall: num(metrics.recall),
      log_loss: num(metrics.log_loss),
      expected_calibration_error: num(metrics.expected_calibration_error),
    },
    version: str(m.version),
    uncertain_band: {
      low: num(band.low),
      high: num(band.high),
      target_precision: num(band.target_precision),
      fitted_on: str(band.fitted_on),
      abstention_share: num(band.abstention_share),
      real_precision: num(band.real_precision),
      deepfake_precision: num(band.deepfake_precision),
    },
  };
}

/** `/v1/predictions` with the query parameters that are set (empty ones are left out). */
export function predictionsUrl(query: ListPredictionsQuery = {}): string {
  const params = new URLSearchParams();
  const entries: [string, string | number | undefined][] = [
    ['verdict', query.verdict],
    ['page_size', query.pageSize],
    ['page_token', query.pageToken],
    ['start_time', query.startTime],
    ['end_time', query.endTime],
  ];
  for (const [key, value] of entries) if (value) params.set(key, String(value));
  const qs = params.toString();
  return qs ? `/v1/predictions?${qs}` : '/v1/predictions';
}

/** GET /v1/predictions: one page of the history, newest first. */
export async function listPredictions(
  query: ListPredictionsQuery = {},
  opts: AuthOptions = {},
): Promise<ListPredictionsResponse> {
  const url = predictionsUrl(query);
  const raw = await requestJson(url, { method: 'GET' }, { timeoutMs: 10_000, ...opts }, opts.apiKey);
  if (!isRecord(raw) || (raw.predictions !== undefined && !Array.isArray(raw.predictions))) {
    throw new ApiError(UNEXPECTED_HISTORY, { kind: 'invalid-response', status: 200 });
  }
  return {
    predictions: Array.isArray(raw.predictions) ? raw.predictions.map(normalizePredictionRecord) : [],
    next_page_token: str(raw.next_page_token),
  };
}

/** A message for anything thrown by the functions above (or by code around them). */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    // 5xx answers carry only a generic text; the request id lets support find the server log line.
    if (err.status >= 500 && err.requestId && !err.message.includes(err.requestId)) {
      return `${err.message} (reference ${err.requestId})`;
    }
    return err.message;
  }
  return 'Something went wrong. Try again.';
}
