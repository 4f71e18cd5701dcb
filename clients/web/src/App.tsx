import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import {
  ApiError,
  errorMessage,
  getModelInfo,
  predict,
  type ModelInfoResponse,
  type PredictResponse,
  type PredictionRecord,
} from './api';
import {
  API_KEY_REJECTED_MESSAGE,
  API_KEY_REQUIRED_MESSAGE,
  forgetApiKey,
  loadApiKey,
  saveApiKey,
} from './apiKey';
import { formatPercent, formatWhen, verdictText, verdictTone } from './format';
import { useHealth } from './useHealth';
import { recordFromAnalysis, usePredictionHistory } from './usePredictionHistory';
import { validateImageFile } from './validation';
import { ApiKeyControl } from './components/ApiKeyControl';
import { HealthBadge } from './components/HealthBadge';
import { HistoryList } from './components/HistoryList';
import { ImageOverlay } from './components/ImageOverlay';
import { ModelInfoPanel } from './components/ModelInfoPanel';
import { RecordView } from './components/RecordView';
import { ResultView } from './components/ResultView';
import { UploadPanel } from './components/UploadPanel';

/** The file the user has chosen, with the blob: URL of its preview. */
interface Selection {
  file: File;
  previewUrl: string;
}

/** An analysis made in this tab: the full answer (with heatmap) and its file, which the server does not keep. */
interface Analysis extends Selection {
  id: string;
  result: PredictResponse;
}

/** "Real, 93% confidence", or "Uncertain — needs a human look" (its confidence is in the prediction). */
function spokenVerdict(r: { verdict: string; confidence: number }): string {
  if (verdictTone(r.verdict) === 'uncertain') return verdictText(r.verdict);
  return `${r.verdict}, ${formatPercent(r.confidence)} confidence`;
}

/** Analyses whose images stay reopenable; older ones fall back to the history record. */
const ANALYSES_KEPT = 20;

