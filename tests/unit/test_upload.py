"""parse_upload on raw and multipart/form-data bodies (well-formed, odd and broken) and sanitize_filename.

Multipart bodies are built byte by byte with CRLF framing, the way curl and browsers send them.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from server.errors import DeepfakeError, InvalidImage, InvalidRequest
from server.imaging import ImageLimits, Upload, decode_image, parse_upload, sanitize_filename

BOUNDARY = "------------------------d74496d66958873e"  # curl's style
FORM = f"multipart/form-data; boundary={BOUNDARY}"
IMAGE = b"\xff\xd8\xff\xe0 not really a jpeg, parse_upload does not look inside \r\n\xff\xd9"

Part = tuple[list[str], bytes]


def part(name: str, data: bytes, filename: str | None = None, content_type: str | None = None) -> Part:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    headers = [f"Content-Disposition: {disposition}"]
    if content_type:
        headers.append(f"Content-Type: {content_type}")
    return headers, data


def form(*parts: Part, boundary: str = BOUNDARY, newline: bytes = b"\r\n", closing: bool = True) -> bytes:
    """A multipart/form-data body: each part is ``--boundary``, header lines, a blank line, the data."""
    delimiter = b"--" + boundary.encode()
    body = b""
    for headers, data in parts:
        body += delimiter + newline + b"".join(h.encode("utf-8") + newline for h in headers) + newline + data + newline
    return body + (delimiter + b"--" + newline if closing else b"")


def assert_user_message(exc: BaseException) -> None:
    """A sentence for a user: no Python exception text, no parser internals, no paths."""
    message = str(exc)
    assert message and message[0].isupper() and message.endswith("."), message
    for leak in ("Traceback", "Error", "errno", ".py", "site-packages", "/work", "\\", "offset", "index"):
        assert leak not in message, message


def expect(exc_type: type[DeepfakeError], body: bytes, content_type: str = FORM) -> DeepfakeError:
    with pytest.raises(exc_type) as info:
        parse_upload(body, content_type)
    assert_user_message(info.value)
    return info.value


# ---------------------------------------------------------------------------------------------- raw bodies


@pytest.mark.parametrize("content_type", ["image/jpeg", "application/octet-stream", "", "IMAGE/PNG; q=1"])
def test_raw_body_is_the_image(content_type: str) -> None:
    upload = parse_upload(IMAGE, content_type, "photo.jpg")
    assert upload == Upload(data=IMAGE, filename="photo.jpg", content_type=content_type.split(";")[0].lower())


def test_raw_body_without_filename() -> None:
    assert parse_upload(IMAGE, "image/jpeg").filename == ""


def test_raw_filename_is_sanitized() -> None:
    assert parse_upload(IMAGE, "image/jpeg", "../../etc/passwd").filename == "passwd"


@pytest.mark.parametrize("content_type", ["image/jpeg", FORM, ""])
def test_empty_body(content_type: str) -> None:
    assert str(expect(InvalidImage, b"", content_type)) == "No image was uploaded."


def test_non_ascii_content_type_does_not_crash() -> None:
    assert parse_upload(IMAGE, "image/jpég€").data == IMAGE


# ---------------------------------------------------------------------------------------------- multipart: good


def test_curl_style_upload_of_a_real_photo(photos_dir: Path) -> None:
    photo = (photos_dir / "multiface.jpg").read_bytes()
    body = form(part("file", photo, "multiface.jpg", "image/jpeg"))
    upload = parse_upload(body, FORM)
    assert upload == Upload(data=photo, filename="multiface.jpg", content_type="image/jpeg")
    assert decode_image(upload.data, ImageLimits()).width == 1200


def test_other_fields_are_ignored() -> None:
    body = form(
        part("note", b"hello"),
        part("other", b"\xff\xd8\xff other image", "other.jpg", "image/jpeg"),
        part("file", IMAGE, "face.jpg", "image/jpeg"),
        part("explain", b"true"),
    )
    assert parse_upload(body, FORM).data == IMAGE


def test_part_without_content_disposition_is_ignored() -> None:
    body = form((["Content-Type: text/plain"], b"stray"), part("file", IMAGE, "a.jpg"))
    assert parse_upload(body, FORM).data == IMAGE


def test_file_field_without_filename() -> None:
    upload = parse_upload(form(part("file", IMAGE)), FORM)
    assert (upload.data, upload.filename, upload.content_type) == (IMAGE, "", "")


def test_filename_argument_wins_over_the_part() -> None:
    assert parse_upload(form(part("file", IMAGE, "part.jpg")), FORM, "given.jpg").filename == "given.jpg"


def test_utf8_filename_as_browsers_send_it() -> None:
    assert parse_upload(form(part("file", IMAGE, "фото дня.jpg")), FORM).filename == "фото дня.jpg"


def test_rfc5987_filename() -> None:
    headers = ["Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''%E2%82%AC%20rates%20%E6%97%A5.jpg"]
    assert parse_upload(form((headers, IMAGE)), FORM).filename == "€ rates 日.jpg"


def test_rfc5987_filename_wins_over_plain() -> None:
    headers = ["Content-Disposition: form-data; name=file; filename=\"plain.jpg\"; filename*=utf-8''%C3%A9t%C3%A9.jpg"]
    assert parse_upload(form((headers, IMAGE)), FORM).filename == "été.jpg"


def test_rfc5987_filename_latin1_and_unknown_charset() -> None:
    latin1 = ["Content-Disposition: form-data; name=file; filename*=iso-8859-1'fr'%E9t%E9.jpg"]
    unknown = ["Content-Disposition: form-data; name=file; filename*=no-such-charset''%C3%A9.jpg"]
    assert parse_upload(form((latin1, IMAGE)), FORM).filename == "été.jpg"
    assert parse_upload(form((unknown, IMAGE)), FORM).filename == "é.jpg"


def test_malformed_rfc5987_falls_back_to_plain_filename() -> None:
    headers = ['Content-Disposition: form-data; name=file; filename="plain.jpg"; filename*=no-quotes.jpg']
    assert parse_upload(form((headers, IMAGE)), FORM).filename == "plain.jpg"


def test_path_in_part_filename_is_reduced_to_its_name() -> None:
    assert parse_upload(form(part("file", IMAGE, "C:\\Users\\me\\face.jpg")), FORM).filename == "face.jpg"


def test_semicolon_and_escaped_quote_in_quoted_filename() -> None:
    headers = ['Content-Disposition: form-data; name="file"; filename="a;b \\"c\\".jpg"']
    assert parse_upload(form((headers, IMAGE)), FORM).filename == 'a;b "c".jpg'


def test_quoted_boundary() -> None:
    boundary = "abc def:xyz'()+_,-./=?"
    body = form(part("file", IMAGE, "a.jpg"), boundary=boundary)
    assert parse_upload(body, f'multipart/form-data; boundary="{boundary}"').data == IMAGE


def test_header_case_and_parameter_order() -> None:
    body = form(part("file", IMAGE, "a.jpg"))
    assert parse_upload(body, f"Multipart/Form-Data; charset=utf-8; BOUNDARY={BOUNDARY}").data == IMAGE


def test_longest_allowed_boundary() -> None:
    boundary = "b" * 256
    assert parse_upload(form(part("file", IMAGE), boundary=boundary), f"multipart/form-data; boundary={boundary}")


@pytest.mark.parametrize(
    "data",
    [
        b"--" + BOUNDARY.encode() + b"x in the middle, not at a line start",
        b"line\r\n--" + BOUNDARY.encode() + b"not followed by CRLF or --",
        b"ends with a partial delimiter\r\n--" + BOUNDARY.encode()[:10],
        b"\r\n\r\n--\r\n--",
    ],
    ids=["mid-line", "line-start-then-text", "partial-at-end", "dashes-and-newlines"],
)
def test_boundary_like_bytes_inside_the_file(data: bytes) -> None:
    assert parse_upload(form(part("file", data, "a.jpg")), FORM).data == data


def test_preamble_and_epilogue() -> None:
    body = b"This is a preamble.\r\n" + form(part("file", IMAGE)) + b"epilogue text\r\n"
    assert parse_upload(body, FORM).data == IMAGE


def test_leading_newlines_and_no_final_crlf() -> None:
    body = b"\r\n" + form(part("file", IMAGE))[:-2]
    assert parse_upload(body, FORM).data == IMAGE


def test_long_unicode_filename_in_header() -> None:
    name = "ж" * 1000 + ".jpg"
    assert parse_upload(form(part("file", IMAGE, name)), FORM).filename == "ж" * 251 + ".jpg"


# ---------------------------------------------------------------------------------------------- multipart: bad


def test_missing_file_field_names_the_field() -> None:
    error = expect(InvalidRequest, form(part("image", IMAGE, "a.jpg"), part("note", b"x")))
    assert '"file"' in str(error) and "-F file=@" in str(error)


def test_field_name_is_case_sensitive() -> None:
    expect(InvalidRequest, form(part("File", IMAGE, "a.jpg")))


def test_two_file_parts() -> None:
    error = expect(InvalidRequest, form(part("file", IMAGE, "a.jpg"), part("file", IMAGE, "b.jpg")))
    assert "more than one" in str(error)


def test_empty_file_part() -> None:
    assert "empty" in str(expect(InvalidRequest, form(part("file", b"", "a.jpg"))))


def test_form_with_no_parts() -> None:
    expect(InvalidRequest, b"--" + BOUNDARY.encode() + b"--\r\n")


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "multipart/form-data; boundary=", 'multipart/form-data; boundary=""']
)
def test_boundary_missing_from_content_type(content_type: str) -> None:
    assert "boundary" in str(expect(InvalidRequest, form(part("file", IMAGE)), content_type))


def test_boundary_not_in_body() -> None:
    expect(InvalidRequest, form(part("file", IMAGE), boundary="something-else"))


def test_boundary_too_long() -> None:
    boundary = "b" * 257
    expect(InvalidRequest, form(part("file", IMAGE), boundary=boundary), f"multipart/form-data; boundary={boundary}")


def test_truncated_body(photos_dir: Path) -> None:
    photo = (photos_dir / "kate_siegel.jpg").read_bytes()
    body = form(part("file", photo, "k.jpg", "image/jpeg"))
    assert "truncated" in str(expect(InvalidRequest, body[: len(body) // 2]))


def test_missing_final_boundary() -> None:
    assert "closing boundary" in str(expect(InvalidRequest, form(part("file", IMAGE), closing=False)))


def test_final_boundary_without_closing_dashes() -> None:
    body = form(part("file", IMAGE), closing=False) + b"--" + BOUNDARY.encode() + b"\r\n"
    expect(InvalidRequest, body)


def test_lf_only_line_endings() -> None:
    assert "CRLF" in str(expect(InvalidRequest, form(part("file", IMAGE, "a.jpg"), newline=b"\n")))


def test_lf_only_after_a_preamble() -> None:
    body = b"preamble\n" + form(part("file", IMAGE, "a.jpg"), newline=b"\n")
    assert "CRLF" in str(expect(InvalidRequest, body))


def test_invalid_header_name() -> None:
    expect(InvalidRequest, form((['Content Disposition: form-data; name="file"'], IMAGE)))


def test_header_without_blank_line() -> None:
    body = b"--" + BOUNDARY.encode() + b'\r\nContent-Disposition: form-data; name="file"\r\nno colon here'
    expect(InvalidRequest, body)


def test_base64_transfer_encoding_is_refused() -> None:
    headers = ['Content-Disposition: form-data; name="file"', "Content-Transfer-Encoding: base64"]
    assert "Content-Transfer-Encoding" in str(expect(InvalidRequest, form((headers, b"/9j/4AAQ"))))


def test_garbage_with_multipart_content_type() -> None:
    expect(InvalidRequest, bytes(random.Random(3).randrange(256) for _ in range(2000)))


def test_every_truncation_and_corruption_is_handled() -> None:
    """Cut or damage a valid form anywhere: an Upload or a domain error, never a stray exception."""
    body = form(part("note", b"hello"), part("file", IMAGE * 4, "a.jpg", "image/jpeg"))
    rng = random.Random(99)
    variants = [body[:cut] for cut in range(1, len(body))]
    for _ in range(300):
        damaged = bytearray(body)
        damaged[rng.randrange(len(body))] = rng.randrange(256)
        variants.append(bytes(damaged))
    for variant in variants:
        try:
            parse_upload(variant, FORM)
        except (InvalidRequest, InvalidImage) as error:
            assert_user_message(error)


# ---------------------------------------------------------------------------------------------- sanitize_filename


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\x\\y.jpg", "y.jpg"),
        ("\\\\server\\share\\face.png", "face.png"),
        ("dir/sub\\mixed/name.webp", "name.webp"),
        ("evil\x00.jpg", "evil.jpg"),
        ("line\r\nbreak\t.jpg", "linebreak.jpg"),
        ("gpj.exe\u202ephoto", "gpj.exephoto"),  # right-to-left override dropped
        ("  spaced name.jpg  ", "spaced name.jpg"),
        ("Ärger résumé 日本.jpg", "Ärger résumé 日本.jpg"),
        ("cafe\u0301.jpg", "café.jpg"),  # NFC
        ("", "upload"),
        (".", "upload"),
        ("..", "upload"),
        ("../", "upload"),
        ("a/..", "upload"),
        ("\x00\x01", "upload"),
        (" . ", "upload"),
        (".hidden", ".hidden"),
    ],
)
def test_sanitize_filename(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean
    assert sanitize_filename(clean) == clean  # idempotent: the service may sanitize an Upload's name again


def test_sanitize_long_name_keeps_extension() -> None:
    clean = sanitize_filename("a" * 1000 + ".jpeg")
    assert len(clean) == 255 and clean.endswith("a.jpeg")


def test_sanitize_long_name_without_extension() -> None:
    assert sanitize_filename("b" * 1000) == "b" * 255


def test_sanitize_long_unicode_name() -> None:
    clean = sanitize_filename("日" * 1000 + ".png")
    assert len(clean) == 255 and clean.endswith("日.png")


def test_sanitize_long_extension_is_not_kept() -> None:
    clean = sanitize_filename("x." + "y" * 1000)
    assert clean == ("x." + "y" * 1000)[:255]
