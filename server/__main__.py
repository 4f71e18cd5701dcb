"""``python -m server``: run the gRPC server (see ``--help`` for flags and DEEPFAKE_* variables)."""

import sys

from server.app import main

sys.exit(main())
