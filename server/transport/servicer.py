"""DeepfakeDetector RPCs: convert the request, call the service, convert the answer. Errors are mapped to
status codes by the error interceptor, not here."""

from __future__ import annotations

import grpc
from deepfake.v1 import detector_pb2 as pb
from deepfake.v1 import detector_pb2_grpc as pb_grpc

from server.logs import request_id_var
from server.service import DetectionService
from server.transport import codec


class DeepfakeDetectorServicer(pb_grpc.DeepfakeDetectorServicer):
    def __init__(self, service: DetectionService) -> None:
        self.service = service

    def Predict(self, request: pb.PredictRequest, context: grpc.ServicerContext) -> pb.PredictResponse:  # noqa: N802
        result = self.service.predict(request.image, request.filename, request.explain, request.is_face_crop,
                                      request_id_var.get(), abandoned=lambda: not context.is_active())
        return codec.prediction_to_pb(result)

    def PredictUpload(self, request: pb.PredictUploadRequest,  # noqa: N802
                      context: grpc.ServicerContext) -> pb.PredictResponse:
        result = self.service.predict_upload(
            request.file.data, request.file.content_type, request.filename, request.explain, request.is_face_crop,
            request_id_var.get(), abandoned=lambda: not context.is_active(),
        )
        return codec.prediction_to_pb(result)

    def Health(self, request: pb.HealthRequest, context: grpc.ServicerContext) -> pb.HealthResponse:  # noqa: N802
        return codec.health_to_pb(self.service.health())

    def ModelInfo(self, request: pb.ModelInfoRequest,  # noqa: N802
                  context: grpc.ServicerContext) -> pb.ModelInfoResponse:
        return codec.model_info_to_pb(self.service.model_info())
