import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ApiError,
  NETWORK_ERROR_MESSAGE,
  errorMessage,
  getHealth,
  getModelInfo,
  heatmapDataUrl,
  listPredictions,
  messageForStatus,
  normalizePredictResponse,
  predict,
  predictionsUrl,
} from './api';
import { jsonResponse, makePrediction, makeRecord } from './test/fixtures';

const image = () => new File([new Uint8Array([0xff, 0xd8, 0xff])], 'face.jpg', { type: 'image/jpeg' });

function mockFetch(impl: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>) {
  const fn = vi.fn(impl);
  vi.stubGlobal('fetch', fn);
  return fn;
}

async function caught(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected the promise to reject');
}

afterEach(() => {
  vi.useRealTimers();
});

describe('predict', () => {
  it('posts multipart form data with the file and parses the answer', async () => {
    const body = makePrediction();
    const fetchMock = mockFetch(async () => jsonResponse(body));

    const result = await predict(image(), { explain: true });

    expect(result).toEqual(body);
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const [url, init] = fetchMock.mock.calls[0]!;
    expect(url).toBe('/predict?explain=true');
    expect(init?.method).toBe('POST');
    const form = init?.body as FormData;
    expect(form).toBeInstanceOf(FormData);
    const sent = form.get('file') as File;
    expect(sent.name).toBe('face.jpg');
    // The browser must set the multipart boundary itself.
    expect(new Headers(init?.headers).has('Content-Type')).toBe(false);
  });

  it('sends explain=false when the heatmap is off', async () => {
    const fetchMock = mockFetch(async () => jsonResponse(makePrediction({ heatmap_png: '' })));
    await predict(image(), { explain: false });
    expect(fetchMock.mock.calls[0]![0]).toBe('/predict?explain=false');
  });

  it('fills fields a proxy left out with proto3 defaults', async () => {
    mockFetch(async () => jsonResponse({ prediction: 'Real', confidence: 90, faces: [{ label: 'Real' }] }));
    const result = await predict(image(), { explain: false });
    expect(result.face_found).toBe(false);
    expect(result.heatmap_png).toBe('');
    expect(result.timings.total_ms).toBe(0);
    expect(result.prediction_id).toBe('');
    expect(result.faces[0]!.box).toEqual({ x_min: 0, y_min: 0, x_max: 0, y_max: 0 });
    // A server from before verdicts: the verdict is the two-valued prediction (no band then).
    expect(result.verdict).toBe('Real');
    expect(result.faces[0]!.verdict).toBe('Real');
  });

  it('keeps an Uncertain verdict beside the two-valued prediction', async () => {
    mockFetch(async () =>
      jsonResponse({
        prediction: 'Deepfake',
        verdict: 'Uncertain',
        faces: [{ label: 'Deepfake', verdict: 'Uncertain' }],
      }),
    );
    const result = await predict(image(), { explain: false });
    expect([result.verdict, result.prediction]).toEqual(['Uncertain', 'Deepfake']);
    expect([result.faces[0]!.verdict, result.faces[0]!.label]).toEqual(['Uncertain', 'Deepfake']);
  });

  it('shows the message of a JSON error body', async () => {
    mockFetch(async () =>
      jsonResponse({ code: 3, message: 'The file is not a JPEG, PNG or WebP image.', details: [] }, 400),
    );
    const err = await caught(predict(image(), { explain: true }));
    expect(err.kind).toBe('http');
    expect(err.status).toBe(400);
    expect(err.code).toBe(3);
    expect(err.message).toBe('The file is not a JPEG, PNG or WebP image.');
  });

  it.each([
    [413, 'The image is too large. The limit is 10 MB.'],
    [429, 'Too many requests right now. Wait a moment and try again.'],
    [503, 'The detection service is starting or temporarily unavailable. Try again in a moment.'],
    [502, 'The detection service did not respond. Try again in a moment.'],
  ])('maps a non-JSON %i to a generic message', async (status, message) => {
    mockFetch(async () => new Response('upstream connect error or disconnect/reset before headers', { status }));
    const err = await caught(predict(image(), { explain: true }));
    expect(err.status).toBe(status);
    expect(err.message).toBe(message);
  });

  it('uses the generic text when the JSON error has an empty message', async () => {
    mockFetch(async () => jsonResponse({ code: 8, message: '' }, 429));
    const err = await caught(predict(image(), { explain: true }));
    expect(err.message).toBe(messageForStatus(429));
  });

  it('adds the request id to server errors', async () => {
    mockFetch(async () =>
      jsonResponse({ code: 13, message: 'Internal error.' }, 500, { 'x-request-id': 'abc123' }),
    );
    const err = await caught(predict(image(), { explain: true }));
    expect(errorMessage(err)).toBe('Internal error. (reference abc123)');
  });

  it('reports a network failure clearly', async () => {
    mockFetch(async () => {
      throw new TypeError('Failed to fetch');
    });
    const err = await caught(predict(image(), { explain: true }));
    expect(err.kind).toBe('network');
    expect(err.message).toBe(NETWORK_ERROR_MESSAGE);
  });

  it('rejects a 200 answer that is not a prediction', async () => {
    mockFetch(async () => new Response('<html>proxy login</html>', { status: 200 }));
    const err = await caught(predict(image(), { explain: true }));
    expect(err.kind).toBe('invalid-response');

    mockFetch(async () => jsonResponse({ hello: 'world' }));
    expect((await caught(predict(image(), { explain: true }))).kind).toBe('invalid-response');
  });

  it('times out a request that never answers', async () => {
    vi.useFakeTimers();
    mockFetch(
      (_url, init) =>
        new Promise<Response>((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    );
    const pending = caught(predict(image(), { explain: true, timeoutMs: 5000 }));
    await vi.advanceTimersByTimeAsync(5000);
    const err = await pending;
    expect(err.kind).toBe('timeout');
    expect(err.message).toMatch(/within 5 s/);
  });

  it('reports a cancellation by the caller as aborted', async () => {
    mockFetch(
      (_url, init) =>
        new Promise<Response>((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    );
    const controller = new AbortController();
    const pending = caught(predict(image(), { explain: true, signal: controller.signal }));
    controller.abort();
    expect((await pending).kind).toBe('aborted');
  });
});

describe('normalizePredictResponse', () => {
  it('rejects non-objects', () => {
    expect(() => normalizePredictResponse(null)).toThrow(ApiError);
    expect(() => normalizePredictResponse([])).toThrow(ApiError);
  });
});

describe('health and model info', () => {
  it('parses /health', async () => {
    const fetchMock = mockFetch(async () =>
      jsonResponse({ status: 'healthy', app: 'Deepfake Detection API', version: '0.1.0', model_loaded: true }),
    );
    await expect(getHealth()).resolves.toEqual({
      status: 'healthy',
      app: 'Deepfake Detection API',
      version: '0.1.0',
      model_loaded: true,
    });
    expect(fetchMock.mock.calls[0]![0]).toBe('/health');
  });

  it('parses /model-info', async () => {
    mockFetch(async () =>
      jsonResponse({
        model_name: 'efficientnet_lite0-dfdc',
        engine: 'torchscript',
        labels: ['Real', 'Deepfake'],
        metrics: { auc: 0.874, accuracy: 0.794, images: 2531, dataset: 'val split' },
      }),
    );
    const info = await getModelInfo();
    expect(info.model_name).toBe('efficientnet_lite0-dfdc');
    expect(info.metrics.auc).toBe(0.874);
    expect(info.metrics.images).toBe(2531);
    expect(info.labels).toEqual(['Real', 'Deepfake']);
    expect(info.version).toBe('');
    expect(info.uncertain_band).toEqual({
      low: 0,
      high: 0,
      target_precision: 0,
      fitted_on: '',
      abstention_share: 0,
      real_precision: 0,
      deepfake_precision: 0,
    });
  });

  it('parses the uncertain band of /model-info', async () => {
    mockFetch(async () =>
      jsonResponse({
        model_name: 'v2',
        uncertain_band: { low: 0.2, high: 0.8, target_precision: 0.95, fitted_on: 'calib', abstention_share: 0.18 },
      }),
    );
    const band = (await getModelInfo()).uncertain_band;
    expect(band).toMatchObject({ low: 0.2, high: 0.8, target_precision: 0.95, fitted_on: 'calib' });
    expect(band.abstention_share).toBe(0.18);
  });
});

describe('prediction history', () => {
  it('builds the list URL from the parameters that are set', () => {
    expect(predictionsUrl()).toBe('/v1/predictions');
    expect(predictionsUrl({ verdict: '', pageToken: '' })).toBe('/v1/predictions');
    expect(
      predictionsUrl({
        verdict: 'Deepfake',
        pageSize: 20,
        pageToken: 'ab+/=',
        startTime: '2026-11-26T08:00:00Z',
        endTime: '2026-11-27T00:00:00Z',
      }),
    ).toBe(
      '/v1/predictions?verdict=Deepfake&page_size=20&page_token=ab%2B%2F%3D' +
        '&start_time=2026-11-26T08%3A00%3A00Z&end_time=2026-11-27T00%3A00%3A00Z',
    );
  });

  it('lists a page of records', async () => {
    const record = makeRecord();
    const fetchMock = mockFetch(async () => jsonResponse({ predictions: [record], next_page_token: 'next' }));
    const page = await listPredictions({ verdict: 'Real', pageSize: 20 });
    expect(page).toEqual({ predictions: [record], next_page_token: 'next' });
    const [url, init] = fetchMock.mock.calls[0]!;
    expect(url).toBe('/v1/predictions?verdict=Real&page_size=20');
    expect(init?.method).toBe('GET');
  });

  it('fills absent fields and accepts an empty history without the list field', async () => {
    mockFetch(async () => jsonResponse({ predictions: [{ id: 'x', prediction: 'Deepfake', image_bytes: '42' }] }));
    const page = await listPredictions();
    expect(page.next_page_token).toBe('');
    expect(page.predictions[0]).toMatchObject({ id: 'x', image_bytes: 42, faces: [], explained: false, filename: '' });
    expect(page.predictions[0]!.verdict).toBe('Deepfake');

    mockFetch(async () => jsonResponse({ next_page_token: '' }));
    await expect(listPredictions()).resolves.toEqual({ predictions: [], next_page_token: '' });
  });

  it('rejects answers that are not a history page', async () => {
    mockFetch(async () => jsonResponse({ predictions: 'nope' }));
    expect((await caught(listPredictions())).kind).toBe('invalid-response');
    mockFetch(async () => jsonResponse({ predictions: [{ prediction: 'Real' }] }));
    expect((await caught(listPredictions())).kind).toBe('invalid-response');
  });

  it.each([
    [503, { code: 14, message: 'The prediction history is unavailable.' }, 'The prediction history is unavailable.'],
    [400, { code: 3, message: 'verdict must be "Real" or "Deepfake".' }, 'verdict must be "Real" or "Deepfake".'],
    [429, 'rate limited', messageForStatus(429)],
  ])('maps a %i to an ApiError', async (status, body, message) => {
    mockFetch(async () =>
      typeof body === 'string' ? new Response(body, { status }) : jsonResponse(body, status),
    );
    const err = await caught(listPredictions());
    expect(err.kind).toBe('http');
    expect(err.status).toBe(status);
    expect(err.message).toBe(message);
  });

  it('reports a network failure of the list', async () => {
    mockFetch(async () => {
      throw new TypeError('Failed to fetch');
    });
    expect((await caught(listPredictions())).kind).toBe('network');
  });
});

describe('heatmapDataUrl', () => {
  it('builds a PNG data URL and accepts the URL-safe alphabet', () => {
    expect(heatmapDataUrl('')).toBe('');
    expect(heatmapDataUrl('ab+/')).toBe('data:image/png;base64,ab+/');
    expect(heatmapDataUrl('ab-_')).toBe('data:image/png;base64,ab+/');
  });
});

describe('errorMessage', () => {
  it('hides unexpected exceptions behind a generic text', () => {
    expect(errorMessage(new Error('x is undefined'))).toBe('Something went wrong. Try again.');
  });
});

describe('API key header', () => {
  const authorization = (fetchMock: ReturnType<typeof mockFetch>, call = 0) =>
    new Headers(fetchMock.mock.calls[call]![1]?.headers).get('authorization');

  it('is sent with predictions and history pages only when a key is given', async () => {
    const fetchMock = mockFetch(async (input) =>
      String(input).startsWith('/predict') ? jsonResponse(makePrediction()) : jsonResponse({ predictions: [] }),
    );
    await predict(image(), { explain: true });
    await predict(image(), { explain: true, apiKey: '' });
    await predict(image(), { explain: true, apiKey: 'dfk_key1234' });
    await listPredictions();
    await listPredictions({ verdict: 'Real' }, { apiKey: 'dfk_key1234' });

    expect([0, 1, 2, 3, 4].map((i) => authorization(fetchMock, i))).toEqual([
      null,
      null,
      'Bearer dfk_key1234',
      null,
      'Bearer dfk_key1234',
    ]);
    // The key goes in the header only, never in the URL.
    expect(fetchMock.mock.calls.map(([url]) => String(url)).join(' ')).not.toContain('dfk_key1234');
    expect(new Headers(fetchMock.mock.calls[2]![1]?.headers).get('accept')).toBe('application/json');
  });

  it('is never sent to /health or /model-info, even if a caller passes a key', async () => {
    const fetchMock = mockFetch(async () => jsonResponse({}));
    const withKey = { apiKey: 'dfk_key1234' } as Parameters<typeof getHealth>[0];
    await getHealth(withKey);
    await getModelInfo(withKey);
    expect(fetchMock.mock.calls.map(([url]) => url)).toEqual(['/health', '/model-info']);
    expect([authorization(fetchMock, 0), authorization(fetchMock, 1)]).toEqual([null, null]);
  });

  it('maps 401 and 403 answers with their gRPC codes', async () => {
    mockFetch(async () =>
      jsonResponse(
        { code: 16, message: "A valid API key is required: send the header 'authorization: Bearer <key>'." },
        401,
      ),
    );
    const unauthenticated = await caught(predict(image(), { explain: true }));
    expect([unauthenticated.status, unauthenticated.code]).toEqual([401, 16]);

    mockFetch(async () => jsonResponse({ code: 7, message: 'This API key may not use history; ask for one.' }, 403));
    const denied = await caught(listPredictions({}, { apiKey: 'dfk_key1234' }));
    expect([denied.status, denied.code]).toEqual([403, 7]);

    mockFetch(async () => new Response('denied', { status: 401 }));
    expect((await caught(listPredictions())).message).toBe(messageForStatus(401));
  });
});
