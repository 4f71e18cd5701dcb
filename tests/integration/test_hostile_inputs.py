"""A corpus of hostile and odd uploads, end to end: through the real Envoy (multipart ``/predict``, raw
``/v1/predict:upload``, JSON ``/v1/predict``) and native gRPC (``Predict``, ``PredictUpload``) into the real
server with the shipped model.

Every hostile input must get a clear 4xx JSON answer (400, or 413 for bodies over the limit) whose message a
user can read, or INVALID_ARGUMENT over gRPC; valid-but-odd images (16-bit, palette, animated, giant
metadata, garbage EXIF) a normal answer; client file names come back sanitized. After the whole corpus the
server is healthy, still predicts on a real photo, and has answered no request with INTERNAL.

The byte-level generators are the unit tests' (tests/unit/test_decode.py, test_upload.py), imported here.
"""

from __future__ import annotations

import base64
import io
import re
import struct
import time
import unicodedata
import urllib.parse
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
from deepfake.v1 import detector_pb2 as pb
from deepfake.v1 import detector_pb2_grpc
from google.api import httpbody_pb2
from PIL import Image, PngImagePlugin

from server.app import RunningServer
from tests.integration.gateway import Envoy
from tests.integration.served_metrics import request_counts
from tests.unit.test_decode import (
    encode,
    exif_with_orientation,
    insert_after_ihdr,
    jpeg_with_app1,
    png_chunk,
    png_claiming,
    quadrant_image,
)
from tests.unit.test_upload import BOUNDARY, FORM, assert_user_message, form, part

pytestmark = pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # PIL's, on the garbage-EXIF cases

MIB = 1024 * 1024
CORRUPT = "truncated or corrupt"
NOT_SUPPORTED = "not a JPEG, PNG or WebP"
TOO_MANY_PIXELS = "pixels"
OVER_LIMIT_REST = "larger than the size limit"
# What must never reach a client: Python exception text, tracebacks, source paths.
LEAKS = re.compile(r"Traceback|File \"|\.py\b|site-packages|/work/|/usr/|\b[A-Z][A-Za-z]*(Error|Exception)\b")


# ---------------------------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Assets:
    """The small images the corpus is made from (built once per module)."""

    photo: bytes  # a real 1125 x 1612 JPEG from the shared photos
    quad: Image.Image  # 64 x 32, black with a red top-left quadrant
    jpeg: bytes
    png: bytes
    webp: bytes
    noisy_png: bytes  # 96 x 96 of noise: compresses badly, so its IDAT is large


def make_assets(photo: bytes) -> Assets:
    quad = quadrant_image((64, 32))
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8))
    return Assets(photo, quad, encode(quad, "JPEG", quality=90), encode(quad, "PNG"), encode(quad, "WEBP"),
                  encode(noise, "PNG"))


@dataclass(frozen=True)
class Case:
    """One upload and what every route must answer: "ok" (a prediction), "invalid" (400 / INVALID_ARGUMENT),
    "too_large" (over 10 MB: 413 through Envoy, INVALID_ARGUMENT over native gRPC), or "either" (a prediction
    or a clean 400: formats where refusing and decoding are both fine). The bytes are made on demand."""

    id: str
    outcome: str
    make: Callable[[Assets], bytes]
    message: str = ""  # a fragment of the expected message
    size: tuple[int, int] | None = None  # expected image_width, image_height of a prediction


def png_rows(width: int, height: int, row: bytes | None = None) -> bytes:
    """A fully valid RGB PNG (every CRC and the zlib stream correct) of any size, compressed as it streams:
    an 8000 x 8000 black image is 190 kB on the wire and 192 MB once decoded."""
    row = row if row is not None else b"\x00" * (width * 3)
    compressor = zlib.compressobj(9)
    line = b"\x00" + row
    idat = b"".join(compressor.compress(line) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def jpeg_claiming(jpeg: bytes, width: int, height: int) -> bytes:
    """The JPEG with its frame header (SOF0/SOF2) rewritten to declare another size; the scan is unchanged."""
    match = re.search(rb"\xff[\xc0\xc2]", jpeg)
    assert match is not None
    at = match.start() + 5  # marker (2), length (2), precision (1), then height and width
    return jpeg[:at] + struct.pack(">HH", height, width) + jpeg[at + 4:]


def png_split_idat(png: bytes, piece: int) -> bytes:
    """The same PNG with its image data spread over many tiny IDAT chunks (valid, and a lot of chunks)."""
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    offset, chunks, idat = 8, [], b""
    while offset < len(png):
        length, kind = struct.unpack(">I4s", png[offset:offset + 8])
        body = png[offset + 8:offset + 8 + length]
        if kind == b"IDAT":
            idat += body
        elif kind != b"IEND":
            chunks.append(png[offset:offset + 12 + length])
        offset += 12 + length
    pieces = [png_chunk(b"IDAT", idat[i:i + piece]) for i in range(0, len(idat), piece)]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks) + b"".join(pieces) + png_chunk(b"IEND", b"")


