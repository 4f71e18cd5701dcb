"""``python -m deepfake_client``: the same CLI as ``deepfake-detect``."""

import sys

from .cli import main

sys.exit(main())
