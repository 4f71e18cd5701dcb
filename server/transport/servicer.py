"""DeepfakeDetector RPCs: convert the request, call the service, convert the answer. Errors are mapped to
status codes by the error interceptor, not here."""

from __future__ import annotations

import grpc
from deepfake.v1 import detector_pb2 as pb
from deepfake.v1 import detector_pb2_grpc as pb_grpc

from server.service import DetectionService
from server.storage.queries import HistoryQuery
from server.transport import codec
from server.transport.context import request_context


class DeepfakeDetectorServicer(pb_grpc.DeepfakeDetectorServicer):
    def __init__(self, service: DetectionService) -> None:
        self.service = service

    def Predict(self, request: pb.PredictRequest, context: grpc.ServicerContext) -> pb.PredictResponse:  # noqa: N802
        result = self.service.predict(request.image, request.filename, request.explain, request.is_face_crop,
                                      request_context(context))
        return codec.prediction_to_pb(result)

    def PredictUpload(self, request: pb.PredictUploadRequest,  # noqa: N802
                      context: grpc.ServicerContext) -> pb.PredictResponse:
        result = self.service.predict_upload(
            request.file.data, request.file.content_type, request.filename, request.explain, request.is_face_crop,
            request_context(context),
        )
        return codec.prediction_to_pb(result)

    def Health(self, request: pb.HealthRequest, context: grpc.ServicerContext) -> pb.HealthResponse:  # noqa: N802
        return codec.health_to_pb(self.service.health())

    def ModelInfo(self, request: pb.ModelInfoRequest,  # noqa: N802
                  context: grpc.ServicerContext) -> pb.ModelInfoResponse:
        return codec.model_info_to_pb(self.service.model_info())

    def ListPredictions(self, request: pb.ListPredictionsRequest,  # noqa: N802
                        context: grpc.ServicerContext) -> pb.ListPredictionsResponse:
        records, token = self.service.list_predictions(HistoryQuery(
            start_time=request.start_time, end_time=request.end_time, verdict=request.verdict,
            page_size=request.page_size, page_token=request.page_token,
        ))
        return pb.ListPredictionsResponse(predictions=[codec.record_to_pb(r) for r in records], next_page_token=token)

    def GetPrediction(self, request: pb.GetPredictionRequest,  # noqa: N802
                      context: grpc.ServicerContext) -> pb.PredictionRecord:
        return codec.record_to_pb(self.service.get_prediction(request.id))

