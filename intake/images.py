"""Checking and storing uploaded images. Every image is treated as hostile until proven otherwise."""

import hashlib
import io
import threading
import warnings
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, UnidentifiedImageError

# Pillow's format names mapped to the file extension we store under.
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}


# One full decode at a time per process: a near-limit image costs up to ~160 MB decoded (40 MP x 4 bytes), and
# a web process's threads decoding several at once ran it past its memory budget. Small images wait microseconds.
_DECODE_SLOT = threading.BoundedSemaphore(1)


class ImageRejected(ValueError):
    """The bytes are not an image we accept; the message says why, for the API client."""


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    sha256: str
    format: str
    width: int
    height: int

    @property
    def storage_name(self) -> str:
        # Content-addressed: the same image is stored once, and rewriting it is harmless.
        return f"images/{self.sha256[:2]}/{self.sha256}.{ALLOWED_FORMATS[self.format]}"


def check_image(data: bytes, *, max_bytes: int, max_pixels: int) -> CheckedImage:
    """Accept ``data`` only if it is a complete JPEG, PNG, WebP or GIF within the limits.

    The format comes from the bytes, never from a file name. Dimensions (and an animation's frame
    count, which counts against the pixel limit) are read from the headers and checked before any pixel
    is decoded, so a decompression bomb is refused cheaply; the full decode afterwards catches
    truncated and corrupt files.
    """
    if not data:
        raise ImageRejected("the image is empty")
    if len(data) > max_bytes:
        raise ImageRejected(f"the image is {len(data)} bytes; the limit is {max_bytes} bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # The slot is held until the decoded frame is freed (``del``), not just while decoding.
            with _DECODE_SLOT:
                with Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as image:
                    width, height = image.size
                    if width * height > max_pixels:
                        raise ImageRejected(
                            f"the image is {width}x{height} = {width * height} pixels; the limit is {max_pixels} pixels"
                        )
                    # Every frame of an animation is decoded to show or score it: frames x pixels is what it costs.
                    frames = getattr(image, "n_frames", 1)
                    if frames > 1 and width * height * frames > max_pixels:
                        raise ImageRejected(
                            f"the animation is {frames} frames of {width}x{height} = {width * height * frames} pixels; "
                            f"the limit is {max_pixels} pixels"
                        )
                    image_format = image.format or ""
                    image.load()
                del image
    except ImageRejected:
        raise
    except UnidentifiedImageError as exc:
        raise ImageRejected("not a JPEG, PNG, WebP or GIF image (judged by its content)") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"the image has too many pixels; the limit is {max_pixels} pixels") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected(f"the image is truncated or corrupt ({exc})") from exc
    if image_format not in ALLOWED_FORMATS:
        raise ImageRejected(f"format {image_format or 'unknown'} is not allowed; send JPEG, PNG, WebP or GIF")
    return CheckedImage(
        data=data, sha256=hashlib.sha256(data).hexdigest(), format=image_format, width=width, height=height
    )


def store_image(image: CheckedImage) -> str:
    """Write the image through Django's storage API (once per content) and return its name."""
    name = image.storage_name
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(image.data))
        if saved != name:
            # Another writer stored the same content at the same moment; keep one copy.
            default_storage.delete(saved)
    return name