export function App() {
  const { state: healthState, refresh: refreshHealth } = useHealth();
  const [modelInfo, setModelInfo] = useState<ModelInfoResponse | null>(null);
  const [modelInfoFailed, setModelInfoFailed] = useState(false);

  const [selection, setSelection] = useState<Selection | null>(null);
  const [explain, setExplain] = useState(true);
  const [busy, setBusy] = useState(false);
  const [elapsedMs, setElapsedMs] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [announcement, setAnnouncement] = useState('');

  /** "" when none: servers without keys configured need none. */
  const [apiKey, setApiKey] = useState(loadApiKey);
  const keyInputRef = useRef<HTMLInputElement>(null);

  const history = usePredictionHistory(apiKey);
  const { addAnalysis, reload: reloadHistory, failure: historyFailure } = history;
  const [analyses, setAnalyses] = useState<Analysis[]>([]);
  /** The record whose result is shown; this tab's analysis with the same id, when kept, shows instead. */
  const [shown, setShown] = useState<PredictionRecord | null>(null);

  const abortRef = useRef<AbortController | null>(null);
  const createdUrls = useRef(new Set<string>());

  // Model info once the service is ready (it answers 503 while the model loads).
  useEffect(() => {
    if (modelInfo) return;
    if (healthState === 'unavailable') {
      setModelInfoFailed(true);
      return;
    }
    if (healthState !== 'ready') return;
    const controller = new AbortController();
    getModelInfo({ signal: controller.signal }).then(
      (info) => {
        setModelInfo(info);
        setModelInfoFailed(false);
      },
      (err: unknown) => {
        if (!(err instanceof ApiError && err.kind === 'aborted')) setModelInfoFailed(true);
      },
    );
    return () => controller.abort();
  }, [healthState, modelInfo]);

  // Revoke blob: URLs nothing shows any more, so previews of replaced files do not pile up in memory.
  useEffect(() => {
    const live = new Set(analyses.map((a) => a.previewUrl));
    if (selection) live.add(selection.previewUrl);
    for (const url of createdUrls.current) {
      if (!live.has(url)) {
        URL.revokeObjectURL(url);
        createdUrls.current.delete(url);
      }
    }
  }, [selection, analyses]);

  useEffect(() => {
    const urls = createdUrls.current;
    return () => {
      abortRef.current?.abort();
      for (const url of urls) URL.revokeObjectURL(url);
      urls.clear();
    };
  }, []);

  // A file dropped next to the drop zone would make the browser navigate away to it; ignore such drops.
  useEffect(() => {
    const block = (e: DragEvent) => {
      if (e.dataTransfer?.types.includes('Files')) e.preventDefault();
    };
    window.addEventListener('dragover', block);
    window.addEventListener('drop', block);
    return () => {
      window.removeEventListener('dragover', block);
      window.removeEventListener('drop', block);
    };
  }, []);

  // Elapsed time on the busy button, so a slow analysis visibly progresses.
  useEffect(() => {
    if (!busy) return;
    const start = performance.now();
    setElapsedMs(0);
    const timer = setInterval(() => setElapsedMs(performance.now() - start), 100);
    return () => clearInterval(timer);
  }, [busy]);

  // The history is asked on start: a server that wants a key says so there first, so lead the user to the field.
  useEffect(() => {
    if (historyFailure === 'key-required' || historyFailure === 'key-rejected') keyInputRef.current?.focus();
  }, [historyFailure]);

  const saveKey = useCallback(
    (key: string) => {
      saveApiKey(key);
      setApiKey(key);
      // Reload even when the same key is saved again (e.g. after its permissions were changed on the server).
      reloadHistory();
      setError((e) => (e === API_KEY_REQUIRED_MESSAGE || e === API_KEY_REJECTED_MESSAGE ? null : e));
      setAnnouncement('API key saved for this tab.');
    },
    [reloadHistory],
  );

  const forgetKey = useCallback(() => {
    forgetApiKey();
    setApiKey('');
    setAnnouncement('API key forgotten.');
    // The Forget button disappears; without this, keyboard focus would fall back to the page start.
    keyInputRef.current?.focus();
  }, []);

  const chooseFile = useCallback((file: File, extraFiles: number) => {
    const check = validateImageFile(file);
    if (!check.ok) {
      setError(check.message);
      return;
    }
    const previewUrl = URL.createObjectURL(file);
    createdUrls.current.add(previewUrl);
    setSelection({ file, previewUrl });
    setShown(null);
    setError(null);
    setAnnouncement(
      `${file.name} selected${extraFiles > 0 ? ' (only the first of the dropped files is used)' : ''}. ` +
        'Press Analyze image to check it.',
    );
  }, []);

  const analyze = useCallback(async () => {
    if (!selection || busy) return;
    const { file, previewUrl } = selection;
    const controller = new AbortController();
    abortRef.current = controller;
    setBusy(true);
    setError(null);
    setAnnouncement('Analyzing image…');
    try {
      const response = await predict(file, { explain, signal: controller.signal, apiKey });
      const result = { ...response, filename: response.filename || file.name };
      // No prediction_id when the history database is down: a local id still keys it in this tab.
      const id = result.prediction_id || `local-${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
      const record = recordFromAnalysis(result, id, file);
      const analysis: Analysis = { id, result, file, previewUrl };
      setAnalyses((kept) => [analysis, ...kept.filter((a) => a.id !== id)].slice(0, ANALYSES_KEPT));
      addAnalysis(record);
      setShown(record);
      setAnnouncement(`Analysis complete: ${spokenVerdict(result)}. ${result.explanation}`);
    } catch (err) {
      if (err instanceof ApiError && err.kind === 'aborted') return;
      setAnnouncement('');
      if (err instanceof ApiError && err.status === 401) {
        // The server's own text names the header; users need to know where to enter the key.
        setError(apiKey ? API_KEY_REJECTED_MESSAGE : API_KEY_REQUIRED_MESSAGE);
        keyInputRef.current?.focus();
        return;
      }
      setError(errorMessage(err));
      // The badge should reflect a service that just turned out to be down or still loading.
      if (err instanceof ApiError && (err.kind === 'network' || err.status === 503)) refreshHealth();
    } finally {
      if (abortRef.current === controller) abortRef.current = null;
      setBusy(false);
    }
  }, [selection, busy, explain, apiKey, refreshHealth, addAnalysis]);

  const selectHistory = useCallback(
    (record: PredictionRecord) => {
      const kept = analyses.find((a) => a.id === record.id);
      setShown(record);
      setError(null);
      // Reopening an analysis also makes its file the current one, so "Analyze" re-runs that image.
      setSelection(kept ? { file: kept.file, previewUrl: kept.previewUrl } : null);
      const name = record.filename || 'an untitled image';
      setAnnouncement(
        `Showing the analysis of ${name} from ${formatWhen(record.created_at)}: ${spokenVerdict(record)}.`,
      );
    },
    [analyses],
  );

  const shownAnalysis = shown ? analyses.find((a) => a.id === shown.id) : undefined;

  let imageArea: ReactNode = null;
  if (shownAnalysis) {
    imageArea = <ImageOverlay result={shownAnalysis.result} imageUrl={shownAnalysis.previewUrl} />;
  } else if (selection) {
    imageArea = (
      <div className="preview">
        <img className="preview__img" src={selection.previewUrl} alt={`Preview of ${selection.file.name}`} />
      </div>
    );
  }

  return (
    <div className="app">
      <header className="app__header">
        <div className="app__brand">
          <h1 className="app__title">Deepfake image check</h1>
          <p className="app__subtitle">Face authenticity analysis for trust-and-safety and KYC review</p>
        </div>
        <div className="app__tools">
          <ApiKeyControl apiKey={apiKey} onSave={saveKey} onForget={forgetKey} inputRef={keyInputRef} />
          <HealthBadge state={healthState} />
        </div>
      </header>

      <main className="app__main">
        <section className="card" aria-labelledby="upload-heading">
          <h2 id="upload-heading">Image</h2>
          <UploadPanel
            file={selection?.file ?? null}
            busy={busy}
            elapsedMs={elapsedMs}
            explain={explain}
            onExplainChange={setExplain}
            onFile={chooseFile}
            onAnalyze={() => void analyze()}
          >
            {imageArea}
          </UploadPanel>
          {error && (
            <div className="alert" role="alert" data-testid="error-message">
              {error}
            </div>
          )}
        </section>

        <div className="app__side">
          <section className="card" aria-labelledby="result-heading" aria-busy={busy}>
            <h2 id="result-heading">Result</h2>
            {shownAnalysis ? (
              <ResultView result={shownAnalysis.result} band={modelInfo?.uncertain_band} />
            ) : shown ? (
              <RecordView record={shown} />
            ) : (
              <p className="muted placeholder">
                {busy
                  ? 'Analyzing the image…'
                  : 'Choose an image and press “Analyze image”. The verdict, its confidence and an explanation appear here.'}
              </p>
            )}
          </section>

          <HistoryList history={history} selectedId={shown?.id ?? null} onSelect={selectHistory} />
        </div>
      </main>

      <footer className="app__footer">
        <ModelInfoPanel info={modelInfo} failed={modelInfoFailed} />
      </footer>

      {/* Announces progress and results to screen readers; errors use the role="alert" box above. */}
      <div className="visually-hidden" role="status" aria-live="polite" aria-atomic="true">
        {announcement}
      </div>
    </div>
  );
}
