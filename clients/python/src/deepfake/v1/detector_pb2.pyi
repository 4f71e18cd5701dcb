from google.api import annotations_pb2 as _annotations_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PredictRequest(_message.Message):
    __slots__ = ("image", "filename", "explain", "is_face_crop")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    IS_FACE_CROP_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    filename: str
    explain: bool
    is_face_crop: bool
    def __init__(self, image: _Optional[bytes] = ..., filename: _Optional[str] = ..., explain: _Optional[bool] = ..., is_face_crop: _Optional[bool] = ...) -> None: ...

class PredictUploadRequest(_message.Message):
    __slots__ = ("file", "filename", "explain", "is_face_crop")
    FILE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    IS_FACE_CROP_FIELD_NUMBER: _ClassVar[int]
    file: _httpbody_pb2.HttpBody
    filename: str
    explain: bool
    is_face_crop: bool
    def __init__(self, file: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ..., filename: _Optional[str] = ..., explain: _Optional[bool] = ..., is_face_crop: _Optional[bool] = ...) -> None: ...

class Box(_message.Message):
    __slots__ = ("x_min", "y_min", "x_max", "y_max")
    X_MIN_FIELD_NUMBER: _ClassVar[int]
    Y_MIN_FIELD_NUMBER: _ClassVar[int]
    X_MAX_FIELD_NUMBER: _ClassVar[int]
    Y_MAX_FIELD_NUMBER: _ClassVar[int]
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    def __init__(self, x_min: _Optional[float] = ..., y_min: _Optional[float] = ..., x_max: _Optional[float] = ..., y_max: _Optional[float] = ...) -> None: ...

class Face(_message.Message):
    __slots__ = ("box", "detection_confidence", "fake_probability", "label", "confidence", "verdict")
    BOX_FIELD_NUMBER: _ClassVar[int]
    DETECTION_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    FAKE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    box: Box
    detection_confidence: float
    fake_probability: float
    label: str
    confidence: float
    verdict: str
    def __init__(self, box: _Optional[_Union[Box, _Mapping]] = ..., detection_confidence: _Optional[float] = ..., fake_probability: _Optional[float] = ..., label: _Optional[str] = ..., confidence: _Optional[float] = ..., verdict: _Optional[str] = ...) -> None: ...

