"""The original app's design, for comparison: eager PyTorch, PIL + torchvision preprocessing of the whole
image, one request at a time. Same API and weights as the real server, no face detection.

    python -m bench.naive_server --port 50070
"""

from __future__ import annotations

import argparse
import io
import signal
import threading
from concurrent import futures
from pathlib import Path

import grpc
import torch
from deepfake.v1 import detector_pb2 as pb
from deepfake.v1 import detector_pb2_grpc as pb_grpc
from PIL import Image
from torchvision import transforms

from server.app import MESSAGE_LIMIT
from server.config import DEFAULT_WEIGHTS
from server.model.factory import load_trained
from server.model.spec import ModelSpec


class NaiveServicer(pb_grpc.DeepfakeDetectorServicer):
    def __init__(self, weights: Path) -> None:
        self.spec = ModelSpec.load(weights)
        self.model = load_trained(weights, self.spec)
        self.transform = transforms.Compose([
            transforms.Resize((self.spec.input_size, self.spec.input_size)),
            transforms.ToTensor(),
            transforms.Normalize(self.spec.mean, self.spec.std),
        ])

    def Predict(self, request: pb.PredictRequest, context: grpc.ServicerContext) -> pb.PredictResponse:  # noqa: N802
        image = Image.open(io.BytesIO(request.image)).convert("RGB")
        with torch.no_grad():
            logit = float(self.model(self.transform(image).unsqueeze(0)))
        p = self.spec.calibration.probability(logit)
        label = self.spec.label_for(p)
        return pb.PredictResponse(prediction=label, confidence=100 * (p if label == "Deepfake" else 1 - p),
                                  fake_probability=p, filename=request.filename, model="naive", device="cpu")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), maximum_concurrent_rpcs=None,
                         options=[("grpc.max_receive_message_length", MESSAGE_LIMIT)])
    pb_grpc.add_DeepfakeDetectorServicer_to_server(NaiveServicer(args.weights), server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop(0)


if __name__ == "__main__":
    main()
