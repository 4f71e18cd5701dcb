"""The HTTP body of an upload -> the image bytes, its file name and its declared content type.

Envoy's gRPC-JSON transcoder passes REST bodies through unchanged (``google.api.HttpBody``), so the body is
either the image itself (``curl --data-binary @photo.jpg``, any non-multipart content type) or an HTML-form
style ``multipart/form-data`` body whose part named ``file`` holds the image (``curl -F file=@photo.jpg``).

Limits are not enforced here: the body already sits in memory, and ``decode_image`` checks the extracted file.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MAX_BOUNDARY_LENGTH, MultipartState, parse_options_header

from server.errors import InvalidImage, InvalidRequest

__all__ = ["FILE_FIELD", "Upload", "parse_upload", "sanitize_filename"]

FILE_FIELD = "file"
MAX_FILENAME_CHARS = 255

_MULTIPART = b"multipart/form-data"
_MAX_HEADER_BYTES = 16 * 1024
_IDENTITY_ENCODINGS = {"", "binary", "8bit", "7bit"}
_EXTENDED_FILENAME = re.compile(r"(?:^|;)\s*filename\*\s*=\s*([^;]*)", re.IGNORECASE)
# Control, format (e.g. right-to-left override) and surrogate characters, and line/paragraph separators:
# invisible or log-breaking in a name that is echoed back and logged.
_DROPPED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
_FORM_HINT = f'Send the image in a form field called "{FILE_FIELD}", e.g. curl -F {FILE_FIELD}=@photo.jpg.'


@dataclass(frozen=True)
class Upload:
    """The uploaded file: raw bytes (not yet validated), a sanitized name ("" if none) and declared media type."""

    data: bytes
    filename: str
    content_type: str  # lower-case media type without parameters, "" if not declared; informative only


def parse_upload(body: bytes, content_type: str, filename: str = "") -> Upload:
    """Extract the uploaded file from a raw or ``multipart/form-data`` body.

    ``filename``, when non-empty, wins over the multipart part's own file name (the caller got it from a
    more explicit source). Raises ``InvalidImage`` for an empty body and ``InvalidRequest`` for a malformed form.
    """
    if not body:
        raise InvalidImage("No image was uploaded.")
    # Passed as bytes: given a str, python-multipart re-encodes it as latin-1 and raises on other characters.
    media_type, params = parse_options_header(content_type.encode("utf-8", "replace"))
    if media_type != _MULTIPART:
        return Upload(data=body, filename=_clean(filename), content_type=_text(media_type))
    part = _single_file_part(_parse_multipart(body, params.get(b"boundary", b"")))
    return Upload(
        data=part.data,
        filename=_clean(filename or part.filename),
        content_type=_text(parse_options_header(part.headers.get("content-type", b""))[0]),
    )


def sanitize_filename(name: str) -> str:
    """A client-supplied file name made safe to echo back and log. Never use it as a path."""
    # Drop control/format characters before composing: a dropped character between a letter and its
    # combining mark would otherwise leave a non-NFC name that changes when sanitized again.
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if len(name) > MAX_FILENAME_CHARS:
        name = _truncate_keeping_extension(name)
    return "upload" if name in ("", ".", "..") else name


@dataclass
class _Part:
    """One multipart part as it is being parsed: raw headers, then (for the file part only) its data."""

    headers: dict[str, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str = ""
    chunks: list[bytes] = field(default_factory=list)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


class _FormCollector:
    """MultipartParser callbacks that keep the headers of every part and the data of ``file`` parts only."""

    def __init__(self) -> None:
        self.parts: list[_Part] = []
        self._header_field = b""
        self._header_value = b""

    def on_part_begin(self) -> None:
        self.parts.append(_Part())

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self.parts[-1].headers[self._header_field.decode("latin-1").strip().lower()] = self._header_value.strip()
        self._header_field = self._header_value = b""

    def on_headers_finished(self) -> None:
        part = self.parts[-1]
        part.name, part.filename = _content_disposition(part.headers.get("content-disposition", b""))
        if part.name == FILE_FIELD and len(self.file_parts()) > 1:
            # Fail before buffering a second image.
            raise InvalidRequest(f'The form has more than one field named "{FILE_FIELD}"; send one image per request.')

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.parts[-1]
        if part.name == FILE_FIELD:
            part.chunks.append(data[start:end])

    def file_parts(self) -> list[_Part]:
        return [p for p in self.parts if p.name == FILE_FIELD]


def _parse_multipart(body: bytes, boundary: bytes) -> _FormCollector:
    if not boundary:
        raise InvalidRequest("The multipart upload has no boundary in its Content-Type header.")
    if len(boundary) > MAX_BOUNDARY_LENGTH:
        raise InvalidRequest(f"The multipart boundary is longer than {MAX_BOUNDARY_LENGTH} characters.")
    body = _skip_preamble(body, boundary)
    collector = _FormCollector()
    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": collector.on_part_begin,
            "on_header_field": collector.on_header_field,
            "on_header_value": collector.on_header_value,
            "on_header_end": collector.on_header_end,
            "on_headers_finished": collector.on_headers_finished,
            "on_part_data": collector.on_part_data,
        },
        # Room for long (percent-encoded) file names; the default 4 KiB is tight for 1000 non-ASCII characters.
        max_header_size=_MAX_HEADER_BYTES,
    )
    try:
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:
        raise InvalidRequest("The multipart body is malformed.") from exc
    if parser.state != MultipartState.END:
        # The parser does not check this itself; without the closing boundary the file may be cut short.
        raise InvalidRequest("The multipart body ends before its closing boundary; the upload may be truncated.")
    return collector


def _skip_preamble(body: bytes, boundary: bytes) -> bytes:
    """The body from its first boundary on: RFC 2046 allows a preamble before it, which the parser does not."""
    delimiter = b"--" + boundary
    start = 0
    while body[start : start + 1] in (b"\r", b"\n"):
        start += 1
    if not body.startswith(delimiter, start):
        start = body.find(b"\n" + delimiter) + 1
        if start == 0:
            raise InvalidRequest("The multipart body does not contain the boundary named in its Content-Type header.")
    after = body[start + len(delimiter) : start + len(delimiter) + 1]
    if after == b"\n":
        raise InvalidRequest("The multipart body uses bare LF line endings; multipart/form-data needs CRLF.")
    return body[start:]


def _single_file_part(form: _FormCollector) -> _Part:
    parts = form.file_parts()
    if not parts:
        raise InvalidRequest(f'The form has no field named "{FILE_FIELD}". {_FORM_HINT}')
    part = parts[0]  # more than one was refused while parsing
    encoding = _text(part.headers.get("content-transfer-encoding", b"")).lower()
    if encoding not in _IDENTITY_ENCODINGS:
        raise InvalidRequest("The form's file field uses a Content-Transfer-Encoding other than binary.")
    if not part.chunks or not any(part.chunks):
        raise InvalidRequest(f'The form field "{FILE_FIELD}" is empty: no image was attached.')
    return part


def _content_disposition(value: bytes) -> tuple[str, str]:
    """The ``name`` and file name of a form-data part; RFC 5987 ``filename*`` wins over ``filename``."""
    _, params = parse_options_header(value)  # bytes in, bytes out: no charset guessing in the library
    name = params.get(b"name", b"").decode("utf-8", "replace")
    extended = _extended_filename(value.decode("latin-1"))
    # Browsers and curl send UTF-8 file names as raw bytes in the plain parameter.
    filename = extended if extended is not None else params.get(b"filename", b"").decode("utf-8", "replace")
    return name, filename


def _extended_filename(header: str) -> str | None:
    """Decode ``filename*=charset'language'percent-encoded`` (RFC 5987/8187), or None when absent or unusable."""
    match = _EXTENDED_FILENAME.search(header)
    if match is None:
        return None
    charset, sep1, rest = match.group(1).strip().strip('"').partition("'")
    _language, sep2, encoded = rest.partition("'")
    if not (sep1 and sep2):
        return None
    raw = unquote_to_bytes(encoded)
    try:
        return raw.decode(charset or "utf-8", "replace")
    # LookupError: an unknown charset; ValueError (UnicodeError included): a codec that is not a text
    # encoding or ignores errors="replace" ("idna", "undefined", a name with a NUL). UTF-8 is what browsers send.
    except (LookupError, ValueError):
        return raw.decode("utf-8", "replace")


def _truncate_keeping_extension(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    if dot and stem and 0 < len(extension) <= 16:
        return stem[: MAX_FILENAME_CHARS - len(extension) - 1].rstrip() + "." + extension
    return name[:MAX_FILENAME_CHARS].rstrip()


def _clean(filename: str) -> str:
    return sanitize_filename(filename) if filename else ""


def _text(value: bytes) -> str:
    return value.decode("ascii", "replace").strip().lower()
