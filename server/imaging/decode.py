"""Uploaded bytes -> a validated RGB image, on the hot path of every request.

The steps run cheapest first, so hostile input is rejected before it costs memory or CPU:

    size in bytes -> format by magic number -> header only (dimensions) -> pixel limit -> full decode
    -> EXIF orientation -> RGB

Every failure is an ``InvalidImage`` (or ``ImageTooLarge``) whose message is written for the user; PIL's own
exception text never reaches them. Nothing here touches PIL's global settings (``Image.MAX_IMAGE_PIXELS``,
``ImageFile.LOAD_TRUNCATED_IMAGES``), which other code in the process may rely on.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from server.errors import ImageTooLarge, InvalidImage

__all__ = ["SUPPORTED_FORMATS", "DecodedImage", "ImageLimits", "decode_image", "sniff_format"]

logger = logging.getLogger(__name__)

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP")

# No JPEG or WebP can be wider or taller than this (their headers hold 16 bits); only PNG can claim more, and
# a 70000 x 10 "image" that fits the pixel budget is still not a photograph worth decoding.
MAX_SIDE = 65_535

# PIL formats accepted for each sniffed format: a JPEG with a multi-picture (MPO) extension, which many
# phone cameras write, opens as "MPO" and decodes its first picture like any JPEG.
_PIL_FORMATS = {"JPEG": ("JPEG", "MPO"), "PNG": ("PNG",), "WEBP": ("WEBP",)}

# What PIL's parsers raise on malformed input. The bytes are untrusted, so any of these means "corrupt".
_DECODE_ERRORS = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,  # PIL's plugins signal bad structure this way
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
)

_NOT_SUPPORTED = "The file is not a JPEG, PNG or WebP image."
_CORRUPT = "The image is truncated or corrupt."
_MIB = 1024 * 1024


@dataclass(frozen=True)
class ImageLimits:
    """Upper bounds on an upload, checked before the expensive work."""

    max_bytes: int = 10 * _MIB
    max_pixels: int = 50_000_000
    # JPEGs larger than this (longest side) are decoded at a reduced scale (1/2, 1/4, 1/8) that keeps at
    # least this many pixels; 0 decodes everything at full size.
    decode_max_side: int = 0


@dataclass(frozen=True)
class DecodedImage:
    """A decoded upload: RGB pixels with EXIF orientation applied, plus facts about the original bytes."""

    image: Image.Image
    format: str  # "JPEG", "PNG" or "WEBP", from the magic number
    width: int  # of the uploaded image after orientation (``image`` may be smaller, see ``scale``)
    height: int
    sha256: str  # hex digest of the uploaded bytes
    size_bytes: int
    scale: float = 1.0  # ``image`` pixels per uploaded-image pixel (below 1 after a reduced JPEG decode)


def decode_image(data: bytes, limits: ImageLimits) -> DecodedImage:
    """Validate and decode an uploaded image, raising ``InvalidImage``/``ImageTooLarge`` with a user message."""
    _check_byte_size(data, limits)
    fmt = sniff_format(data)
    image = _open_header(data, fmt)
    full_w, full_h = image.width, image.height
    _check_dimensions(full_w, full_h, limits)
    if fmt == "JPEG" and limits.decode_max_side and max(full_w, full_h) >= 2 * limits.decode_max_side:
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale for a fraction of the cost; draft() picks the smallest
        # scale that still covers the requested size. Only after the limits, before the pixels are read.
        ratio = limits.decode_max_side / max(full_w, full_h)
        image.draft("RGB", (math.ceil(full_w * ratio), math.ceil(full_h * ratio)))
    decoded_w, decoded_h = image.size
    _load_pixels(image)
    rgb = to_rgb(_apply_orientation(image))
    swapped = decoded_w != decoded_h and rgb.size == (decoded_h, decoded_w)  # EXIF rotated by 90 degrees
    return DecodedImage(
        image=rgb,
        format=fmt,
        width=full_h if swapped else full_w,
        height=full_w if swapped else full_h,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        scale=decoded_w / full_w,
    )


def sniff_format(data: bytes) -> str:
    """The format named by the file's magic number; the extension and declared content type are not trusted."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    raise InvalidImage(_NOT_SUPPORTED)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode as 8-bit RGB; transparent areas become white, as a browser shows them on a white page."""
    if image.mode == "RGB" and "transparency" not in image.info:
        return image
    if image.mode.startswith("I;16") or image.mode == "I":
        return _wide_gray_to_rgb(image)
    try:
        if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
            return _flatten_on_white(image.convert("RGBA"))
        # CMYK is converted without its ICC profile: close enough for faces, and colour management costs ~10 ms.
        return image.convert("RGB")
    except ValueError as exc:  # a mode PIL cannot convert; none of the supported formats should produce one
        logger.info("cannot convert image mode %s to RGB: %s", image.mode, exc)
        raise InvalidImage(_NOT_SUPPORTED) from exc


