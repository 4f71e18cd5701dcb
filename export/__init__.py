"""Checkpoint -> inference artifacts (TorchScript, TensorRT), each verified against the eager model."""
