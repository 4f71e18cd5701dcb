"""Seed corpora for the fuzz harnesses, generated in code from small real images (nothing binary is checked in).

The images are the shared test photos and DFDC face crops shrunk to a few dozen pixels, re-encoded in every
format and colour mode the decoder supports, plus the odd and hostile shapes of the unit tests (EXIF
orientation and garbage, bombs declaring huge sizes, animations, metadata chunks) built with their helpers.
Without the shared data (a bare checkout), a synthetic gradient stands in for the photos.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from tests.unit.test_decode import (
    encode,
    exif_with_orientation,
    insert_after_ihdr,
    jpeg_with_app1,
    png_chunk,
    png_claiming,
)
from tests.unit.test_upload import BOUNDARY, FORM, form, part

REPO = Path(__file__).resolve().parents[2]
SEED_SIDE = 40  # small images keep each fuzz iteration well under a millisecond


def shared_data_root() -> Path | None:
    """``../shared/data`` as tests/conftest.py finds it (without importing torch into the fuzz process)."""
    for candidate in (os.environ.get("DEEPFAKE_SHARED_DATA", ""), str(REPO.parent / "shared" / "data"),
                      "/work/shared/data"):
        if candidate and (Path(candidate) / "photos").is_dir():
            return Path(candidate)
    return None


def small_real_images(count: int = 3) -> list[Image.Image]:
    """A few real photos and face crops shrunk to SEED_SIDE pixels (RGB)."""
    root = shared_data_root()
    paths: list[Path] = []
    if root is not None:
        paths += sorted((root / "photos").glob("*.jpg"))[:count]
        paths += sorted((root / "dfdc-faces" / "real").glob("*.jpg"))[:count]
    images = []
    for path in paths:
        with Image.open(path) as image:
            image.draft("RGB", (SEED_SIDE * 4, SEED_SIDE * 4))  # fast: libjpeg's reduced-scale decode
            small = image.convert("RGB")
            small.thumbnail((SEED_SIDE, SEED_SIDE))
            images.append(small)
    if not images:  # no shared data: a synthetic stand-in
        ramp = np.linspace(0, 255, SEED_SIDE, dtype=np.uint8)
        red, green = np.meshgrid(ramp, ramp[::-1])
        images.append(Image.fromarray(np.dstack([red, green, np.full_like(red, 90)])))
    return images


def image_seeds() -> Iterator[bytes]:
    """Valid, odd and hostile JPEG/PNG/WebP files (a few hundred bytes to a few kB each)."""
    images = small_real_images()
    base = images[0]
    for image in images:
        yield encode(image, "JPEG", quality=80)
        yield encode(image, "PNG")
        yield encode(image, "WEBP", quality=70)
    yield encode(base, "JPEG", quality=90, progressive=True)
    yield encode(base, "JPEG", quality=90, subsampling=0)
    yield encode(base.convert("L"), "JPEG")
    yield encode(base.convert("CMYK"), "JPEG")
    yield encode(base, "WEBP", lossless=True)
    yield encode(base.convert("RGBA"), "WEBP", lossless=True)
    for mode in ("L", "LA", "RGBA", "1", "P"):
        yield encode(base.convert(mode), "PNG")
    yield encode(base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "PNG", transparency=0)
    yield encode(Image.fromarray(np.asarray(base.convert("L"), dtype=np.uint16) * 257), "PNG")  # 16-bit
    yield encode(base, "PNG", transparency=(0, 0, 0))
    for orientation in (3, 6, 8):
        yield encode(base, "JPEG", exif=exif_with_orientation(orientation))
    yield encode(base, "PNG", exif=exif_with_orientation(6))
    frames = [base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    yield encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100, loop=0)
    yield encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)
    yield encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    jpeg = encode(base, "JPEG")
    yield jpeg_with_app1(jpeg, b"Exif\x00\x00MM\x00*\x00\x00\xff\xf0")
    yield jpeg_with_app1(jpeg, b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff\x12\x01\x03\x00")
    png = encode(base, "PNG")
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "x" * 200)
    info.add_itxt("Description", "ünïcode", lang="de", tkey="Beschreibung", zip=True)
    yield encode(base, "PNG", pnginfo=info)
    yield insert_after_ihdr(png, png_chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"y" * 5000)))
    yield insert_after_ihdr(png, png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(b"\x00" * 200)))
    yield png_claiming(100_000, 100_000)
    yield png_claiming(8000, 8000)
    yield png_claiming(70_000, 10)
    yield png_claiming(0, 10)
    yield jpeg[: len(jpeg) // 2]
    yield png[: len(png) // 2]
    yield b"\xff\xd8\xff" + png  # polyglot
    yield b"RIFF" + struct.pack("<I", len(jpeg) + 4) + b"WEBP" + jpeg


def upload_input(body: bytes, content_type: str = FORM, filename: str = "") -> bytes:
    """One input of the upload harness: ``content type \\t filename \\n body`` (see fuzz_upload)."""
    return content_type.encode() + b"\t" + filename.encode() + b"\n" + body


def upload_seeds() -> Iterator[bytes]:
    """Raw and multipart bodies around small real images, with odd boundaries, names and structure."""
    jpeg = encode(small_real_images(1)[0], "JPEG", quality=60)
    yield upload_input(jpeg, "image/jpeg", "photo.jpg")
    yield upload_input(jpeg, "", "../../etc/passwd")
    yield upload_input(jpeg, "application/octet-stream", "C:\\Users\\me\\face.jpg")
    yield upload_input(form(part("file", jpeg, "face.jpg", "image/jpeg")))
    yield upload_input(form(part("note", b"hi"), part("file", jpeg, "ж" * 40 + ".jpg"), part("explain", b"true")))
    yield upload_input(form(part("file", jpeg, "a.jpg"), part("file", jpeg, "b.jpg")))
    yield upload_input(form(part("file", jpeg), closing=False))
    yield upload_input(form(part("file", jpeg), newline=b"\n"))
    yield upload_input(form(part("image", jpeg, "x.jpg")))
    yield upload_input(b"preamble\r\n" + form(part("file", jpeg, "evil\u202egpj.exe")) + b"epilogue")
    boundary = "abc def:xyz'()+_,-./=?"
    yield upload_input(form(part("file", jpeg), boundary=boundary), f'multipart/form-data; boundary="{boundary}"')
    headers = ["Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''%E2%82%AC%20rates.jpg",
               "Content-Type: image/jpeg", "Content-Transfer-Encoding: binary"]
    yield upload_input(form((headers, jpeg)))
    yield upload_input(form((["Content-Disposition: form-data; name=file", "Content-Transfer-Encoding: base64"],
                             b"/9j/4AAQ")))
    yield upload_input(b"--" + BOUNDARY.encode() + b"--\r\n")


def write_corpus(folder: Path, seeds: Iterator[bytes]) -> Path:
    """Write seeds as files named by index (libFuzzer reads a corpus folder and adds what it finds)."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, seed in enumerate(seeds):
        (folder / f"seed-{index:03d}").write_bytes(seed)
    return folder