def _check_byte_size(data: bytes, limits: ImageLimits) -> None:
    if not data:
        raise InvalidImage("The uploaded file is empty.")
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(
            f"The image is {_format_bytes(len(data), round_up=True)}; the limit is {_format_bytes(limits.max_bytes)}."
        )


def _open_header(data: bytes, fmt: str) -> Image.Image:
    """Read only the header, with the one PIL plugin the magic number names (so a polyglot cannot pick another)."""
    try:
        image = Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[fmt][0]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # PIL's own guard (its global limit) fired before ours could; the warning arrives here under ``-W error``.
        raise ImageTooLarge("The image has too many pixels to process.") from exc
    except _DECODE_ERRORS as exc:
        logger.debug("cannot open %s header: %r", fmt, exc)
        raise InvalidImage(_CORRUPT) from exc
    if image.format not in _PIL_FORMATS[fmt]:
        raise InvalidImage(_NOT_SUPPORTED)
    return image


def _check_dimensions(width: int, height: int, limits: ImageLimits) -> None:
    if width < 1 or height < 1:
        raise InvalidImage(_CORRUPT)
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ImageTooLarge(f"The image is {width} x {height} pixels; the limit is {MAX_SIDE} pixels a side.")
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"The image is {width} x {height} pixels ({_format_megapixels(width * height, round_up=True)}); "
            f"the limit is {_format_megapixels(limits.max_pixels)}."
        )


def _load_pixels(image: Image.Image) -> None:
    """Decode the pixels (the first frame of an animation: PIL opens on frame 0 and ``load`` reads only it)."""
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge("The image has too many pixels to process.") from exc
    except _DECODE_ERRORS as exc:
        logger.debug("cannot decode %s: %r", image.format, exc)
        raise InvalidImage(_CORRUPT) from exc


def _apply_orientation(image: Image.Image) -> Image.Image:
    """Rotate/flip as the EXIF Orientation tag says; EXIF is optional metadata, so broken EXIF is ignored."""
    try:
        # In place: no copy of the pixels for the common case of no rotation.
        ImageOps.exif_transpose(image, in_place=True)
    except Exception as exc:  # malformed EXIF can raise almost anything from PIL's TIFF parser
        logger.debug("ignoring unreadable EXIF orientation: %r", exc)
    return image


def _wide_gray_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit grayscale (PNG opens it as I;16 or I) scaled to 8 bits; PIL's own convert clips at 255."""
    pixels = np.asarray(image)
    if image.mode == "I":  # 32-bit signed in PIL, but PNG stores at most 16 bits
        pixels = np.clip(pixels, 0, 65535)
    wide = pixels.astype(np.uint32)
    gray = ((wide * 255 + 32767) // 65535).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def _flatten_on_white(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _format_bytes(size: int, *, round_up: bool = False) -> str:
    """Human size in MB (MiB, as the limit is configured), KB below 1 MB; never shows a size over a limit as equal."""
    if size >= _MIB:
        return f"{_one_decimal(size / _MIB, round_up)} MB"
    if size >= 1024:
        return f"{_one_decimal(size / 1024, round_up)} KB"
    return f"{size} bytes"


def _format_megapixels(pixels: int, *, round_up: bool = False) -> str:
    if pixels >= 100_000:
        amount = _one_decimal(pixels / 1e6, round_up)
        return f"{amount} megapixel{'' if amount == '1' else 's'}"
    return f"{pixels} pixels"


def _one_decimal(value: float, round_up: bool) -> str:
    value = math.ceil(value * 10) / 10 if round_up else math.floor(value * 10) / 10
    return f"{value:.1f}".removesuffix(".0")