class StageTimings(_message.Message):
    __slots__ = ("decode_ms", "faces_ms", "inference_ms", "gradcam_ms", "total_ms")
    DECODE_MS_FIELD_NUMBER: _ClassVar[int]
    FACES_MS_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_MS_FIELD_NUMBER: _ClassVar[int]
    GRADCAM_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    decode_ms: float
    faces_ms: float
    inference_ms: float
    gradcam_ms: float
    total_ms: float
    def __init__(self, decode_ms: _Optional[float] = ..., faces_ms: _Optional[float] = ..., inference_ms: _Optional[float] = ..., gradcam_ms: _Optional[float] = ..., total_ms: _Optional[float] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("prediction", "confidence", "explanation", "filename", "model", "device", "grad_cam_available", "fake_probability", "faces", "face_found", "heatmap_png", "request_id", "image_sha256", "timings", "image_width", "image_height", "engine", "threshold", "prediction_id", "verdict")
    PREDICTION_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    GRAD_CAM_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    FAKE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    FACE_FOUND_FIELD_NUMBER: _ClassVar[int]
    HEATMAP_PNG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_SHA256_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    prediction: str
    confidence: float
    explanation: str
    filename: str
    model: str
    device: str
    grad_cam_available: bool
    fake_probability: float
    faces: _containers.RepeatedCompositeFieldContainer[Face]
    face_found: bool
    heatmap_png: bytes
    request_id: str
    image_sha256: str
    timings: StageTimings
    image_width: int
    image_height: int
    engine: str
    threshold: float
    prediction_id: str
    verdict: str
    def __init__(self, prediction: _Optional[str] = ..., confidence: _Optional[float] = ..., explanation: _Optional[str] = ..., filename: _Optional[str] = ..., model: _Optional[str] = ..., device: _Optional[str] = ..., grad_cam_available: _Optional[bool] = ..., fake_probability: _Optional[float] = ..., faces: _Optional[_Iterable[_Union[Face, _Mapping]]] = ..., face_found: _Optional[bool] = ..., heatmap_png: _Optional[bytes] = ..., request_id: _Optional[str] = ..., image_sha256: _Optional[str] = ..., timings: _Optional[_Union[StageTimings, _Mapping]] = ..., image_width: _Optional[int] = ..., image_height: _Optional[int] = ..., engine: _Optional[str] = ..., threshold: _Optional[float] = ..., prediction_id: _Optional[str] = ..., verdict: _Optional[str] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ("status", "app", "version", "model_loaded")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_LOADED_FIELD_NUMBER: _ClassVar[int]
    status: str
    app: str
    version: str
    model_loaded: bool
    def __init__(self, status: _Optional[str] = ..., app: _Optional[str] = ..., version: _Optional[str] = ..., model_loaded: _Optional[bool] = ...) -> None: ...

class ModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelMetrics(_message.Message):
    __slots__ = ("dataset", "images", "auc", "accuracy", "precision", "recall", "log_loss", "expected_calibration_error")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    AUC_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    RECALL_FIELD_NUMBER: _ClassVar[int]
    LOG_LOSS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_CALIBRATION_ERROR_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    images: int
    auc: float
    accuracy: float
    precision: float
    recall: float
    log_loss: float
    expected_calibration_error: float
    def __init__(self, dataset: _Optional[str] = ..., images: _Optional[int] = ..., auc: _Optional[float] = ..., accuracy: _Optional[float] = ..., precision: _Optional[float] = ..., recall: _Optional[float] = ..., log_loss: _Optional[float] = ..., expected_calibration_error: _Optional[float] = ...) -> None: ...

class UncertainBand(_message.Message):
    __slots__ = ("low", "high", "target_precision", "fitted_on", "abstention_share", "real_precision", "deepfake_precision", "measured")
    class MeasuredEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    TARGET_PRECISION_FIELD_NUMBER: _ClassVar[int]
    FITTED_ON_FIELD_NUMBER: _ClassVar[int]
    ABSTENTION_SHARE_FIELD_NUMBER: _ClassVar[int]
    REAL_PRECISION_FIELD_NUMBER: _ClassVar[int]
    DEEPFAKE_PRECISION_FIELD_NUMBER: _ClassVar[int]
    MEASURED_FIELD_NUMBER: _ClassVar[int]
    low: float
    high: float
    target_precision: float
    fitted_on: str
    abstention_share: float
    real_precision: float
    deepfake_precision: float
    measured: _containers.ScalarMap[str, float]
    def __init__(self, low: _Optional[float] = ..., high: _Optional[float] = ..., target_precision: _Optional[float] = ..., fitted_on: _Optional[str] = ..., abstention_share: _Optional[float] = ..., real_precision: _Optional[float] = ..., deepfake_precision: _Optional[float] = ..., measured: _Optional[_Mapping[str, float]] = ...) -> None: ...

class ModelInfoResponse(_message.Message):
    __slots__ = ("model_name", "device", "model_path", "total_parameters", "trainable_parameters", "architecture", "engine", "input_size", "labels", "threshold", "calibration", "face_detector", "weights_sha256", "init", "metrics", "version", "uncertain_band")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    MODEL_PATH_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    TRAINABLE_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    INPUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_FIELD_NUMBER: _ClassVar[int]
    FACE_DETECTOR_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_SHA256_FIELD_NUMBER: _ClassVar[int]
    INIT_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UNCERTAIN_BAND_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    device: str
    model_path: str
    total_parameters: int
    trainable_parameters: int
    architecture: str
    engine: str
    input_size: int
    labels: _containers.RepeatedScalarFieldContainer[str]
    threshold: float
    calibration: str
    face_detector: str
    weights_sha256: str
    init: str
    metrics: ModelMetrics
    version: str
    uncertain_band: UncertainBand
    def __init__(self, model_name: _Optional[str] = ..., device: _Optional[str] = ..., model_path: _Optional[str] = ..., total_parameters: _Optional[int] = ..., trainable_parameters: _Optional[int] = ..., architecture: _Optional[str] = ..., engine: _Optional[str] = ..., input_size: _Optional[int] = ..., labels: _Optional[_Iterable[str]] = ..., threshold: _Optional[float] = ..., calibration: _Optional[str] = ..., face_detector: _Optional[str] = ..., weights_sha256: _Optional[str] = ..., init: _Optional[str] = ..., metrics: _Optional[_Union[ModelMetrics, _Mapping]] = ..., version: _Optional[str] = ..., uncertain_band: _Optional[_Union[UncertainBand, _Mapping]] = ...) -> None: ...

class ListPredictionsRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "verdict", "page_size", "page_token")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    start_time: str
    end_time: str
    verdict: str
    page_size: int
    page_token: str
    def __init__(self, start_time: _Optional[str] = ..., end_time: _Optional[str] = ..., verdict: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPredictionsResponse(_message.Message):
    __slots__ = ("predictions", "next_page_token")
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    predictions: _containers.RepeatedCompositeFieldContainer[PredictionRecord]
    next_page_token: str
    def __init__(self, predictions: _Optional[_Iterable[_Union[PredictionRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPredictionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class PredictionRecord(_message.Message):
    __slots__ = ("id", "created_at", "request_id", "filename", "image_sha256", "image_bytes", "image_width", "image_height", "image_format", "prediction", "fake_probability", "confidence", "faces", "model", "weights_sha256", "engine", "device", "latency_ms", "client", "explained", "verdict")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_SHA256_FIELD_NUMBER: _ClassVar[int]
    IMAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_FIELD_NUMBER: _ClassVar[int]
    FAKE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_SHA256_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    EXPLAINED_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    id: str
    created_at: str
    request_id: str
    filename: str
    image_sha256: str
    image_bytes: int
    image_width: int
    image_height: int
    image_format: str
    prediction: str
    fake_probability: float
    confidence: float
    faces: _containers.RepeatedCompositeFieldContainer[Face]
    model: str
    weights_sha256: str
    engine: str
    device: str
    latency_ms: float
    client: str
    explained: bool
    verdict: str
    def __init__(self, id: _Optional[str] = ..., created_at: _Optional[str] = ..., request_id: _Optional[str] = ..., filename: _Optional[str] = ..., image_sha256: _Optional[str] = ..., image_bytes: _Optional[int] = ..., image_width: _Optional[int] = ..., image_height: _Optional[int] = ..., image_format: _Optional[str] = ..., prediction: _Optional[str] = ..., fake_probability: _Optional[float] = ..., confidence: _Optional[float] = ..., faces: _Optional[_Iterable[_Union[Face, _Mapping]]] = ..., model: _Optional[str] = ..., weights_sha256: _Optional[str] = ..., engine: _Optional[str] = ..., device: _Optional[str] = ..., latency_ms: _Optional[float] = ..., client: _Optional[str] = ..., explained: _Optional[bool] = ..., verdict: _Optional[str] = ...) -> None: ...
