import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { PredictionRecord } from './api';
import { App } from './App';
import { loadApiKey, saveApiKey } from './apiKey';
import { jsonResponse, makePrediction, makeRecord, makeUncertainPrediction, TINY_PNG_BASE64 } from './test/fixtures';

const HEALTHY = { status: 'healthy', app: 'Deepfake Detection API', version: '0.1.0', model_loaded: true };
const MODEL_INFO = {
  model_name: 'efficientnet_lite0-dfdc',
  device: 'cpu',
  engine: 'torchscript',
  architecture: 'efficientnet_lite0',
  metrics: { dataset: 'val split of dfdc-faces', images: 2531, auc: 0.874, accuracy: 0.794 },
  version: '0.1.0',
};

type Handler = (init?: RequestInit) => Response | Promise<Response>;

const page = (predictions: PredictionRecord[], next_page_token = '') => jsonResponse({ predictions, next_page_token });

/** A fetch that answers /health, /model-info, /predict with `predictHandler` and /v1/predictions with `history`. */
function installFetch(
  predictHandler: Handler,
  health: Handler = () => jsonResponse(HEALTHY),
  history: (url: string, init?: RequestInit) => Response | Promise<Response> = () => page([]),
) {
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    if (url === '/health') return health(init);
    if (url === '/model-info') return jsonResponse(MODEL_INFO);
    if (url.startsWith('/predict')) return predictHandler(init);
    if (url.startsWith('/v1/predictions')) return history(url, init);
    return new Response('not found', { status: 404 });
  });
  vi.stubGlobal('fetch', fetchMock);
  return fetchMock;
}

const predictCalls = (fetchMock: ReturnType<typeof installFetch>) =>
  fetchMock.mock.calls.filter(([url]) => String(url).startsWith('/predict'));
const historyCalls = (fetchMock: ReturnType<typeof installFetch>) =>
  fetchMock.mock.calls.filter(([url]) => String(url).startsWith('/v1/predictions')).map(([url]) => String(url));

const jpeg = (name = 'group.jpg') => new File([new Uint8Array([0xff, 0xd8, 0xff, 0xe0])], name, { type: 'image/jpeg' });

