"""The one place where generated protobuf messages become the public dataclasses."""

from __future__ import annotations

from datetime import datetime

from deepfake.v1 import detector_pb2

from .models import (
    Box,
    Face,
    Health,
    ModelInfo,
    ModelMetrics,
    Prediction,
    PredictionRecord,
    Timings,
    UncertainBand,
)


def box_from_pb(msg: detector_pb2.Box) -> Box:
    return Box(x_min=msg.x_min, y_min=msg.y_min, x_max=msg.x_max, y_max=msg.y_max)


def face_from_pb(msg: detector_pb2.Face) -> Face:
    return Face(
        box=box_from_pb(msg.box),
        detection_confidence=msg.detection_confidence,
        fake_probability=msg.fake_probability,
        label=msg.label,
        confidence=msg.confidence,
        # Servers older than verdicts send none: without a band the verdict is the label.
        verdict=msg.verdict or msg.label,
    )


def timings_from_pb(msg: detector_pb2.StageTimings) -> Timings:
    return Timings(
        decode_ms=msg.decode_ms,
        faces_ms=msg.faces_ms,
        inference_ms=msg.inference_ms,
        gradcam_ms=msg.gradcam_ms,
        total_ms=msg.total_ms,
    )


def prediction_from_pb(msg: detector_pb2.PredictResponse) -> Prediction:
    return Prediction(
        prediction=msg.prediction,
        confidence=msg.confidence,
        explanation=msg.explanation,
        filename=msg.filename,
        model=msg.model,
        device=msg.device,
        grad_cam_available=msg.grad_cam_available,
        fake_probability=msg.fake_probability,
        faces=tuple(face_from_pb(face) for face in msg.faces),
        face_found=msg.face_found,
        # proto3 bytes have no presence: empty means "no heatmap", which callers test with `is None`.
        heatmap_png=msg.heatmap_png or None,
        request_id=msg.request_id,
        image_sha256=msg.image_sha256,
        timings=timings_from_pb(msg.timings),
        image_width=msg.image_width,
        image_height=msg.image_height,
        engine=msg.engine,
        threshold=msg.threshold,
        prediction_id=msg.prediction_id,
        verdict=msg.verdict or msg.prediction,
    )


def record_from_pb(msg: detector_pb2.PredictionRecord) -> PredictionRecord:
    return PredictionRecord(
        id=msg.id,
        created_at=datetime.fromisoformat(msg.created_at),
        request_id=msg.request_id,
        filename=msg.filename,
        image_sha256=msg.image_sha256,
        image_bytes=msg.image_bytes,
        image_width=msg.image_width,
        image_height=msg.image_height,
        image_format=msg.image_format,
        prediction=msg.prediction,
        fake_probability=msg.fake_probability,
        confidence=msg.confidence,
        faces=tuple(face_from_pb(face) for face in msg.faces),
        model=msg.model,
        weights_sha256=msg.weights_sha256,
        engine=msg.engine,
        device=msg.device,
        latency_ms=msg.latency_ms,
        client=msg.client,
        explained=msg.explained,
        verdict=msg.verdict or msg.prediction,
    )


def health_from_pb(msg: detector_pb2.HealthResponse) -> Health:
    return Health(status=msg.status, app=msg.app, version=msg.version, model_loaded=msg.model_loaded)


def metrics_from_pb(msg: detector_pb2.ModelMetrics) -> ModelMetrics:
    return ModelMetrics(
        dataset=msg.dataset,
        images=msg.images,
        auc=msg.auc,
        accuracy=msg.accuracy,
        precision=msg.precision,
        recall=msg.recall,
        log_loss=msg.log_loss,
        expected_calibration_error=msg.expected_calibration_error,
    )


def band_from_pb(msg: detector_pb2.UncertainBand) -> UncertainBand:
    return UncertainBand(
        low=msg.low,
        high=msg.high,
        target_precision=msg.target_precision,
        fitted_on=msg.fitted_on,
        abstention_share=msg.abstention_share,
        real_precision=msg.real_precision,
        deepfake_precision=msg.deepfake_precision,
        measured=dict(msg.measured),
    )


def model_info_from_pb(msg: detector_pb2.ModelInfoResponse) -> ModelInfo:
    return ModelInfo(
        model_name=msg.model_name,
        device=msg.device,
        model_path=msg.model_path,
        total_parameters=msg.total_parameters,
        trainable_parameters=msg.trainable_parameters,
        architecture=msg.architecture,
        engine=msg.engine,
        input_size=msg.input_size,
        labels=tuple(msg.labels),
        threshold=msg.threshold,
        calibration=msg.calibration,
        face_detector=msg.face_detector,
        weights_sha256=msg.weights_sha256,
        init=msg.init,
        metrics=metrics_from_pb(msg.metrics) if msg.HasField("metrics") else None,
        version=msg.version,
        uncertain_band=band_from_pb(msg.uncertain_band) if msg.HasField("uncertain_band") else None,
    )
