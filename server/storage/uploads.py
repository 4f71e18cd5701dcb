"""Optional storage of uploaded images, content-addressed: the path comes from the bytes' sha256, never
from anything the client sent, so a file name like ``../../etc/passwd`` cannot steer where it lands."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}


def store_upload(root: Path, data: bytes, sha256: str, image_format: str) -> str:
    """Write the image once under ``root/ab/cd/<sha256>.<ext>``; returns the path relative to ``root``."""
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise ValueError("sha256 must be 64 lowercase hex digits")
    relative = Path(sha256[:2]) / sha256[2:4] / f"{sha256}{EXTENSIONS.get(image_format, '.bin')}"
    target = Path(root) / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file and rename: a reader never sees half an image.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return str(relative)
