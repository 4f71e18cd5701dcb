"""Deepfake detection gRPC service (``python -m server``)."""

APP_NAME = "Deepfake Detection API"
__version__ = "0.1.0"
