"""Fuzz ``server.imaging.upload.parse_upload`` and ``sanitize_filename`` (coverage-guided, atheris/libFuzzer).

An input is ``<content type>\\t<file name>\\n<body>`` (the seeds in ``tests/fuzz/seeds.py`` have that shape;
the mutations make of it what they will). Contract under test: ``parse_upload`` returns an ``Upload`` with
non-empty data and a safe file name, or raises ``InvalidImage``/``InvalidRequest`` with a message written for
a user; ``sanitize_filename`` of any string is a safe name: no path separators, no control/format/
line-separator characters, at most 255 characters, never "", "." or "..". Anything else is a finding:
libFuzzer stops and writes the input to ``crash-<sha1>``.

``sanitize_filename`` must also be idempotent and return NFC text: the service sanitizes an upload's name
twice on some routes, and every route must answer the same name (findings F1 and F2 of tests/fuzz/test_findings.py
were caught by this harness).

Run longer by hand (the corpus grows in build/fuzz/upload/):

    .venv/bin/python -m tests.fuzz.fuzz_upload -max_total_time=600 -print_final_stats=1
"""

from __future__ import annotations

import unicodedata

import atheris

with atheris.instrument_imports(include=["server.imaging", "python_multipart"]):
    from python_multipart import multipart  # noqa: F401  (imported here so that atheris instruments it)

    from server.errors import InvalidImage, InvalidRequest
    from server.imaging.upload import MAX_FILENAME_CHARS, Upload, parse_upload, sanitize_filename

from tests.fuzz.runner import is_user_message, run
from tests.fuzz.seeds import upload_seeds

_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


class Finding(AssertionError):
    """parse_upload or sanitize_filename broke its contract on this input."""


def split_input(data: bytes) -> tuple[str, str, bytes]:
    """(content type, file name, body); the strings are what a gRPC request could carry (valid UTF-8)."""
    header, _, body = data.partition(b"\n")
    content_type, _, filename = header.partition(b"\t")
    return content_type.decode("utf-8", "replace"), filename.decode("utf-8", "replace"), body


def test_one_input(data: bytes) -> None:
    content_type, filename, body = split_input(data)
    check_name(filename, sanitize_filename(filename))
    try:
        upload = parse_upload(body, content_type, filename)
    except (InvalidImage, InvalidRequest) as exc:
        if not is_user_message(str(exc)):
            raise Finding(f"unreadable message: {str(exc)!r}") from exc
        return
    if not isinstance(upload, Upload) or not upload.data:
        raise Finding(f"no image data in {upload!r:.200}")
    if upload.filename:
        check_name("(from the request)", upload.filename)
    if upload.content_type != upload.content_type.strip().lower():
        raise Finding(f"content type {upload.content_type!r} not normalised")


def check_name(raw: str, clean: str) -> None:
    """The invariants of a sanitized file name."""
    problem = ""
    if "/" in clean or "\\" in clean:
        problem = "path separator"
    elif any(unicodedata.category(ch) in _UNSAFE_CATEGORIES for ch in clean):
        problem = "control or format character"
    elif not 0 < len(clean) <= MAX_FILENAME_CHARS:
        problem = f"length {len(clean)}"
    elif clean in (".", "..") or clean != clean.strip():
        problem = "dot name or surrounding whitespace"
    elif (sanitize_filename(clean) != clean or not unicodedata.is_normalized("NFC", clean)):
        problem = "not idempotent / not NFC"
    if problem:
        raise Finding(f"sanitize_filename({raw!r:.300}) = {clean!r:.300}: {problem}")


def main() -> None:
    run("upload", test_one_input, upload_seeds)


if __name__ == "__main__":
    main()
