import type { PredictResponse, PredictionRecord } from '../api';

// 1x1 transparent PNG: enough for <img> in jsdom.
export const TINY_PNG_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';

/** An answer from a model without an uncertain band: the verdict follows `prediction` unless overridden. */
export function makePrediction(overrides: Partial<PredictResponse> = {}): PredictResponse {
  return {
    verdict: overrides.verdict ?? overrides.prediction ?? 'Deepfake',
    prediction: 'Deepfake',
    confidence: 87.4,
    explanation: '2 faces were analysed; face 1 looks like a deepfake (deepfake probability 87%).',
    filename: 'group.jpg',
    model: 'efficientnet_lite0-dfdc',
    device: 'cpu',
    grad_cam_available: true,
    fake_probability: 0.874,
    threshold: 0.5,
    face_found: true,
    faces: [
      {
        box: { x_min: 300, y_min: 150, x_max: 600, y_max: 450 },
        detection_confidence: 0.9999,
        fake_probability: 0.874,
        label: 'Deepfake',
        confidence: 87.4,
        verdict: 'Deepfake',
      },
      {
        box: { x_min: 900, y_min: 60, x_max: 1050, y_max: 240 },
        detection_confidence: 0.998,
        fake_probability: 0.12,
        label: 'Real',
        confidence: 88,
        verdict: 'Real',
      },
    ],
    heatmap_png: TINY_PNG_BASE64,
    request_id: '5e2c0f2a25b641e6bfb60ee505e1ef42',
    image_sha256: 'ab'.repeat(32),
    timings: { decode_ms: 17.6, faces_ms: 181, inference_ms: 52.3, gradcam_ms: 90.1, total_ms: 341.4 },
    image_width: 1200,
    image_height: 600,
    engine: 'torchscript',
    prediction_id: '3f2a9c0d4b5e4f60a1b2c3d4e5f60718',
    ...overrides,
  };
}

/**
 * An answer from a model with an uncertain band: face 1 (probability 0.62) is inside it, face 2 below it.
 * The image leans Deepfake (`prediction`) but its verdict is Uncertain.
 */
export function makeUncertainPrediction(overrides: Partial<PredictResponse> = {}): PredictResponse {
  return makePrediction({
    verdict: 'Uncertain',
    prediction: 'Deepfake',
    confidence: 62,
    fake_probability: 0.62,
    explanation:
      '2 faces were analysed; the model cannot tell whether face 1 (numbered largest first) is authentic, so the ' +
      'image needs a human look (highest deepfake probability 62%).',
    faces: [
      {
        box: { x_min: 300, y_min: 150, x_max: 600, y_max: 450 },
        detection_confidence: 0.9999,
        fake_probability: 0.62,
        label: 'Deepfake',
        confidence: 62,
        verdict: 'Uncertain',
      },
      {
        box: { x_min: 900, y_min: 60, x_max: 1050, y_max: 240 },
        detection_confidence: 0.998,
        fake_probability: 0.12,
        label: 'Real',
        confidence: 88,
        verdict: 'Real',
      },
    ],
    ...overrides,
  });
}

/** A history record as GET /v1/predictions sends it (the verdict follows `prediction` unless overridden). */
export function makeRecord(overrides: Partial<PredictionRecord> = {}): PredictionRecord {
  const p = makePrediction();
  return {
    id: 'rec-1',
    created_at: '2026-11-26T08:01:02.123456Z',
    request_id: p.request_id,
    filename: 'photo.jpg',
    image_sha256: p.image_sha256,
    image_bytes: 123456,
    image_width: 1200,
    image_height: 630,
    image_format: 'JPEG',
    prediction: 'Real',
    verdict: overrides.verdict ?? overrides.prediction ?? 'Real',
    fake_probability: 0.07,
    confidence: 93,
    faces: [
      {
        box: { x_min: 100, y_min: 80, x_max: 300, y_max: 320 },
        detection_confidence: 0.99,
        fake_probability: 0.07,
        label: 'Real',
        confidence: 93,
        verdict: 'Real',
      },
    ],
    model: 'efficientnet_lite0-dfdc',
    weights_sha256: 'cd'.repeat(32),
    engine: 'torchscript',
    device: 'cpu',
    latency_ms: 251.4,
    client: '127.0.0.1',
    explained: true,
    ...overrides,
  };
}

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}
