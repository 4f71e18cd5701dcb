"""Conversions between protobuf messages and the service's domain objects, in one place."""

from __future__ import annotations

from deepfake.v1 import detector_pb2 as pb

from server.domain import FaceResult, Health, ModelInfo, Prediction, UncertainBandInfo
from server.storage.records import PredictionRecord


def face_to_pb(f: FaceResult) -> pb.Face:
    return pb.Face(
        box=pb.Box(x_min=f.box.x_min, y_min=f.box.y_min, x_max=f.box.x_max, y_max=f.box.y_max),
        detection_confidence=f.detection_confidence,
        fake_probability=f.fake_probability,
        label=f.label,
        confidence=f.confidence,
        verdict=f.verdict,
    )


def prediction_to_pb(p: Prediction) -> pb.PredictResponse:
    return pb.PredictResponse(
        prediction=p.prediction,
        verdict=p.verdict,
        confidence=p.confidence,
        explanation=p.explanation,
        filename=p.filename,
        model=p.model,
        device=p.device,
        grad_cam_available=p.grad_cam_available,
        fake_probability=p.fake_probability,
        faces=[face_to_pb(f) for f in p.faces],
        prediction_id=p.prediction_id,
        face_found=p.face_found,
        heatmap_png=p.heatmap_png,
        request_id=p.request_id,
        image_sha256=p.image_sha256,
        timings=pb.StageTimings(
            decode_ms=p.timings.decode_ms,
            faces_ms=p.timings.faces_ms,
            inference_ms=p.timings.inference_ms,
            gradcam_ms=p.timings.gradcam_ms,
            total_ms=p.timings.total_ms,
        ),
        image_width=p.image_width,
        image_height=p.image_height,
        engine=p.engine,
        threshold=p.threshold,
    )


def health_to_pb(h: Health) -> pb.HealthResponse:
    return pb.HealthResponse(status=h.status, app=h.app, version=h.version, model_loaded=h.model_loaded)


def band_to_pb(b: UncertainBandInfo) -> pb.UncertainBand:
    return pb.UncertainBand(
        low=b.low,
        high=b.high,
        target_precision=b.target_precision,
        fitted_on=b.fitted_on,
        # The names training.metrics.fit_uncertain_band gives them in the spec.
        abstention_share=b.measured.get("uncertain_share", 0.0),
        real_precision=b.measured.get("precision_real", 0.0),
        deepfake_precision=b.measured.get("precision_deepfake", 0.0),
        measured=b.measured,
    )


def model_info_to_pb(m: ModelInfo) -> pb.ModelInfoResponse:
    metrics = m.metrics
    return pb.ModelInfoResponse(
        model_name=m.model_name,
        device=m.device,
        model_path=m.model_path,
        total_parameters=m.total_parameters,
        trainable_parameters=m.trainable_parameters,
        architecture=m.architecture,
        engine=m.engine,
        input_size=m.input_size,
        labels=list(m.labels),
        threshold=m.threshold,
        calibration=m.calibration,
        face_detector=m.face_detector,
        weights_sha256=m.weights_sha256,
        init=m.init,
        metrics=pb.ModelMetrics(
            dataset=m.metrics_dataset,
            images=int(metrics.get("n", 0)),
            auc=float(metrics.get("auc", 0.0)),
            accuracy=float(metrics.get("accuracy", 0.0)),
            precision=float(metrics.get("precision", 0.0)),
            recall=float(metrics.get("recall", 0.0)),
            log_loss=float(metrics.get("log_loss", 0.0)),
            expected_calibration_error=float(metrics.get("ece", 0.0)),
        ),
        version=m.version,
        uncertain_band=band_to_pb(m.uncertain_band),
    )


def record_to_pb(r: PredictionRecord) -> pb.PredictionRecord:
    return pb.PredictionRecord(
        id=r.id,
        created_at=r.created_at.isoformat().replace("+00:00", "Z"),
        request_id=r.request_id,
        filename=r.filename,
        image_sha256=r.image_sha256,
        image_bytes=r.image_bytes,
        image_width=r.image_width,
        image_height=r.image_height,
        image_format=r.image_format,
        prediction=r.prediction,
        verdict=r.verdict,
        fake_probability=r.fake_probability,
        confidence=r.confidence,
        faces=[pb.Face(box=pb.Box(**f["box"]), detection_confidence=f["detection_confidence"],
                       fake_probability=f["fake_probability"], label=f["label"], confidence=f["confidence"],
                       verdict=f["verdict"])
               for f in r.faces],
        model=r.model,
        weights_sha256=r.weights_sha256,
        engine=r.engine,
        device=r.device,
        latency_ms=r.latency_ms,
        client=r.client,
        explained=r.explained,
    )
