"""glibc malloc settings for a long-running inference process (no-op where glibc is absent).

Measured on the project's 2-core VMs (docs/benchmarks.md): page faults are expensive there, and glibc by
default hands large buffers back to the OS after every forward pass and gives each request thread its own
arena. Keeping big buffers mapped and capping the arenas made a face-crop request ~25% faster and kept the
server's peak RSS under load ~200 MB lower.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# mallopt parameter numbers from <malloc.h>.
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

SETTINGS = (
    (M_ARENA_MAX, 2),  # request threads share two arenas instead of 8 per core
    (M_MMAP_THRESHOLD, 64 << 20),  # activations up to 64 MB come from the heap, not fresh mmaps
    (M_TRIM_THRESHOLD, 256 << 20),  # and freed memory stays mapped for the next pass
    (M_TOP_PAD, 64 << 20),
)


def tune_malloc() -> bool:
    """Apply SETTINGS; call before the server starts its threads. Returns whether glibc accepted them."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    accepted = all(mallopt(param, value) == 1 for param, value in SETTINGS)
    if not accepted:
        log.warning("glibc refused some malloc settings; inference may be slower")
    return accepted
