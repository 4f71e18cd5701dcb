"""Fuzz ``server.imaging.decode.decode_image`` (coverage-guided, atheris/libFuzzer).

Contract under test: any bytes either decode to an 8-bit RGB image within the limits, or raise
``InvalidImage`` (``ImageTooLarge`` is a subclass) with a message written for a user. Any other exception,
or a result that breaks the invariants below, is a finding: libFuzzer stops and writes the input to
``crash-<sha1>`` (in the current folder, or ``-artifact_prefix``).

Coverage covers the Python code of ``server.imaging`` and of Pillow's JPEG/MPO/PNG/WebP/TIFF(EXIF) plugins;
Pillow's C decoders (libjpeg, zlib, libwebp) run but are not instrumented.

Run longer by hand (the corpus grows in build/fuzz/decode/):

    .venv/bin/python -m tests.fuzz.fuzz_decode -max_total_time=600 -print_final_stats=1
    .venv/bin/python -m tests.fuzz.fuzz_decode crash-0123abcd   # re-run one input

The limits are the server's defaults (``Config()``), so what is fuzzed is what the service runs.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["server.imaging", "PIL"]):
    from PIL import (  # noqa: F401  (imported here so that atheris instruments them)
        Image,
        ImageFile,
        ImageOps,
        JpegImagePlugin,
        MpoImagePlugin,
        PngImagePlugin,
        TiffImagePlugin,
        WebPImagePlugin,
    )

    from server.errors import InvalidImage
    from server.imaging.decode import SUPPORTED_FORMATS, DecodedImage, ImageLimits, decode_image

from server.config import Config
from tests.fuzz.runner import is_user_message, run
from tests.fuzz.seeds import image_seeds

_CONFIG = Config()
LIMITS = ImageLimits(max_bytes=_CONFIG.max_image_bytes, max_pixels=_CONFIG.max_pixels,
                     decode_max_side=_CONFIG.decode_max_side)


class Finding(AssertionError):
    """The decoder broke its contract on this input."""


def test_one_input(data: bytes) -> None:
    try:
        result = decode_image(data, LIMITS)
    except InvalidImage as exc:
        if not is_user_message(str(exc)):
            raise Finding(f"unreadable message: {str(exc)!r}") from exc
        return
    check(result, data)


def check(result: DecodedImage, data: bytes) -> None:
    if not isinstance(result, DecodedImage):
        raise Finding(f"not a DecodedImage: {type(result)}")
    if result.image.mode != "RGB":
        raise Finding(f"mode {result.image.mode}, not RGB")
    if result.format not in SUPPORTED_FORMATS:
        raise Finding(f"format {result.format}")
    if not (result.width >= 1 and result.height >= 1 and result.width * result.height <= LIMITS.max_pixels):
        raise Finding(f"size {result.width} x {result.height} outside the limits")
    if not (0 < result.scale <= 1) or result.size_bytes != len(data):
        raise Finding(f"scale {result.scale}, size_bytes {result.size_bytes} of {len(data)}")
    w, h = result.image.size
    if (w, h) != (result.width, result.height) and result.scale == 1.0:
        raise Finding(f"decoded {w} x {h} but reports {result.width} x {result.height}")


def main() -> None:
    run("decode", test_one_input, image_seeds)


if __name__ == "__main__":
    main()
