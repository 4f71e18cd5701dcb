"""The detection pipeline: decode and validate -> detect faces -> crop -> classify (batched) -> verdict ->
optional Grad-CAM. No transport concerns here: inputs are bytes and strings, outputs domain objects.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from peewee import Database
from PIL import Image

from server import APP_NAME, __version__
from server.batching import Batcher
from server.config import Config
from server.domain import (
    UNCERTAIN,
    Box,
    FaceResult,
    Health,
    ModelInfo,
    Prediction,
    RequestContext,
    Timings,
    UncertainBandInfo,
)
from server.engine import Engine, load_engine, resolve_device
from server.errors import ModelNotReady, Overloaded, StorageUnavailable
from server.faces import DetectedFace, FaceDetector
from server.gradcam import GradCam, render_overlay
from server.imaging.decode import DecodedImage, ImageLimits, decode_image
from server.imaging.upload import parse_upload, sanitize_filename
from server.metrics import Metrics
from server.model.factory import get_architecture, load_trained
from server.model.preprocess import crop_face, fit_to_input, images_to_batch
from server.model.spec import ModelSpec
from server.storage.queries import HistoryQuery, get_prediction, list_predictions
from server.storage.records import PredictionRecord
from server.storage.uploads import store_upload
from server.storage.writer import PredictionLog

log = logging.getLogger(__name__)


class DetectionService:
    def __init__(self, config: Config, metrics: Metrics | None = None,
                 prediction_log: PredictionLog | None = None) -> None:
        self.config = config
        self.metrics = metrics
        self.prediction_log = prediction_log
        self.limits = ImageLimits(max_bytes=config.max_image_bytes, max_pixels=config.max_pixels,
                                  decode_max_side=config.decode_max_side)
        self._ready = threading.Event()
        self._stopping = False
        self._pending = 0  # requests between arrival and inference, a hint for the batcher
        self._admission = threading.BoundedSemaphore(config.max_in_flight)
        self._pending_lock = threading.Lock()

    # ---- lifecycle -------------------------------------------------------------------------------------

    def load(self) -> None:
        """Load model, detector and explainer on the inference thread, warm them up, then mark ready."""
        started = time.perf_counter()
        cfg = self.config
        torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
        self.weights = Path(cfg.weights)
        self.spec = ModelSpec.load(self.weights)
        self.device = resolve_device(cfg.device)

        def load_engine_warm() -> Engine:
            engine = load_engine(cfg.engine, self.weights, self.spec, self.device)
            engine.warmup()
            return engine

        self.worker = Batcher(load_engine_warm, max_batch=cfg.batch_max_size, max_delay_ms=cfg.batch_max_delay_ms,
                              max_queue=cfg.inference_queue_size, pending=lambda: self._pending,
                              on_batch=self.metrics.observe_batch if self.metrics else None)
        self.engine = self.worker.start()
        self.detector, self.explainer = self.worker.call(self._load_helpers).result()
        if self.metrics is not None:
            self.metrics.model_info.labels(self.spec.name or self.spec.architecture, self.spec.weights_sha256,
                                           cfg.engine, str(self.device), __version__).set(1)
            self.metrics.track(self.metrics.queue_depth, self.worker.depth)
        self._ready.set()
        log.info("model %s loaded with engine %s on %s in %.1f s", self.spec.name, cfg.engine, self.device,
                 time.perf_counter() - started)

    def _load_helpers(self) -> tuple[FaceDetector, GradCam]:
        """The face detector and the Grad-CAM explainer, each warmed by one call (runs on the worker)."""
        cfg = self.config
        detector = FaceDetector(self.device, cfg.face_min_confidence, cfg.min_face_px, cfg.detect_max_side)
        eager = load_trained(self.weights, self.spec, str(self.device))
        self.parameters = sum(p.numel() for p in eager.parameters())
        explainer = GradCam(eager, get_architecture(self.spec.architecture).gradcam_layer)
        blank = Image.new("RGB", (320, 240), (128, 128, 128))
        detector.detect(blank, 1.0, 1)
        explainer.explain(images_to_batch([blank], self.spec), 0.0)
        return detector, explainer

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and not self._stopping

    def begin_shutdown(self) -> None:
        self._stopping = True

    def close(self) -> None:
        self._stopping = True
        if self._ready.is_set():
            self.worker.stop()

    # ---- predictions -----------------------------------------------------------------------------------

    def predict_upload(self, body: bytes, content_type: str, filename: str, explain: bool, is_face_crop: bool,
                       ctx: RequestContext) -> Prediction:
        upload = parse_upload(body, content_type, filename)
        return self.predict(upload.data, upload.filename, explain, is_face_crop, ctx)

    def predict(self, data: bytes, filename: str, explain: bool, is_face_crop: bool,
                ctx: RequestContext) -> Prediction:
        if not self.ready:
            raise ModelNotReady("The model is not ready yet; please retry in a few seconds.")
        # Admission control: beyond max_in_flight, refuse at once rather than queue without bound, so the
        # admitted requests keep a bounded latency and memory stays flat under overload.
        if not self._admission.acquire(blocking=False):
            raise Overloaded("The service is at capacity; please retry in a second.", retry_after_s=1.0)
        try:
            return self._predict(data, filename, explain, is_face_crop, ctx)
        finally:
            self._admission.release()

    def _predict(self, data: bytes, filename: str, explain: bool, is_face_crop: bool,
                 ctx: RequestContext) -> Prediction:
        started = time.perf_counter()
        # "In flight" while this thread prepares work the inference thread will soon get: a batch being
        # gathered may wait for it. Not while waiting on the inference thread itself (face detection).
        with self._in_flight():
            decoded = decode_image(data, self.limits)
        decoded_at = time.perf_counter()
        faces = [] if is_face_crop else self._detect(decoded.image, ctx.abandoned)
        detected_at = time.perf_counter()
        with self._in_flight():
            if faces:
                regions = [self.spec.face_crop.crop_box(f.box) for f in faces]
                crops = [crop_face(decoded.image, f.box, self.spec) for f in faces]
            else:
                regions = [(0.0, 0.0, float(decoded.image.width), float(decoded.image.height))]
                crops = [fit_to_input(decoded.image, self.spec)]
            batch = images_to_batch(crops, self.spec)
        heatmap = b""
        if explain:
            # One eager pass gives both the verdict and the Grad-CAM maps (no second, TorchScript inference).
            decision = self.spec.calibration.decision_logit(self.spec.threshold)
            logits, cams = self.worker.call(lambda: self.explainer.explain(batch, decision), ctx.abandoned).result()
            inferred_at = time.perf_counter()
            heatmap = render_overlay(decoded.image, list(cams), regions, self.config.heatmap_max_side)
        else:
            logits = self.worker.submit(batch, ctx.abandoned).result()
            inferred_at = time.perf_counter()
        probabilities = [self.spec.calibration.probability(z) for z in logits.tolist()]
        finished = time.perf_counter()

        prediction = self._verdict(
            decoded, sanitize_filename(filename), faces, probabilities, ctx.request_id, heatmap,
            Timings(
                decode_ms=_ms(decoded_at - started), faces_ms=_ms(detected_at - decoded_at),
                inference_ms=_ms(inferred_at - detected_at), gradcam_ms=_ms(finished - inferred_at) if explain else 0.0,
                total_ms=_ms(finished - started),
            ),
        )
        return self._record(prediction, data, ctx, explain)

    def _record(self, prediction: Prediction, data: bytes, ctx: RequestContext, explained: bool) -> Prediction:
        """Hand the prediction to the log (never blocking) and to the metrics; returns it with its record id."""
        if self.metrics is not None:
            self.metrics.observe_prediction(prediction)
        if self.prediction_log is None:
            return prediction
        upload_path = ""
        if self.config.store_uploads:
            upload_path = store_upload(self.config.upload_dir, data, prediction.image_sha256, prediction.image_format)
        record = PredictionRecord.of(prediction, self.spec.weights_sha256, ctx.client, explained, upload_path)
        self.prediction_log.record(record)
        return dataclasses.replace(prediction, prediction_id=record.id)

    # ---- history -----------------------------------------------------------------------------------------

    def list_predictions(self, query: HistoryQuery) -> tuple[list[PredictionRecord], str]:
        return list_predictions(self._history_db(), query)

    def get_prediction(self, prediction_id: str) -> PredictionRecord:
        return get_prediction(self._history_db(), prediction_id)

    def _history_db(self) -> Database:
        if self.prediction_log is None:
            raise StorageUnavailable("This server keeps no prediction history.")
        return self.prediction_log.db

    def _detect(self, image: Image.Image, abandoned: Callable[[], bool]) -> list[DetectedFace]:
        small, scale = self.detector.downscale(image)
        return self.worker.call(lambda: self.detector.detect(small, scale, self.config.max_faces), abandoned).result()

    @contextmanager
    def _in_flight(self) -> Iterator[None]:
        with self._pending_lock:
            self._pending += 1
        try:
            yield
        finally:
            with self._pending_lock:
                self._pending -= 1

    def _verdict(self, decoded: DecodedImage, filename: str, faces: list[DetectedFace], probabilities: list[float],
                 request_id: str, heatmap: bytes, timings: Timings) -> Prediction:
        spec = self.spec
        results = tuple(
            FaceResult(
                box=_clamp(f.box, decoded.scale, decoded.width, decoded.height), detection_confidence=f.confidence,
                fake_probability=p, label=spec.label_for(p), confidence=_confidence(p, spec.threshold),
                verdict=spec.verdict_for(p),
            )
            for f, p in zip(faces, probabilities if faces else [], strict=True)
        )
        image_probability = max(probabilities)
        label = spec.label_for(image_probability)
        # Without faces the whole image was classified: its probability gives the verdict.
        verdict = (image_verdict([f.verdict for f in results], spec.labels) if results
                   else spec.verdict_for(image_probability))
        return Prediction(
            prediction=label, verdict=verdict, confidence=_confidence(image_probability, spec.threshold),
            explanation=_explain(results, image_probability, verdict, spec.labels),
            filename=filename, model=spec.name or spec.architecture, device=str(self.device),
            engine=self.config.engine, fake_probability=image_probability, threshold=spec.threshold,
            faces=results, face_found=bool(results), request_id=request_id, image_sha256=decoded.sha256,
            image_width=decoded.width, image_height=decoded.height, image_format=decoded.format,
            image_bytes=decoded.size_bytes, timings=timings, heatmap_png=heatmap,
        )

    # ---- information -----------------------------------------------------------------------------------

    def health(self) -> Health:
        status = "stopping" if self._stopping else ("healthy" if self._ready.is_set() else "starting")
        return Health(status=status, app=APP_NAME, version=__version__, model_loaded=self._ready.is_set())

    def model_info(self) -> ModelInfo:
        if not self._ready.is_set():
            raise ModelNotReady("The model is not loaded yet; please retry in a few seconds.")
        spec = self.spec
        c = spec.calibration
        band = spec.uncertain
        val = spec.metrics.get("val", {})
        return ModelInfo(
            model_name=spec.name or spec.architecture, device=str(self.device), model_path=str(self.weights),
            total_parameters=self.parameters, trainable_parameters=self.parameters,
            architecture=spec.architecture, engine=self.config.engine, input_size=spec.input_size,
            labels=spec.labels, threshold=spec.threshold,
            calibration=f"{c.method}: p = sigmoid({c.scale:.4f} * logit + {c.bias:.4f}), "
            f"fitted on {c.fitted_on or 'nothing'}",
            face_detector=f"{spec.face_crop.detector} (facenet-pytorch)", weights_sha256=spec.weights_sha256,
            init=spec.init, version=__version__, metrics=val,
            # Without a band, low == high == threshold: where the verdict changes, as with a band.
            uncertain_band=UncertainBandInfo(
                low=band.low if band.banded else spec.threshold, high=band.high if band.banded else spec.threshold,
                target_precision=band.target_precision, fitted_on=band.fitted_on,
                measured={k: float(v) for k, v in band.measured.items()  # numbers only; NaN: not measurable
                          if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)},
            ),
            metrics_dataset=f"{spec.training.get('data', '?')}: {spec.training.get('split', '')}" if val else "",
        )


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def _confidence(probability: float, threshold: float) -> float:
    """0-100 confidence in the label the probability gets (the original app's `confidence`)."""
    return round(100.0 * (probability if probability >= threshold else 1.0 - probability), 2)


def _clamp(box: tuple[float, float, float, float], scale: float, width: int, height: int) -> Box:
    """A detector box (pixels of the decoded image) in pixels of the uploaded image, inside its bounds."""
    x0, y0, x1, y1 = (v / scale for v in box)
    return Box(max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))