describe('App', () => {
  it('shows the service health and the model in the footer', async () => {
    installFetch(() => jsonResponse(makePrediction()));
    render(<App />);
    expect(screen.getByTestId('health-status').textContent).toBe('Checking…');
    await waitFor(() => expect(screen.getByTestId('health-status').textContent).toBe('Model ready'));
    expect((await screen.findByTestId('model-name')).textContent).toBe('efficientnet_lite0-dfdc');
    expect(screen.getByTestId('model-auc').textContent).toBe('0.874');
  });

  it('shows "Starting" while the model loads and waits for it before asking for model info', async () => {
    const fetchMock = installFetch(
      () => jsonResponse(makePrediction()),
      () => jsonResponse({ ...HEALTHY, status: 'starting', model_loaded: false }),
    );
    render(<App />);
    await waitFor(() => expect(screen.getByTestId('health-status').textContent).toBe('Starting'));
    expect(fetchMock.mock.calls.some(([url]) => url === '/model-info')).toBe(false);
    expect(screen.queryByTestId('model-name')).toBeNull();
  });

  it('analyses a chosen image: verdict, confidence, face boxes, heatmap and history', async () => {
    const user = userEvent.setup();
    const fetchMock = installFetch(() => jsonResponse(makePrediction()));
    render(<App />);

    const button = screen.getByTestId('analyze-button') as HTMLButtonElement;
    expect(button.disabled).toBe(true);

    await user.upload(screen.getByTestId('file-input'), jpeg());
    expect(screen.getByAltText('Preview of group.jpg')).toBeTruthy();
    expect((screen.getByTestId('explain-toggle') as HTMLInputElement).checked).toBe(true);
    expect(button.disabled).toBe(false);

    await user.click(button);

    expect((await screen.findByTestId('verdict')).textContent).toBe('Deepfake');
    expect(screen.getByTestId('confidence-value').textContent).toBe('87.4%');
    expect(screen.getByTestId('confidence-bar').getAttribute('aria-valuenow')).toBe('87.4');
    expect(screen.getByTestId('explanation').textContent).toMatch(/face 1 looks like a deepfake/);
    expect(screen.getAllByTestId('face-box')).toHaveLength(2);
    expect((screen.getByTestId('heatmap-image') as HTMLImageElement).src).toBe(
      `data:image/png;base64,${TINY_PNG_BASE64}`,
    );
    expect(screen.getByTestId('heatmap-opacity')).toBeTruthy();
    expect(screen.queryByTestId('no-face-notice')).toBeNull();
    expect(screen.getByRole('status').textContent).toMatch(/Analysis complete: Deepfake, 87.4% confidence/);

    const calls = predictCalls(fetchMock);
    expect(calls).toHaveLength(1);
    expect(String(calls[0]![0])).toBe('/predict?explain=true');
    expect(((calls[0]![1]?.body as FormData).get('file') as File).name).toBe('group.jpg');

    // The history is asked again after the analysis; until the server lists it, the answer is merged in.
    const firstPage = '/v1/predictions?page_size=20';
    await waitFor(() => expect(historyCalls(fetchMock)).toEqual([firstPage, firstPage]));
    const items = screen.getAllByTestId('history-item');
    expect(items).toHaveLength(1);
    expect(items[0]!.textContent).toMatch(/group\.jpg.*Deepfake.*87\.4%/);
    expect(items[0]!.getAttribute('aria-current')).toBe('true');

    // A new upload is possible afterwards.
    expect(button.disabled).toBe(false);
    expect((screen.getByTestId('file-input') as HTMLInputElement).disabled).toBe(false);
  });

  it('disables the button and shows progress while the analysis runs', async () => {
    const user = userEvent.setup();
    let answer: (r: Response) => void = () => undefined;
    installFetch(() => new Promise<Response>((resolve) => (answer = resolve)));
    render(<App />);
    await user.upload(screen.getByTestId('file-input'), jpeg());
    await user.click(screen.getByTestId('analyze-button'));

    const button = screen.getByTestId('analyze-button') as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    expect(button.textContent).toMatch(/Analyzing…/);
    expect((screen.getByTestId('file-input') as HTMLInputElement).disabled).toBe(true);

    answer(jsonResponse(makePrediction({ prediction: 'Real', confidence: 92.6 })));
    expect((await screen.findByTestId('verdict')).textContent).toBe('Real');
    expect(button.disabled).toBe(false);
    expect(button.textContent).toBe('Analyze image');
  });

  it('shows an Uncertain verdict as needing a human look, with the model band in the footer', async () => {
    const user = userEvent.setup();
    const band = {
      low: 0.3,
      high: 0.7,
      target_precision: 0.95,
      fitted_on: 'the calibration split',
      abstention_share: 0.2,
    };
    vi.stubGlobal(
      'fetch',
      vi.fn(async (input: RequestInfo | URL) => {
        const url = String(input);
        if (url === '/health') return jsonResponse(HEALTHY);
        if (url === '/model-info') return jsonResponse({ ...MODEL_INFO, uncertain_band: band });
        if (url.startsWith('/predict')) return jsonResponse(makeUncertainPrediction());
        return page([]);
      }),
    );
    render(<App />);
    expect((await screen.findByTestId('model-band')).textContent).toBe(
      'Uncertain (needs a human look) for deepfake probabilities from 30% up to 70%, so that the other verdicts ' +
        'are right at least 95% of the time on the calibration split (20% of those images were Uncertain).',
    );
    await user.upload(screen.getByTestId('file-input'), jpeg());
    await user.click(screen.getByTestId('analyze-button'));
    expect((await screen.findByTestId('verdict')).textContent).toBe('Uncertain');
    expect(screen.getByTestId('verdict').parentElement!.textContent).toBe('Verdict: Uncertain — needs a human look');
    expect(screen.getByTestId('probability-note').textContent).toMatch(/Uncertain in between/);
    expect(screen.getByRole('status').textContent).toMatch(/^Analysis complete: Uncertain — needs a human look\./);
    const item = (await screen.findAllByTestId('history-item'))[0]!;
    expect(within(item).getByTestId('verdict-tag').textContent).toBe('Uncertain');
    expect(screen.getAllByTestId('face-box')[0]!.getAttribute('data-verdict')).toBe('Uncertain');
  });

  it('rejects a non-image file without calling the server', async () => {
    const user = userEvent.setup({ applyAccept: false });
    const fetchMock = installFetch(() => jsonResponse(makePrediction()));
    render(<App />);

    await user.upload(screen.getByTestId('file-input'), new File(['hello'], 'notes.txt', { type: 'text/plain' }));

    const alert = await screen.findByTestId('error-message');
    expect(alert.getAttribute('role')).toBe('alert');
    expect(alert.textContent).toBe('“notes.txt” is not a JPG or PNG image. Choose a .jpg, .jpeg or .png file.');
    expect((screen.getByTestId('analyze-button') as HTMLButtonElement).disabled).toBe(true);
    expect(predictCalls(fetchMock)).toHaveLength(0);
  });

  it('rejects a file over 10 MB before sending it', async () => {
    const user = userEvent.setup();
    const fetchMock = installFetch(() => jsonResponse(makePrediction()));
    render(<App />);
    const big = jpeg('huge.jpg');
    Object.defineProperty(big, 'size', { value: 11 * 1024 * 1024 });
    await user.upload(screen.getByTestId('file-input'), big);
    expect((await screen.findByTestId('error-message')).textContent).toMatch(/11\.0 MB; the limit is 10 MB/);
    expect(predictCalls(fetchMock)).toHaveLength(0);
  });

  it('shows the server’s message for a 400', async () => {
    const user = userEvent.setup();
    installFetch(() =>
      jsonResponse({ code: 3, message: 'The image is truncated or corrupted.', details: [] }, 400),
    );
    render(<App />);
    await user.upload(screen.getByTestId('file-input'), jpeg('broken.jpg'));
    await user.click(screen.getByTestId('analyze-button'));

    expect((await screen.findByTestId('error-message')).textContent).toBe('The image is truncated or corrupted.');
    expect(screen.queryByTestId('verdict')).toBeNull();
    expect((screen.getByTestId('analyze-button') as HTMLButtonElement).disabled).toBe(false);
  });

  it('explains a network failure and marks the service unavailable', async () => {
    const user = userEvent.setup();
    let healthDown = false;
    installFetch(
      () => Promise.reject(new TypeError('Failed to fetch')),
      () => (healthDown ? Promise.reject(new TypeError('Failed to fetch')) : jsonResponse(HEALTHY)),
    );
    render(<App />);
    await waitFor(() => expect(screen.getByTestId('health-status').textContent).toBe('Model ready'));
    healthDown = true;
    await user.upload(screen.getByTestId('file-input'), jpeg());
    await user.click(screen.getByTestId('analyze-button'));
    expect((await screen.findByTestId('error-message')).textContent).toMatch(/Could not reach the detection service/);
    await waitFor(() => expect(screen.getByTestId('health-status').textContent).toBe('Unavailable'));
  });

  it('sends explain=false when the heatmap checkbox is off and shows no heatmap', async () => {
    const user = userEvent.setup();
    const fetchMock = installFetch(() =>
      jsonResponse(makePrediction({ heatmap_png: '', grad_cam_available: false })),
    );
    render(<App />);
    await user.upload(screen.getByTestId('file-input'), jpeg());
    await user.click(screen.getByTestId('explain-toggle'));
    await user.click(screen.getByTestId('analyze-button'));
    await screen.findByTestId('verdict');
    expect(String(predictCalls(fetchMock)[0]![0])).toBe('/predict?explain=false');
    expect(screen.queryByTestId('heatmap-image')).toBeNull();
  });

  it('says so when no face was found', async () => {
    const user = userEvent.setup();
    installFetch(() =>
      jsonResponse(
        makePrediction({
          prediction: 'Real',
          confidence: 71,
          faces: [],
          face_found: false,
          explanation: 'No face was found, so the whole image was analysed.',
        }),
      ),
    );
    render(<App />);
    await user.upload(screen.getByTestId('file-input'), jpeg('landscape.png'));
    await user.click(screen.getByTestId('analyze-button'));
    expect((await screen.findByTestId('no-face-notice')).textContent).toBe(
      'No face found — the whole image was analysed.',
    );
    expect(screen.queryAllByTestId('face-box')).toHaveLength(0);
  });

  it('accepts a dropped file', async () => {
    installFetch(() => jsonResponse(makePrediction()));
    render(<App />);
    const file = jpeg('dropped.jpg');
    fireEvent.drop(screen.getByTestId('drop-zone'), { dataTransfer: { files: [file], types: ['Files'] } });
    expect(await screen.findByAltText('Preview of dropped.jpg')).toBeTruthy();
    expect((screen.getByTestId('analyze-button') as HTMLButtonElement).disabled).toBe(false);
  });

  it('reopens an earlier analysis from the history', async () => {
    const user = userEvent.setup();
    let n = 0;
    installFetch(() => {
      n += 1;
      return jsonResponse(
        n === 1
          ? makePrediction({ prediction_id: 'first', filename: 'first.jpg' })
          : makePrediction({ prediction_id: 'second', filename: 'second.jpg', prediction: 'Real', confidence: 95 }),
      );
    });
    render(<App />);
    await user.upload(screen.getByTestId('file-input'), jpeg('first.jpg'));
    await user.click(screen.getByTestId('analyze-button'));
    await screen.findByTestId('verdict');
    await user.upload(screen.getByTestId('file-input'), jpeg('second.jpg'));
    // A new file clears the old result until it is analysed.
    expect(screen.queryByTestId('verdict')).toBeNull();
    await user.click(screen.getByTestId('analyze-button'));
    await waitFor(() => expect(screen.getByTestId('verdict').textContent).toBe('Real'));

    const items = screen.getAllByTestId('history-item');
    expect(items.map((i) => within(i).getByTitle(/\.jpg$/).textContent)).toEqual(['second.jpg', 'first.jpg']);
    await user.click(items[1]!);
    expect(screen.getByTestId('verdict').textContent).toBe('Deepfake');
    expect(screen.getAllByTestId('face-box')).toHaveLength(2);
    expect(screen.getByTestId('heatmap-image')).toBeTruthy();
    expect(items[1]!.getAttribute('aria-current')).toBe('true');
  });

  it('lists the server history and opens a record without its image', async () => {
    const user = userEvent.setup();
    const fetchMock = installFetch(
      () => jsonResponse(makePrediction()),
      undefined,
      () => page([makeRecord({ id: 'r1', filename: 'photo.jpg' }), makeRecord({ id: 'r2', filename: 'older.jpg' })]),
    );
    render(<App />);
    const items = await screen.findAllByTestId('history-item');
    expect(items.map((i) => within(i).getByTitle(/\.jpg$/).textContent)).toEqual(['photo.jpg', 'older.jpg']);

    await user.click(items[0]!);
    expect(screen.getByTestId('verdict').textContent).toBe('Real');
    expect(screen.getByTestId('confidence-value').textContent).toBe('93%');
    expect(screen.getByTestId('image-not-stored').textContent).toMatch(/Images are not stored/);
    expect(screen.getByRole('table').textContent).toMatch(/Real.*7%.*93%/);
    expect(screen.getByText('1200 × 630 px · JPEG · 121 KB')).toBeTruthy();
    expect(screen.getByText('251 ms')).toBeTruthy();
    expect(screen.queryByTestId('face-box')).toBeNull();
    expect(screen.queryByTestId('heatmap-image')).toBeNull();
    expect(screen.getByRole('status').textContent).toMatch(/Showing the analysis of photo\.jpg/);
    expect(items[0]!.getAttribute('aria-current')).toBe('true');

    await user.selectOptions(screen.getByTestId('history-filter'), 'Deepfake');
    await waitFor(() => expect(historyCalls(fetchMock).at(-1)).toBe('/v1/predictions?verdict=Deepfake&page_size=20'));
  });

  it('merges the new analysis until the server lists it, then shows the server’s record once', async () => {
    const user = userEvent.setup();
    const old = makeRecord({ id: 'old', filename: 'old.jpg' });
    const first = makeRecord({
      id: 'first',
      filename: 'first.jpg',
      prediction: 'Deepfake',
      created_at: '2026-11-26T09:00:00Z',
    });
    let listed: PredictionRecord[] = [old];
    let n = 0;
    installFetch(
      () => {
        n += 1;
        const name = n === 1 ? 'first' : 'second';
        return jsonResponse(makePrediction({ prediction_id: name, filename: `${name}.jpg` }));
      },
      undefined,
      () => page(listed),
    );
    render(<App />);
    await screen.findByTitle('old.jpg');

    await user.upload(screen.getByTestId('file-input'), jpeg('first.jpg'));
    await user.click(screen.getByTestId('analyze-button'));
    await screen.findByTestId('verdict');
    // The record is written after the answer: the refreshed list does not have it yet.
    await waitFor(() => expect(screen.getAllByTestId('history-item')).toHaveLength(2));
    const titles = () => screen.getAllByTestId('history-item').map((i) => within(i).getByTitle(/\.jpg$/).textContent);
    expect(titles()).toEqual(['first.jpg', 'old.jpg']);

    listed = [first, old];
    await user.upload(screen.getByTestId('file-input'), jpeg('second.jpg'));
    await user.click(screen.getByTestId('analyze-button'));
    await screen.findByText('second.jpg', { selector: '.history__name' });
    // The refreshed list has the first analysis: the server's record (its time) replaces the merged one.
    const times = () => screen.getAllByTestId('history-item').map((i) => i.querySelector('time')!.dateTime);
    await waitFor(() => expect(times()[1]).toBe(first.created_at));
    expect(titles()).toEqual(['second.jpg', 'first.jpg', 'old.jpg']);
    const firstItem = screen.getAllByTestId('history-item')[1]!;

    // Still this tab's analysis: it reopens with its image and heatmap.
    await user.click(firstItem);
    expect(screen.getByTestId('verdict').textContent).toBe('Deepfake');
    expect(screen.getByTestId('heatmap-image')).toBeTruthy();
    expect(screen.queryByTestId('image-not-stored')).toBeNull();
  });

  it('keeps working when the history is unavailable', async () => {
    const user = userEvent.setup();
    installFetch(
      () => jsonResponse(makePrediction()),
      undefined,
      () => jsonResponse({ code: 14, message: 'The prediction history is unavailable.' }, 503),
    );
    render(<App />);
    expect((await screen.findByTestId('history-error')).textContent).toMatch(/History unavailable right now/);

    await user.upload(screen.getByTestId('file-input'), jpeg());
    await user.click(screen.getByTestId('analyze-button'));
    expect((await screen.findByTestId('verdict')).textContent).toBe('Deepfake');
    expect(screen.getAllByTestId('history-item')).toHaveLength(1);
    expect(screen.getByTestId('history-error')).toBeTruthy();
    expect(screen.queryByTestId('error-message')).toBeNull();
  });
});

