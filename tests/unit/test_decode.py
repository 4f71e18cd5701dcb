"""decode_image on the shared photos and on a generated corpus of odd, broken and hostile files.

Every input must either decode to a correct RGB image or raise InvalidImage/ImageTooLarge with a message a
user can read; no other exception may escape.
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, PngImagePlugin

from server.errors import ImageTooLarge, InvalidImage
from server.imaging import DecodedImage, ImageLimits, decode_image

LIMITS = ImageLimits()
NOT_SUPPORTED = "The file is not a JPEG, PNG or WebP image."
CORRUPT = "The image is truncated or corrupt."
PHOTO_SIZES = {  # width x height as displayed (README of the shared photos)
    "angelina_jolie.jpg": (1665, 2048),
    "kate_siegel.jpg": (1125, 1612),
    "paul_rudd.jpg": (1638, 2048),
    "shea_whigham.jpg": (2048, 1991),
    "multiface.jpg": (1200, 630),
}
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


# ---------------------------------------------------------------------------------------------- helpers


def assert_user_message(exc: BaseException) -> None:
    """A sentence for a user: no Python exception text, no paths, no library names."""
    message = str(exc)
    assert message and message[0].isupper() and message.endswith("."), message
    for leak in ("Traceback", "Error", "PIL", "errno", ".py", "site-packages", "/", "\\", "0x"):
        assert leak not in message, message


def expect(exc_type: type[InvalidImage], data: bytes, limits: ImageLimits = LIMITS) -> InvalidImage:
    with pytest.raises(exc_type) as info:
        decode_image(data, limits)
    assert_user_message(info.value)
    return info.value


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header (with a valid CRC) declares any size, followed by one tiny IDAT: a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def insert_after_ihdr(png: bytes, chunk: bytes) -> bytes:
    end_of_ihdr = 8 + 4 + 4 + 13 + 4
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]


def jpeg_with_app1(jpeg: bytes, payload: bytes) -> bytes:
    """Insert a raw APP1 (EXIF) segment right after SOI, whatever its content."""
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def quadrant_image(size: tuple[int, int] = (64, 32)) -> Image.Image:
    """Black, with the top-left quadrant red: shows where a rotation moved the pixels."""
    image = Image.new("RGB", size, (0, 0, 0))
    image.paste(RED, (0, 0, size[0] // 2, size[1] // 2))
    return image


def rgb(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = image.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def close_to(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def exif_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def decoded(data: bytes) -> DecodedImage:
    result = decode_image(data, LIMITS)
    assert result.image.mode == "RGB"
    assert result.image.size == (result.width, result.height)
    return result


@pytest.fixture(scope="module")
def photo_bytes(photos_dir: Path) -> bytes:
    return (photos_dir / "kate_siegel.jpg").read_bytes()


# ---------------------------------------------------------------------------------------------- real photos


@pytest.mark.parametrize("name", sorted(PHOTO_SIZES))
def test_real_photos_decode(photos_dir: Path, name: str) -> None:
    data = (photos_dir / name).read_bytes()
    result = decoded(data)
    assert (result.width, result.height) == PHOTO_SIZES[name]
    assert result.format == "JPEG"
    assert result.size_bytes == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert 20 < np.asarray(result.image).mean() < 235  # real content, not a blank canvas


def test_dfdc_face_crop_decodes(dfdc_dir: Path) -> None:
    crop = next((dfdc_dir / "real").glob("*.jpg"))
    result = decoded(crop.read_bytes())
    assert result.width > 16 and result.height > 16


def test_decoding_leaves_pil_globals_alone(photo_bytes: bytes) -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    decode_image(photo_bytes, ImageLimits(max_pixels=10**9))
    expect(InvalidImage, photo_bytes[: len(photo_bytes) // 2])
    assert before == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)


# ---------------------------------------------------------------------------------------------- byte limits


def test_empty_upload() -> None:
    expect(InvalidImage, b"")


def test_over_byte_limit_names_size_and_limit(photos_dir: Path) -> None:
    data = (photos_dir / "angelina_jolie.jpg").read_bytes()  # 778,604 bytes = 0.74 MB
    error = expect(ImageTooLarge, data, ImageLimits(max_bytes=512 * 1024))
    assert str(error) == "The image is 760.4 KB; the limit is 512 KB."


def test_over_default_limit_message() -> None:
    data = b"\xff\xd8\xff" + b"\x00" * (12 * 1024 * 1024)
    error = expect(ImageTooLarge, data)
    assert str(error) == "The image is 12.1 MB; the limit is 10 MB."


def test_one_byte_over_never_reads_as_equal_to_the_limit() -> None:
    error = expect(ImageTooLarge, b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024 - 2), LIMITS)
    assert "10.1 MB" in str(error)


def test_exactly_at_byte_limit_is_accepted(photo_bytes: bytes) -> None:
    assert decode_image(photo_bytes, ImageLimits(max_bytes=len(photo_bytes))).size_bytes == len(photo_bytes)


# ---------------------------------------------------------------------------------------------- format


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "ICO", "PPM", "PDF"], ids=lambda f: f.lower())
def test_other_image_formats_are_refused(fmt: str) -> None:
    data = encode(Image.new("RGB", (32, 32), RED), fmt)
    assert str(expect(InvalidImage, data)) == NOT_SUPPORTED


@pytest.mark.parametrize(
    "data",
    [
        b"<!DOCTYPE html><html><body><img src=x></body></html>",
        b"just some text\n",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        b"\x00" * 100,
        b"RIFF\x10\x00\x00\x00WAVEfmt ",  # RIFF, but not WebP
        b"\x89PNG",  # a PNG signature cut short
        b"\xff\xd8",  # a JPEG SOI without the third magic byte
    ],
    ids=["html", "text", "pdf", "zeros", "riff-wave", "short-png-magic", "short-jpeg-magic"],
)
def test_non_images_are_refused(data: bytes) -> None:
    assert str(expect(InvalidImage, data)) == NOT_SUPPORTED


def test_format_comes_from_magic_not_name(photo_bytes: bytes) -> None:
    png = encode(Image.new("RGB", (8, 8), RED), "PNG")
    webp = encode(Image.new("RGB", (8, 8), RED), "WEBP")
    assert [decoded(d).format for d in (photo_bytes, png, webp)] == ["JPEG", "PNG", "WEBP"]


@pytest.mark.parametrize("kind", ["jpeg-magic-png-body", "png-magic-jpeg-body", "webp-header-jpeg-body"])
def test_polyglots_are_refused(kind: str, photo_bytes: bytes) -> None:
    png = encode(Image.new("RGB", (16, 16), RED), "PNG")
    data = {
        "jpeg-magic-png-body": b"\xff\xd8\xff" + png,
        "png-magic-jpeg-body": b"\x89PNG\r\n\x1a\n" + photo_bytes,
        "webp-header-jpeg-body": b"RIFF" + struct.pack("<I", len(photo_bytes) + 4) + b"WEBP" + photo_bytes,
    }[kind]
    expect(InvalidImage, data)


# ---------------------------------------------------------------------------------------------- corrupt files


def test_truncated_jpeg(photo_bytes: bytes) -> None:
    assert str(expect(InvalidImage, photo_bytes[: len(photo_bytes) // 2])) == CORRUPT


def test_truncated_png() -> None:
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8))
    png = encode(noise, "PNG")
    assert str(expect(InvalidImage, png[: len(png) // 2])) == CORRUPT


def test_truncated_webp() -> None:
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8))
    webp = encode(noise, "WEBP", quality=90)
    expect(InvalidImage, webp[: len(webp) // 2])


def test_jpeg_magic_then_garbage() -> None:
    assert str(expect(InvalidImage, b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)) == CORRUPT


def test_png_with_zero_width() -> None:
    expect(InvalidImage, png_claiming(0, 10))


def test_random_corruption_never_escapes_as_another_exception() -> None:
    """Byte flips anywhere in small JPEG/PNG/WebP files: decoded or InvalidImage, nothing else."""
    rng = random.Random(1234)
    base = quadrant_image((48, 40))
    originals = [encode(base, "JPEG"), encode(base, "PNG"), encode(base, "WEBP")]
    for original in originals:
        for _ in range(80):
            data = bytearray(original)
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(3, len(data))] = rng.randrange(256)  # keep the magic so the decoder runs
            try:
                decoded(bytes(data))
            except InvalidImage as error:
                assert_user_message(error)


# ---------------------------------------------------------------------------------------------- pixel limits


def test_png_declaring_100000_squared_is_refused_before_decoding() -> None:
    # Tiny file, 10 gigapixels declared; PIL's own guard fires first and is mapped.
    data = png_claiming(100_000, 100_000)
    assert len(data) < 200
    expect(ImageTooLarge, data)


def test_pixel_limit_checked_from_header() -> None:
    # 64 megapixels: under PIL's default guard, over ours. The IDAT is far too short to decode, so an
    # ImageTooLarge (rather than "corrupt") proves the check ran before the decode.
    error = expect(ImageTooLarge, png_claiming(8000, 8000))
    assert str(error) == "The image is 8000 x 8000 pixels (64 megapixels); the limit is 50 megapixels."


def test_pil_bomb_warning_as_error_is_mapped() -> None:
    # 100 megapixels sits in PIL's warning band; under -W error the warning is raised from Image.open.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        expect(ImageTooLarge, png_claiming(10_000, 10_000))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_pil_bomb_warning_band_still_refused_by_our_limit() -> None:
    expect(ImageTooLarge, png_claiming(10_000, 10_000))


def test_absurd_side_within_pixel_budget_is_refused() -> None:
    error = expect(ImageTooLarge, png_claiming(70_000, 10))
    assert "70000 x 10" in str(error)


def test_configured_pixel_limit(photo_bytes: bytes) -> None:
    error = expect(ImageTooLarge, photo_bytes, ImageLimits(max_pixels=1_000_000))
    assert str(error) == "The image is 1125 x 1612 pixels (1.9 megapixels); the limit is 1 megapixel."


# ---------------------------------------------------------------------------------------------- modes -> RGB


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (4, 1))
    png = encode(Image.fromarray(ramp), "PNG")
    assert Image.open(io.BytesIO(png)).mode.startswith("I")
    pixels = np.asarray(decoded(png).image)
    assert pixels[0, 0].tolist() == [0, 0, 0]
    assert pixels[0, -1].tolist() == [255, 255, 255]
    assert abs(int(pixels[0, 128, 0]) - 128) <= 1  # PIL's convert("RGB") would give 255 here
    assert np.all(np.diff(pixels[0, :, 0].astype(int)) >= 0)


def test_palette_png_with_transparency_is_flattened_on_white() -> None:
    image = Image.new("P", (16, 16), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (8, 0, 16, 16))
    result = decoded(encode(image, "PNG", transparency=1))
    assert rgb(result.image, (2, 2)) == RED
    assert rgb(result.image, (12, 2)) == WHITE


def test_palette_png_without_transparency() -> None:
    image = Image.new("RGB", (16, 16), BLUE).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    assert decoded(encode(image, "PNG")).image.getpixel((3, 3)) == BLUE


def test_la_png() -> None:
    image = Image.new("LA", (16, 16), (60, 255))
    image.paste((60, 0), (0, 0, 8, 16))
    result = decoded(encode(image, "PNG"))
    assert rgb(result.image, (2, 2)) == WHITE
    assert rgb(result.image, (12, 2)) == (60, 60, 60)


def test_rgba_png_composited_on_white() -> None:
    image = Image.new("RGBA", (16, 16), (0, 0, 0, 128))
    assert close_to(rgb(decoded(encode(image, "PNG")).image, (4, 4)), (127, 127, 127), 1)


def test_rgb_png_with_transparent_colour() -> None:
    image = Image.new("RGB", (16, 16), GREEN)
    image.paste(RED, (0, 0, 8, 16))
    result = decoded(encode(image, "PNG", transparency=GREEN))
    assert rgb(result.image, (2, 2)) == RED
    assert rgb(result.image, (12, 2)) == WHITE


def test_rgba_webp_composited_on_white() -> None:
    image = Image.new("RGBA", (16, 16), (255, 0, 0, 255))
    image.paste((0, 0, 0, 0), (8, 0, 16, 16))
    result = decoded(encode(image, "WEBP", lossless=True))
    assert result.format == "WEBP"
    assert rgb(result.image, (2, 2)) == RED
    assert rgb(result.image, (12, 2)) == WHITE


def test_cmyk_jpeg() -> None:
    result = decoded(encode(Image.new("CMYK", (16, 16), (255, 0, 0, 0)), "JPEG", quality=95))
    assert close_to(rgb(result.image, (8, 8)), (0, 255, 255))


def test_grayscale_jpeg() -> None:
    result = decoded(encode(Image.new("L", (16, 16), 90), "JPEG"))
    r, g, b = rgb(result.image, (8, 8))
    assert r == g == b and abs(r - 90) <= 2


def test_one_bit_png() -> None:
    image = Image.new("1", (16, 16), 0)
    image.paste(1, (8, 0, 16, 16))
    result = decoded(encode(image, "PNG"))
    assert (rgb(result.image, (2, 2)), rgb(result.image, (12, 2))) == ((0, 0, 0), WHITE)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animation_gives_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, lossless=True)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    result = decoded(data)
    assert result.format == fmt
    assert close_to(rgb(result.image, (8, 8)), RED, 2)


def test_mpo_jpeg_decodes_as_jpeg_first_picture() -> None:
    # Multi-picture JPEGs (phone cameras) open as PIL's "MPO" but are JPEG files.
    frames = [Image.new("RGB", (16, 16), RED), Image.new("RGB", (16, 16), BLUE)]
    data = encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    result = decoded(data)
    assert result.format == "JPEG"
    assert close_to(rgb(result.image, (8, 8)), RED)


# ---------------------------------------------------------------------------------------------- EXIF orientation


@pytest.mark.parametrize(
    ("orientation", "red_corner"),
    [(1, (8, 8)), (3, (56, 24)), (6, (24, 8)), (8, (8, 56))],
    ids=["none", "rotate-180", "rotate-90-cw", "rotate-90-ccw"],
)
def test_exif_orientation_jpeg(orientation: int, red_corner: tuple[int, int]) -> None:
    data = encode(quadrant_image(), "JPEG", quality=95, exif=exif_with_orientation(orientation))
    result = decoded(data)
    expected_size = (32, 64) if orientation in (6, 8) else (64, 32)
    assert (result.width, result.height) == expected_size
    assert close_to(rgb(result.image, red_corner), RED, 30)
    # The opposite corner stays black, so this is a rotation and not a repaint.
    opposite = (result.width - 1 - red_corner[0], result.height - 1 - red_corner[1])
    assert close_to(rgb(result.image, opposite), (0, 0, 0), 30)


def test_exif_orientation_png() -> None:
    result = decoded(encode(quadrant_image(), "PNG", exif=exif_with_orientation(6)))
    assert (result.width, result.height) == (32, 64)
    assert rgb(result.image, (24, 8)) == RED


def test_real_photo_with_orientation_tag_one(photos_dir: Path) -> None:
    # paul_rudd.jpg carries Orientation=1: nothing may change.
    result = decoded((photos_dir / "paul_rudd.jpg").read_bytes())
    assert (result.width, result.height) == (1638, 2048)


@pytest.mark.parametrize(
    "payload",
    [
        b"Exif\x00\x00" + bytes(random.Random(5).randrange(256) for _ in range(300)),
        b"Exif\x00\x00MM\x00*\x00\x00\xff\xf0",  # IFD offset far past the end
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff\x12\x01\x03\x00",  # 65535 entries announced, one present
        b"Exif\x00\x00",
        b"not exif at all",
    ],
    ids=["random", "ifd-past-end", "entry-count-lie", "header-only", "no-header"],
)
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_garbage_exif_is_ignored(payload: bytes) -> None:
    data = jpeg_with_app1(encode(quadrant_image(), "JPEG", quality=95), payload)
    result = decoded(data)
    assert (result.width, result.height) == (64, 32)
    assert close_to(rgb(result.image, (8, 8)), RED, 30)


@pytest.mark.parametrize("value", [0, 9, 65535])
def test_out_of_range_orientation_is_ignored(value: int) -> None:
    result = decoded(encode(quadrant_image(), "JPEG", exif=exif_with_orientation(value)))
    assert (result.width, result.height) == (64, 32)


# ---------------------------------------------------------------------------------------------- metadata


def test_huge_text_chunk_png_decodes() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "x" * (8 * 1024 * 1024))
    data = encode(Image.new("RGB", (16, 16), BLUE), "PNG", pnginfo=info)
    assert len(data) > 8 * 1024 * 1024
    result = decoded(data)
    assert rgb(result.image, (4, 4)) == BLUE


def test_compressed_text_bomb_png_is_refused() -> None:
    # 40 kB of zTXt that inflates to 50 MB: PIL stops at its per-chunk cap; we report a bad file.
    bomb = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"x" * 50_000_000, 9))
    data = insert_after_ihdr(encode(Image.new("RGB", (16, 16), BLUE), "PNG"), bomb)
    expect(InvalidImage, data)


def test_many_metadata_chunks_png() -> None:
    chunks = b"".join(png_chunk(b"tEXt", b"k\x00" + b"v" * 100) for _ in range(2000))
    data = insert_after_ihdr(encode(Image.new("RGB", (16, 16), GREEN), "PNG"), chunks)
    assert decoded(data).image.getpixel((1, 1)) == GREEN