def image_verdict(face_verdicts: Sequence[str], labels: tuple[str, str]) -> str:
    """The image's verdict from its faces': Deepfake when any face is, else Uncertain when any face is, else Real."""
    real, deepfake = labels
    if deepfake in face_verdicts:
        return deepfake
    if UNCERTAIN in face_verdicts:
        return UNCERTAIN
    return real


def _numbers(indices: list[int]) -> tuple[str, str]:
    """("face 2", "shows") or ("faces 1, 3", "show") for 1-based face numbers."""
    if len(indices) == 1:
        return f"face {indices[0]}", "shows"
    return f"faces {', '.join(str(i) for i in indices)}", "show"


def _explain(faces: tuple[FaceResult, ...], probability: float, verdict: str, labels: tuple[str, str]) -> str:
    real, deepfake = labels
    pct = f"{probability * 100:.0f}%"
    if len(faces) <= 1:
        if verdict == UNCERTAIN:
            finding = (f"the model cannot tell whether it is authentic (deepfake probability {pct}), "
                       "so it needs a human look")
        else:
            finding = (f"it {'looks authentic' if verdict == real else 'shows signs of manipulation'} "
                       f"(deepfake probability {pct})")
        if not faces:
            return (f"No face was found, so the whole image was analysed; {finding}. "
                    "Results are less reliable without a face.")
        return f"One face was analysed; {finding}."
    fakes = [i + 1 for i, f in enumerate(faces) if f.verdict == deepfake]
    unsure = [i + 1 for i, f in enumerate(faces) if f.verdict == UNCERTAIN]
    if fakes:
        which, verb = _numbers(fakes)
        text = (f"{len(faces)} faces were analysed; {which} (numbered largest first) {verb} signs of manipulation "
                f"(highest deepfake probability {pct}).")
        if unsure:
            which, _ = _numbers(unsure)
            text += f" The model cannot tell whether {which} {'is' if len(unsure) == 1 else 'are'} authentic."
        return text
    if unsure:
        which, _ = _numbers(unsure)
        return (f"{len(faces)} faces were analysed; the model cannot tell whether {which} (numbered largest first) "
                f"{'is' if len(unsure) == 1 else 'are'} authentic, so the image needs a human look "
                f"(highest deepfake probability {pct}).")
    return f"{len(faces)} faces were analysed; all look authentic (highest deepfake probability {pct})."