describe('App with API keys', () => {
  const KEY = 'dfk_abcdefgh1234';
  const auth = (init?: RequestInit) => new Headers(init?.headers).get('authorization');
  const unauthenticated = () =>
    jsonResponse(
      { code: 16, message: "A valid API key is required: send the header 'authorization: Bearer <key>'." },
      401,
    );
  const authOf = (fetchMock: ReturnType<typeof installFetch>, prefix: string) =>
    fetchMock.mock.calls.filter(([url]) => String(url).startsWith(prefix)).map(([, init]) => auth(init));

  it('asks for a key on a 401, focuses the field and succeeds with the saved key', async () => {
    const user = userEvent.setup();
    // The 401 waits until the test releases it, to see focus move from the Analyze button to the field.
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const fetchMock = installFetch(
      async (init) => {
        if (auth(init) === `Bearer ${KEY}`) return jsonResponse(makePrediction());
        await released;
        return unauthenticated();
      },
      undefined,
      (_url, init) => (auth(init) === `Bearer ${KEY}` ? page([makeRecord({ id: 'r1' })]) : unauthenticated()),
    );
    render(<App />);
    const input = screen.getByTestId('api-key-input');
    // The history asks first: its 401 already says so and leads to the field.
    expect((await screen.findByTestId('history-error')).textContent).toBe(
      'This server requires an API key. Enter one above.',
    );
    await waitFor(() => expect(document.activeElement).toBe(input));

    await user.upload(screen.getByTestId('file-input'), jpeg());
    await user.click(screen.getByTestId('analyze-button'));
    expect(document.activeElement).toBe(screen.getByTestId('analyze-button'));
    release();
    const alert = await screen.findByTestId('error-message');
    expect(alert.getAttribute('role')).toBe('alert');
    expect(alert.textContent).toBe('This server requires an API key. Enter one above.');
    expect(document.activeElement).toBe(input);
    expect(authOf(fetchMock, '/predict')).toEqual([null]);

    await user.type(input, KEY);
    await user.click(screen.getByTestId('api-key-save'));
    expect(loadApiKey()).toBe(KEY);
    expect(localStorage.length).toBe(0);
    expect(screen.getByTestId('api-key-status').textContent).toBe('Key set ••••1234');
    expect(screen.getByRole('status').textContent).toBe('API key saved for this tab.');
    expect(screen.queryByTestId('error-message')).toBeNull();
    // The history reloads with the key.
    expect(await screen.findByTestId('history-item')).toBeTruthy();
    expect(screen.queryByTestId('history-error')).toBeNull();
    expect(authOf(fetchMock, '/v1/predictions').at(-1)).toBe(`Bearer ${KEY}`);

    await user.click(screen.getByTestId('analyze-button'));
    expect((await screen.findByTestId('verdict')).textContent).toBe('Deepfake');
    expect(authOf(fetchMock, '/predict')).toEqual([null, `Bearer ${KEY}`]);
    // The open routes never get the key, and no URL carries it.
    expect([...authOf(fetchMock, '/health'), ...authOf(fetchMock, '/model-info')].every((a) => a === null)).toBe(true);
    expect(fetchMock.mock.calls.some(([url]) => String(url).includes(KEY))).toBe(false);
  });

  it('says quietly that the key may not read the history, and analyses still work', async () => {
    const user = userEvent.setup();
    saveApiKey(KEY);
    const fetchMock = installFetch(
      () => jsonResponse(makePrediction()),
      undefined,
      () => jsonResponse({ code: 7, message: 'This API key may not use history; ask for a key with that permission.' }, 403),
    );
    render(<App />);
    expect(screen.getByTestId('api-key-status').textContent).toBe('Key set ••••1234');
    expect((await screen.findByTestId('history-error')).textContent).toBe('Your API key may not read the history.');
    expect(screen.queryByRole('alert')).toBeNull();
    expect(document.activeElement).not.toBe(screen.getByTestId('api-key-input'));

    await user.upload(screen.getByTestId('file-input'), jpeg());
    await user.click(screen.getByTestId('analyze-button'));
    expect((await screen.findByTestId('verdict')).textContent).toBe('Deepfake');
    expect(screen.getAllByTestId('history-item')).toHaveLength(1);
    expect(screen.queryByTestId('error-message')).toBeNull();
    expect(authOf(fetchMock, '/predict')).toEqual([`Bearer ${KEY}`]);
  });

  it('forgets the key: out of sessionStorage, no longer sent', async () => {
    const user = userEvent.setup();
    saveApiKey(KEY);
    const fetchMock = installFetch(() => jsonResponse(makePrediction()));
    render(<App />);
    await waitFor(() => expect(authOf(fetchMock, '/v1/predictions')).toEqual([`Bearer ${KEY}`]));

    await user.click(screen.getByTestId('api-key-forget'));
    expect(loadApiKey()).toBe('');
    expect(sessionStorage.length).toBe(0);
    expect(screen.getByTestId('api-key-status').textContent).toBe('No key set');
    expect(screen.queryByTestId('api-key-forget')).toBeNull();
    expect(document.activeElement).toBe(screen.getByTestId('api-key-input'));
    expect(screen.getByRole('status').textContent).toBe('API key forgotten.');
    await waitFor(() => expect(authOf(fetchMock, '/v1/predictions')).toEqual([`Bearer ${KEY}`, null]));

    await user.upload(screen.getByTestId('file-input'), jpeg());
    await user.click(screen.getByTestId('analyze-button'));
    await screen.findByTestId('verdict');
    expect(authOf(fetchMock, '/predict')).toEqual([null]);
  });

  it('works without any key on a server that needs none', async () => {
    const user = userEvent.setup();
    const fetchMock = installFetch(() => jsonResponse(makePrediction()));
    render(<App />);
    expect(screen.getByTestId('api-key-status').textContent).toBe('No key set');
    await user.upload(screen.getByTestId('file-input'), jpeg());
    await user.click(screen.getByTestId('analyze-button'));
    await screen.findByTestId('verdict');
    expect(fetchMock.mock.calls.every(([, init]) => auth(init) === null)).toBe(true);
    expect(screen.queryByTestId('history-error')).toBeNull();
  });
});