def exif_ifd_loop() -> bytes:
    """EXIF whose IFD0 points to itself twice: as its Exif sub-IFD and as the next IFD (a cycle)."""
    entries = [(0x0112, 3, 1, 1), (0x8769, 4, 1, 8)]  # Orientation = 1, ExifIFD -> offset 8 (IFD0 itself)
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries)
    return b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 8)


def jpeg_with_segments(jpeg: bytes, marker: bytes, payload: bytes, count: int) -> bytes:
    segment = marker + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment * count + jpeg[2:]


def png_text(a: Assets, size: int) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "x" * size)
    return encode(a.quad, "PNG", pnginfo=info)


def palette_image() -> Image.Image:
    image = Image.new("P", (40, 40), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (20, 0, 40, 40))
    return image


def animated(fmt: str, **params: object) -> bytes:
    frames = [Image.new("RGB", (48, 40), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], **params)


def random_bytes(seed: int, count: int) -> bytes:
    return bytes(np.random.default_rng(seed).integers(0, 256, count, dtype=np.uint8))


QUAD = (64, 32)
IMAGE_CASES: list[Case] = [
    # empty, and not an image at all
    Case("zero-bytes", "invalid", lambda a: b""),
    Case("wrong-magic-gif", "invalid", lambda a: encode(a.quad, "GIF"), NOT_SUPPORTED),
    Case("wrong-magic-bmp", "invalid", lambda a: encode(a.quad, "BMP"), NOT_SUPPORTED),
    Case("wrong-magic-tiff", "invalid", lambda a: encode(a.quad, "TIFF"), NOT_SUPPORTED),
    Case("wrong-magic-html", "invalid", lambda a: b"<!DOCTYPE html><script>alert(1)</script>", NOT_SUPPORTED),
    Case("wrong-magic-pdf", "invalid", lambda a: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
         NOT_SUPPORTED),
    Case("wrong-magic-zip", "invalid", lambda a: b"PK\x03\x04" + bytes(60), NOT_SUPPORTED),
    Case("magic-only-jpeg", "invalid", lambda a: b"\xff\xd8\xff", CORRUPT),
    Case("magic-only-png", "invalid", lambda a: b"\x89PNG\r\n\x1a\n", CORRUPT),
    # truncated
    Case("truncated-jpeg", "invalid", lambda a: a.photo[: len(a.photo) // 2], CORRUPT),
    Case("truncated-jpeg-header", "invalid", lambda a: a.photo[:200], CORRUPT),
    Case("truncated-png", "invalid", lambda a: a.noisy_png[: len(a.noisy_png) // 2], CORRUPT),
    Case("truncated-webp", "invalid", lambda a: a.webp[: len(a.webp) // 2]),
    # polyglots
    Case("polyglot-jpeg-magic-png-body", "invalid", lambda a: b"\xff\xd8\xff" + a.png),
    Case("polyglot-png-magic-jpeg-body", "invalid", lambda a: b"\x89PNG\r\n\x1a\n" + a.jpeg),
    Case("polyglot-webp-header-jpeg-body", "invalid",
         lambda a: b"RIFF" + struct.pack("<I", len(a.jpeg) + 4) + b"WEBP" + a.jpeg),
    Case("polyglot-jpeg-then-zip", "ok",
         lambda a: a.jpeg + b"PK\x03\x04" + bytes(100) + b"PK\x05\x06" + bytes(18), size=QUAD),
    Case("polyglot-html-in-png-comment", "ok",
         lambda a: insert_after_ihdr(a.png, png_chunk(b"tEXt", b"Comment\x00<script>alert(1)</script>")), size=QUAD),
    # decompression bombs: small files declaring huge sizes (valid CRCs), refused before decoding
    Case("bomb-png-100000-squared", "invalid", lambda a: png_claiming(100_000, 100_000), TOO_MANY_PIXELS),
    Case("bomb-png-8000-squared", "invalid", lambda a: png_claiming(8000, 8000), "64 megapixels"),
    Case("bomb-png-70000-wide", "invalid", lambda a: png_claiming(70_000, 10), "70000 x 10"),
    Case("bomb-png-valid-idat-8000-squared", "invalid", lambda a: png_rows(8000, 8000), "64 megapixels"),
    Case("bomb-jpeg-65500-squared", "invalid", lambda a: jpeg_claiming(a.jpeg, 65_500, 65_500), TOO_MANY_PIXELS),
    Case("bomb-jpeg-10000x6000", "invalid", lambda a: jpeg_claiming(a.jpeg, 10_000, 6000), "60 megapixels"),
    Case("png-zero-width", "invalid", lambda a: png_claiming(0, 10)),
    Case("bomb-png-ztxt", "invalid", lambda a: insert_after_ihdr(a.png, png_chunk(
        b"zTXt", b"Comment\x00\x00" + zlib.compress(b"x" * 50_000_000, 9))), CORRUPT),
    Case("bomb-png-iccp", "invalid", lambda a: insert_after_ihdr(a.png, png_chunk(
        b"iCCP", b"icc\x00\x00" + zlib.compress(b"\x00" * 50_000_000, 9))), CORRUPT),
    # chunk structure
    Case("png-chunk-declaring-2-gb", "invalid",
         lambda a: insert_after_ihdr(a.png, struct.pack(">I", 0x7FFF_FFF0) + b"tEXtk\x00v"), CORRUPT),
    Case("png-bad-crc", "invalid", lambda a: a.png[:-20] + bytes([a.png[-20] ^ 0xFF]) + a.png[-19:]),
    Case("png-5000-idat-chunks", "ok", lambda a: png_split_idat(a.noisy_png, max(1, len(a.noisy_png) // 5000)),
         size=(96, 96)),
    Case("png-2000-text-chunks", "ok", lambda a: insert_after_ihdr(a.png, b"".join(
        png_chunk(b"tEXt", b"k\x00" + b"v" * 100) for _ in range(2000))), size=QUAD),
    # The PNG spec says a decoder must refuse an unknown critical chunk; Pillow skips it. Either is fine here.
    Case("png-unknown-critical-chunk", "either", lambda a: insert_after_ihdr(a.png, png_chunk(b"ABCD", bytes(16))),
         size=QUAD),
    # valid but odd images: a normal answer
    Case("png-16-bit-gray", "ok", lambda a: encode(Image.fromarray(
        np.tile(np.linspace(0, 65535, 128).astype(np.uint16), (48, 1))), "PNG"), size=(128, 48)),
    Case("png-palette", "ok", lambda a: encode(palette_image(), "PNG"), size=(40, 40)),
    Case("png-palette-transparency", "ok", lambda a: encode(palette_image(), "PNG", transparency=1), size=(40, 40)),
    Case("png-1-bit", "ok", lambda a: encode(a.quad.convert("1"), "PNG"), size=QUAD),
    Case("png-la", "ok", lambda a: encode(a.quad.convert("LA"), "PNG"), size=QUAD),
    Case("jpeg-cmyk", "ok", lambda a: encode(a.quad.convert("CMYK"), "JPEG"), size=QUAD),
    Case("jpeg-progressive", "ok", lambda a: encode(a.quad, "JPEG", progressive=True), size=QUAD),
    Case("png-animated", "ok", lambda a: animated("PNG", duration=50, loop=0), size=(48, 40)),
    Case("webp-animated", "ok", lambda a: animated("WEBP", duration=50, loop=0, lossless=True), size=(48, 40)),
    Case("jpeg-mpo", "ok", lambda a: animated("MPO"), size=(48, 40)),
    Case("png-20x20-smallest-detectable", "ok", lambda a: encode(a.quad.resize((20, 20)), "PNG"), size=(20, 20)),
    Case("jpeg-exif-rotated", "ok", lambda a: encode(a.quad, "JPEG", exif=exif_with_orientation(6)), size=(32, 64)),
    # EXIF garbage and giant metadata
    Case("exif-random", "ok", lambda a: jpeg_with_app1(a.jpeg, b"Exif\x00\x00" + random_bytes(5, 300)), size=QUAD),
    Case("exif-ifd-past-end", "ok", lambda a: jpeg_with_app1(a.jpeg, b"Exif\x00\x00MM\x00*\x00\x00\xff\xf0"),
         size=QUAD),
    Case("exif-entry-count-lie", "ok", lambda a: jpeg_with_app1(
        a.jpeg, b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff\x12\x01\x03\x00"), size=QUAD),
    Case("exif-ifd-cycle", "ok", lambda a: jpeg_with_app1(a.jpeg, exif_ifd_loop()), size=QUAD),
    Case("exif-orientation-65535", "ok", lambda a: encode(a.quad, "JPEG", exif=exif_with_orientation(65535)),
         size=QUAD),
    Case("png-8mb-text-chunk", "ok", lambda a: png_text(a, 8 * MIB), size=QUAD),
    Case("jpeg-9mb-of-comments", "ok", lambda a: jpeg_with_segments(a.jpeg, b"\xff\xfe", b"c" * 65_000, 145),
         size=QUAD),
    Case("jpeg-150-icc-segments", "ok", lambda a: jpeg_with_segments(
        a.jpeg, b"\xff\xe2", b"ICC_PROFILE\x00\x01\x01" + bytes(60_000), 150), size=QUAD),
    Case("png-over-10mb-of-text", "too_large", lambda a: png_text(a, 10 * MIB + 300_000)),
]


# ---------------------------------------------------------------------------------------------- clients


class Gateway:
    """REST calls through Envoy. Envoy limits each client address (20 requests/s, bursts of 40): a 429 from
    the rate limiter is waited out as its Retry-After says, so the corpus runs at the allowed pace."""

    def __init__(self, envoy: Envoy) -> None:
        self.url = envoy.url
        self.session = requests.Session()

    def _send(self, method: str, path: str, **kwargs: object) -> requests.Response:
        for _ in range(30):
            response = self.session.request(method, self.url + path, timeout=120, **kwargs)  # type: ignore[arg-type]
            if response.status_code != 429 or "Too many requests" not in response.text:
                return response
            time.sleep(float(response.headers.get("retry-after", "1")))
        raise AssertionError("still rate limited after 30 tries")

    def post(self, path: str, **kwargs: object) -> requests.Response:
        return self._send("POST", path, **kwargs)

    def get(self, path: str) -> requests.Response:
        return self._send("GET", path)

    def multipart(self, data: bytes, filename: str = "upload.jpg", query: str = "") -> requests.Response:
        body = form(part("file", data, filename, "application/octet-stream"))
        return self.form(body, FORM, query)

    def form(self, body: bytes, content_type: str, query: str = "") -> requests.Response:
        return self.post("/predict" + query, data=body, headers={"content-type": content_type})

    def raw(self, data: bytes, filename: str = "upload.jpg", content_type: str = "application/octet-stream",
            query: str = "") -> requests.Response:
        q = "?filename=" + urllib.parse.quote(filename, safe="") + (("&" + query.lstrip("?&")) if query else "")
        return self.post("/v1/predict:upload" + q, data=data, headers={"content-type": content_type})

    def json(self, data: bytes, filename: str = "upload.jpg") -> requests.Response:
        return self.post("/v1/predict", json={"image": base64.b64encode(data).decode(), "filename": filename})


REFUSED_OVER_GRPC: list[str] = []  # every INVALID_ARGUMENT this module got over native gRPC


def grpc_call(call: object, request: object) -> tuple[grpc.StatusCode, str, pb.PredictResponse | None]:
    try:
        response = call(request, timeout=120)  # type: ignore[operator]
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
            REFUSED_OVER_GRPC.append(error.details() or "")
        return error.code(), error.details() or "", None
    return grpc.StatusCode.OK, "", response


def assert_readable(message: str) -> None:
    """Any message a client sees: present, and no exception text, traceback or path."""
    assert message.strip(), "empty message"
    assert not LEAKS.search(message), message


def assert_rest_error(response: requests.Response, status: int, fragment: str = "") -> dict[str, object]:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert response.headers.get("x-request-id")
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("code"), int) and body["code"] in (3, 8), body
    message = body["message"]
    assert isinstance(message, str)
    assert_readable(message)
    assert fragment in message, (fragment, message)
    return body


def assert_server_message(message: str, fragment: str = "") -> None:
    """A message written by the server: a sentence for a user (the unit tests' rule) with the fragment."""
    assert_readable(message)
    assert_user_message(Exception(message))
    assert fragment in message, (fragment, message)


def assert_prediction(body: dict[str, object], size: tuple[int, int] | None, filename: str | None = None) -> None:
    assert body["prediction"] in ("Real", "Deepfake"), body
    assert 0 <= float(body["fake_probability"]) <= 1  # type: ignore[arg-type]
    if size is not None:
        assert (body["image_width"], body["image_height"]) == size
    if filename is not None:
        assert body["filename"] == filename


# ---------------------------------------------------------------------------------------------- fixtures


def request_codes(served: RunningServer) -> dict[str, float]:
    """deepfake_requests_total by gRPC code, summed over methods."""
    codes: dict[str, float] = {}
    for (_, code), count in request_counts(served).items():
        codes[code] = codes.get(code, 0.0) + count
    return codes


@pytest.fixture(scope="module")
def before(served: RunningServer) -> dict[str, float]:
    """The request counts before this module's first request (the server is shared by the whole session)."""
    return request_codes(served)


@pytest.fixture(scope="module")
def rest(gateway: Envoy, before: dict[str, float]) -> Iterator[Gateway]:
    client = Gateway(gateway)
    yield client
    # Leave the shared gateway's per-client token bucket full for the modules that run after this one.
    time.sleep(gateway.settings.rate_limit_burst / gateway.settings.rate_limit_rps)


@pytest.fixture(scope="module")
def photo(photos_dir: Path) -> bytes:
    return (photos_dir / "kate_siegel.jpg").read_bytes()


@pytest.fixture(scope="module")
def crop(dfdc_dir: Path) -> bytes:
    return next((dfdc_dir / "real").glob("*.jpg")).read_bytes()


@pytest.fixture(scope="module")
def assets(photo: bytes) -> Assets:
    return make_assets(photo)


# ---------------------------------------------------------------------------------------------- image corpus


@pytest.mark.parametrize("case", IMAGE_CASES, ids=[case.id for case in IMAGE_CASES])
def test_image_corpus_through_envoy_and_grpc(case: Case, assets: Assets, rest: Gateway,
                                             stub: detector_pb2_grpc.DeepfakeDetectorStub) -> None:
    data = case.make(assets)
    outcome = case.outcome
    answers = {"multipart": rest.multipart(data), "raw": rest.raw(data), "json": rest.json(data)}
    if outcome == "either":  # decided by the first answer; every route must then agree
        outcome = "ok" if answers["multipart"].status_code == 200 else "invalid"
    for route, response in answers.items():
        if outcome == "ok":
            assert response.status_code == 200, (route, response.text[:300])
            assert_prediction(response.json(), case.size, "upload.jpg")
        elif outcome == "too_large":
            assert_rest_error(response, 413, OVER_LIMIT_REST)
        else:
            body = assert_rest_error(response, 400, case.message)
            assert_server_message(str(body["message"]), case.message)

    grpc_answers = {
        "Predict": grpc_call(stub.Predict, pb.PredictRequest(image=data, filename="upload.jpg")),
        "PredictUpload": grpc_call(stub.PredictUpload, pb.PredictUploadRequest(
            file=httpbody_pb2.HttpBody(content_type="image/jpeg", data=data), filename="upload.jpg")),
    }
    for method, (code, message, response) in grpc_answers.items():
        if outcome == "ok":
            assert code == grpc.StatusCode.OK, (method, code, message)
            assert response is not None and response.prediction in ("Real", "Deepfake")
            assert (response.image_width, response.image_height) == case.size
        else:
            assert code == grpc.StatusCode.INVALID_ARGUMENT, (method, code, message)
            expected = "limit is 10 MB" if outcome == "too_large" else case.message
            assert_server_message(message, expected)


# ---------------------------------------------------------------------------------------------- multipart forms


def forms(image: bytes) -> list[tuple[str, bytes, str, str]]:
    """(id, body, content type, expected message fragment) of malformed or unusual multipart uploads."""
    boundary = BOUNDARY.encode()
    return [
        ("no-file-field", form(part("image", image, "a.jpg"), part("note", b"x")), FORM, 'named "file"'),
        ("field-name-case", form(part("File", image, "a.jpg")), FORM, 'named "file"'),
        ("only-closing-delimiter", b"--" + boundary + b"--\r\n", FORM, 'named "file"'),
        ("empty-file-part", form(part("file", b"", "a.jpg")), FORM, "empty"),
        ("two-files", form(part("file", image, "a.jpg"), part("file", image, "b.jpg")), FORM, "more than one"),
        ("three-files-different-names", form(part("file", image, "a.jpg"), part("other", image, "b.jpg"),
                                             part("file", image, "c.jpg")), FORM, "more than one"),
        ("missing-final-boundary", form(part("file", image, "a.jpg"), closing=False), FORM, "closing boundary"),
        ("final-boundary-without-dashes", form(part("file", image), closing=False) + b"--" + boundary + b"\r\n",
         FORM, ""),
        ("truncated-mid-file", form(part("file", image, "a.jpg"))[: len(image) // 2], FORM, ""),
        ("lf-line-endings", form(part("file", image, "a.jpg"), newline=b"\n"), FORM, "CRLF"),
        ("no-boundary-parameter", form(part("file", image)), "multipart/form-data", "boundary"),
        ("empty-boundary-parameter", form(part("file", image)), 'multipart/form-data; boundary=""', "boundary"),
        ("boundary-not-in-body", form(part("file", image), boundary="something-else"), FORM, "boundary"),
        ("boundary-257-chars", form(part("file", image), boundary="b" * 257),
         "multipart/form-data; boundary=" + "b" * 257, "boundary"),
        ("base64-transfer-encoding", form((['Content-Disposition: form-data; name="file"',
                                            "Content-Transfer-Encoding: base64"], base64.b64encode(image))),
         FORM, "Content-Transfer-Encoding"),
        ("header-without-colon", b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"\r\nno colon',
         FORM, ""),
        ("garbage-body", bytes(np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8)), FORM, ""),
        ("header-over-16-kb", form(([f'Content-Disposition: form-data; name="file"; filename="{"a" * 20_000}"'],
                                    image)), FORM, ""),
    ]


def odd_but_valid_forms(image: bytes) -> list[tuple[str, bytes, str]]:
    """Multipart uploads that are unusual but correct: each must give a prediction."""
    quoted = "abc def:xyz'()+_,-./=?"
    return [
        ("quoted-boundary-with-specials", form(part("file", image, "a.jpg"), boundary=quoted),
         f'multipart/form-data; boundary="{quoted}"'),
        ("boundary-70-chars", form(part("file", image), boundary="7" * 70),
         f"multipart/form-data; boundary={'7' * 70}"),
        ("boundary-256-chars", form(part("file", image), boundary="b" * 256),
         f"multipart/form-data; boundary={'b' * 256}"),
        ("boundary-one-char", form(part("file", image), boundary="x"), "multipart/form-data; boundary=x"),
        ("boundary-like-bytes-in-other-field", form(part("note", b"--" + BOUNDARY.encode() + b"x\r\n--"),
                                                    part("file", image)), FORM),
        ("preamble-and-epilogue", b"preamble\r\n" + form(part("file", image)) + b"epilogue\r\n", FORM),
        ("many-other-fields", form(*[part(f"f{i}", b"v" * 50) for i in range(500)], part("file", image)), FORM),
        ("content-type-params-and-case", form(part("file", image)),
         f"Multipart/Form-Data; charset=utf-8; BOUNDARY={BOUNDARY}"),
    ]


@pytest.mark.parametrize("index", range(18))
def test_malformed_forms_are_400(index: int, crop: bytes, rest: Gateway,
                                 stub: detector_pb2_grpc.DeepfakeDetectorStub) -> None:
    name, body, content_type, fragment = forms(crop)[index]
    response = rest.form(body, content_type)
    message = str(assert_rest_error(response, 400, fragment)["message"])
    assert_server_message(message, fragment)
    code, details, _ = grpc_call(stub.PredictUpload, pb.PredictUploadRequest(
        file=httpbody_pb2.HttpBody(content_type=content_type, data=body)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (name, code, details)
    assert details == message, name


def test_every_form_case_is_run(crop: bytes) -> None:
    assert len(forms(crop)) == 18 and len({f[0] for f in forms(crop)}) == 18


@pytest.mark.parametrize("index", range(8))
def test_odd_but_valid_forms_predict(index: int, crop: bytes, rest: Gateway,
                                     stub: detector_pb2_grpc.DeepfakeDetectorStub) -> None:
    name, body, content_type = odd_but_valid_forms(crop)[index]
    response = rest.form(body, content_type, "?is_face_crop=true")
    assert response.status_code == 200, (name, response.text[:300])
    assert_prediction(response.json(), None)
    code, details, answer = grpc_call(stub.PredictUpload, pb.PredictUploadRequest(
        file=httpbody_pb2.HttpBody(content_type=content_type, data=body), is_face_crop=True))
    assert code == grpc.StatusCode.OK and answer is not None, (name, code, details)
    assert answer.image_sha256 == response.json()["image_sha256"]


def test_every_valid_form_case_is_run(crop: bytes) -> None:
    assert len(odd_but_valid_forms(crop)) == 8


def test_raw_route_with_multipart_content_type_but_raw_image_body(crop: bytes, rest: Gateway) -> None:
    """A raw image sent with a multipart content type is parsed as a form, and refused as one."""
    response = rest.raw(crop, content_type=FORM)
    assert_rest_error(response, 400, "boundary")


@pytest.mark.parametrize("content_type", ["text/plain", "image/gif", "application/x-www-form-urlencoded", "",
                                          "image/jpeg; charset=\u00e9", "totally bogus;;;==="])
def test_raw_route_ignores_the_declared_content_type(content_type: str, crop: bytes, rest: Gateway) -> None:
    """The format comes from the bytes, not the declared type: a JPEG is a JPEG whatever the header says."""
    headers = {"content-type": content_type.encode("utf-8")} if content_type else {}
    response = rest.post("/v1/predict:upload?is_face_crop=true", data=crop, headers=headers)
    assert response.status_code == 200, (content_type, response.text[:300])


# ---------------------------------------------------------------------------------------------- JSON route


@pytest.mark.parametrize(("name", "body"), [
    ("not-json", b"{this is not json"),
    ("image-not-base64", b'{"image": "!!!not base64!!!"}'),
    ("image-is-a-number", b'{"image": 12345}'),
    ("image-is-an-object", b'{"image": {"nested": true}}'),
    ("unknown-field", b'{"image": "", "path": "/etc/passwd"}'),
    ("deeply-nested", b'{"image": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ("explain-not-bool", b'{"image": "AAAA", "explain": "maybe"}'),
    ("array-top-level", b"[1, 2, 3]"),
    ("nul-bytes", b'{"image": "\x00\x00"}'),
])
def test_malformed_json_bodies_are_400(name: str, body: bytes, rest: Gateway) -> None:
    response = rest.post("/v1/predict", data=body, headers={"content-type": "application/json"})
    assert_rest_error(response, 400)


def test_json_with_empty_image_is_400(rest: Gateway) -> None:
    assert_rest_error(rest.post("/v1/predict", json={"image": ""}), 400, "empty")


# ---------------------------------------------------------------------------------------------- file names


NAMES = [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\win.ini", "win.ini"),
    ("C:\\Users\\victim\\Desktop\\face.jpg", "face.jpg"),
    ("\\\\server\\share\\face.png", "face.png"),
    ("/absolute/path/face.jpg", "face.jpg"),
    ("evil\x00.jpg", "evil.jpg"),
    ("evil.jpg\x00.exe", "evil.jpg.exe"),
    ("line\r\nInjected: header.jpg", "lineInjected: header.jpg"),
    ("gpj.exe\u202ephoto", "gpj.exephoto"),
    ("фото дня 日本 😀.jpg", "фото дня 日本 😀.jpg"),
    ("cafe\u0301.jpg", "café.jpg"),
    ("a" * 1000 + ".jpg", "a" * 251 + ".jpg"),
    ("ж" * 1000 + ".jpeg", "ж" * 250 + ".jpeg"),
    ("..", "upload"),
    ("../", "upload"),
    ("  ", "upload"),
    ("<script>alert(1)</script>.jpg", "script>.jpg"),
    ("%2e%2e%2fetc%2fpasswd", "%2e%2e%2fetc%2fpasswd"),
]


def assert_safe_name(name: str) -> None:
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert 0 < len(name) <= 255 and name not in (".", "..")
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name)


@pytest.mark.parametrize(("raw", "clean"), NAMES, ids=[f"name-{i}" for i in range(len(NAMES))])
def test_file_names_come_back_sanitized_on_every_route(raw: str, clean: str, crop: bytes, rest: Gateway,
                                                       stub: detector_pb2_grpc.DeepfakeDetectorStub) -> None:
    # As browsers send it: the name raw (UTF-8) in filename="...", except CR, LF and '"', which they escape;
    # those names go as RFC 5987 filename*=UTF-8''<percent-encoded>, which every name is also sent as.
    extended = [f"Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''{urllib.parse.quote(raw, safe='')}"]
    answers = {
        "multipart-rfc5987": rest.form(form((extended, crop)), FORM, "?is_face_crop=true"),
        "raw": rest.raw(crop, raw, query="is_face_crop=true"),
        "json": rest.post("/v1/predict", json={"image": base64.b64encode(crop).decode(), "filename": raw,
                                               "is_face_crop": True}),
    }
    if not any(ch in raw for ch in '\r\n"'):
        answers["multipart"] = rest.multipart(crop, raw, "?is_face_crop=true")
    for route, response in answers.items():
        assert response.status_code == 200, (route, response.text[:300])
        assert response.json()["filename"] == clean, route
        assert_safe_name(response.json()["filename"])
    code, details, answer = grpc_call(stub.Predict, pb.PredictRequest(image=crop, filename=raw, is_face_crop=True))
    assert code == grpc.StatusCode.OK and answer is not None, details
    assert answer.filename == clean


def test_rfc5987_file_name_through_envoy(crop: bytes, rest: Gateway) -> None:
    headers = ["Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''..%2F..%2Fetc%2F%E2%82%AC.jpg"]
    response = rest.form(form((headers, crop)), FORM, "?is_face_crop=true")
    assert response.status_code == 200 and response.json()["filename"] == "€.jpg"


def test_query_file_name_wins_over_the_form_and_is_sanitized(crop: bytes, rest: Gateway) -> None:
    body = form(part("file", crop, "part.jpg"))
    response = rest.form(body, FORM, "?is_face_crop=true&filename=" + urllib.parse.quote("../x/query.jpg", safe=""))
    assert response.status_code == 200 and response.json()["filename"] == "query.jpg"


def test_file_name_is_the_same_nfc_text_on_every_route(crop: bytes, rest: Gateway,
                                                       stub: detector_pb2_grpc.DeepfakeDetectorStub) -> None:
    # ZERO WIDTH SPACE (dropped: format character) between "e" and a combining acute. Fuzzing found (F2) that
    # routes sanitizing twice (multipart, raw) and once (JSON, gRPC) answered different names.
    raw = "e\u200b\u0301.jpg"
    names = {
        "multipart": rest.multipart(crop, raw, "?is_face_crop=true").json()["filename"],
        "raw": rest.raw(crop, raw, query="is_face_crop=true").json()["filename"],
        "json": rest.post("/v1/predict", json={"image": base64.b64encode(crop).decode(), "filename": raw,
                                               "is_face_crop": True}).json()["filename"],
        "grpc": stub.Predict(pb.PredictRequest(image=crop, filename=raw, is_face_crop=True), timeout=60).filename,
    }
    assert names == dict.fromkeys(names, "\u00e9.jpg"), {k: ascii(v) for k, v in names.items()}


def test_file_names_in_the_prediction_log_are_sanitized(rest: Gateway, crop: bytes) -> None:
    response = rest.multipart(crop, "..\\..\\logged\x00name.jpg", "?is_face_crop=true")
    assert response.status_code == 200
    prediction_id = response.json()["prediction_id"]
    deadline = time.monotonic() + 10
    record = rest.get(f"/v1/predictions/{prediction_id}")
    while record.status_code == 404 and time.monotonic() < deadline:  # the log is written in the background
        time.sleep(0.2)
        record = rest.get(f"/v1/predictions/{prediction_id}")
    assert record.status_code == 200 and record.json()["filename"] == "loggedname.jpg"


# ---------------------------------------------------------------------------------------------- fuzz findings
# Inputs that ended INTERNAL before their fix (found by the fuzzers and this corpus): now answered normally.


@pytest.mark.parametrize(("size", "fmt"), [((1, 1), "JPEG"), ((16, 16), "PNG"), ((19, 300), "WEBP"),
                                           ((4000, 30), "JPEG")], ids=["1x1", "16x16", "19x300", "4000x30-strip"])
def test_tiny_images_get_a_no_face_answer(size: tuple[int, int], fmt: str, crop: bytes, rest: Gateway,
                                          stub: detector_pb2_grpc.DeepfakeDetectorStub) -> None:
    """F3: under 20 px on the shorter side (after the downscale to 800 px) MTCNN has no pyramid level."""
    data = encode(Image.open(io.BytesIO(crop)).convert("RGB").resize(size), fmt)
    response = rest.multipart(data)
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert body["face_found"] is False and (body["image_width"], body["image_height"]) == size
    code, details, answer = grpc_call(stub.Predict, pb.PredictRequest(image=data))
    assert code == grpc.StatusCode.OK and answer is not None and answer.face_found is False, details


@pytest.mark.parametrize("charset", ["undefined", "idna"])
def test_rfc5987_file_name_with_an_unusable_charset(charset: str, crop: bytes, rest: Gateway) -> None:
    """F1: a filename* charset that bytes.decode cannot use; the name falls back to UTF-8."""
    headers = [f"Content-Disposition: form-data; name=\"file\"; filename*={charset}''%E2%82%AC.jpg"]
    response = rest.form(form((headers, crop)), FORM, "?is_face_crop=true")
    assert response.status_code == 200, response.text[:300]
    assert response.json()["filename"] == "\u20ac.jpg"


# ---------------------------------------------------------------------------------------------- afterwards


def test_server_is_healthy_and_predicts_after_the_corpus(rest: Gateway, photo: bytes, served: RunningServer,
                                                         stub: detector_pb2_grpc.DeepfakeDetectorStub,
                                                         before: dict[str, float]) -> None:
    health = rest.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    response = rest.multipart(photo, "kate.jpg")
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert body["face_found"] is True and body["filename"] == "kate.jpg"
    assert (body["image_width"], body["image_height"]) == (1125, 1612)
    answer = stub.Predict(pb.PredictRequest(image=photo), timeout=120)
    assert answer.image_sha256 == body["image_sha256"]
    assert answer.fake_probability == pytest.approx(body["fake_probability"], abs=1e-6)

    after = request_codes(served)
    delta = {code: after[code] - before.get(code, 0.0) for code in after if after[code] != before.get(code, 0.0)}
    assert set(delta) <= {"OK", "INVALID_ARGUMENT", "NOT_FOUND"}, delta  # NOT_FOUND: the log poll; no INTERNAL
    assert delta.get("INVALID_ARGUMENT", 0) >= len(REFUSED_OVER_GRPC), delta  # REST refusals come on top
