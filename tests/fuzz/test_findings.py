"""Inputs the fuzzers found that broke a contract, kept as regression tests (both fixed in server/imaging/upload.py).

F1: a ``filename*`` charset naming a codec that cannot decode with errors="replace" ("undefined", "idna",
"punycode", a name with a NUL) raised UnicodeError/ValueError, and the request ended INTERNAL.
F2: ``sanitize_filename`` composed (NFC) before dropping control/format characters, so a dropped character between
a letter and a combining mark left a non-NFC name that changed when sanitized again.
"""

from __future__ import annotations

import unicodedata

import pytest

from server.imaging import parse_upload, sanitize_filename
from tests.unit.test_upload import FORM, form

IMAGE = b"\xff\xd8\xff\xe0 not really a jpeg"


def upload_with_extended_filename(value: str) -> bytes:
    return form(([f'Content-Disposition: form-data; name="file"; filename*={value}'], IMAGE))


@pytest.mark.parametrize("charset", ["undefined", "idna", "punycode", "U\x00\x00-v", "rot13", "base64"])
def test_rfc5987_filename_with_an_unusable_charset_falls_back_to_utf8(charset: str) -> None:
    upload = parse_upload(upload_with_extended_filename(f"{charset}''%E2%82%AC.jpg"), FORM)
    assert upload.data == IMAGE
    assert upload.filename == "\u20ac.jpg"


@pytest.mark.parametrize(("raw", "clean"), [("e\u200b\u0301.jpg", "\u00e9.jpg"), ("A\u200e\u030a.png", "\u00c5.png"),
                                            ("n\x00\u0303o.jpg", "\u00f1o.jpg")])
def test_sanitize_filename_is_idempotent_and_nfc(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean
    assert unicodedata.is_normalized("NFC", clean)
    assert sanitize_filename(clean) == clean
