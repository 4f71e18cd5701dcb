"""``python -m server``: run the gRPC server (see ``--help`` for flags and DEEPFAKE_* variables)."""

import os
import sys

# Before torch loads OpenMP: idle OpenMP workers must sleep, not spin, or they take the cores that ONNX
# Runtime and the request threads need (the default engine ran 7 ms instead of 11 ms per crop with this).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from server.app import main  # the environment above must be set first

sys.exit(main())
