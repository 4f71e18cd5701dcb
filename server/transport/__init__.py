"""gRPC transport: servicer, protobuf codec and interceptors (the only layer that imports *_pb2)."""
