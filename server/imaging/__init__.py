"""Upload handling: unwrap the HTTP body (raw or multipart), then decode and validate the image.

No grpc here: the transport hands over bytes and a content type, and gets domain objects or domain errors back.
"""

from server.imaging.decode import SUPPORTED_FORMATS, DecodedImage, ImageLimits, decode_image
from server.imaging.upload import Upload, parse_upload, sanitize_filename

__all__ = [
    "SUPPORTED_FORMATS",
    "DecodedImage",
    "ImageLimits",
    "Upload",
    "decode_image",
    "parse_upload",
    "sanitize_filename",
]
