"""Display derivatives: the resized, metadata-free JPEG a reviewer sees instead of the uploaded image.

A near-limit image can cost a hundred megabytes or more to decode (a 38 KB PNG of 6,300 x 6,300 pixels is
119 MB of RGB), and a page of them viewed at once ran web processes to a gigabyte. So a derivative is made
once per image, by a worker (on the ``default`` queue), and stored
next to the original; web processes only ever stream stored derivatives.

Memory bound in the worker: the headers are read first and an image over ``MODERATION_MAX_IMAGE_PIXELS`` is
never decoded; only the first frame is decoded; JPEGs are decoded at 1/2 to 1/8 scale (``draft``); other
formats are reduced in their own mode before any conversion, so at most one full frame (<= 4 bytes per
pixel, 160 MB at the default 40-megapixel limit) is in memory at once, plus the small derivative.

A submission asks for its images' derivatives in one message per ``REQUEST_BATCH`` images (task
``intake.tasks.make_display_images``), not one per image: a message cost the worker about 1.2 ms of CPU,
as much as making a small image's derivative (bench/RESULTS.md, session 13).

Derivatives are content-addressed like the originals (``display/<sha256 of the original>.jpg``): the same
image is derived once, whichever items share it, and a derivative is never stale.
"""

import contextlib
import io
import logging
from collections.abc import Iterable
from pathlib import PurePosixPath

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

logger = logging.getLogger(__name__)

MAKE_DISPLAY_IMAGES_TASK = "intake.tasks.make_display_images"
# Images per message: a submission's batch in one or a few, each short enough not to hold up the default queue.
REQUEST_BATCH = 50
JPEG_QUALITY = 85
# EXIF orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose does), applied
# to the small derivative rather than to the full frame, which would copy it.
ORIENTATION_FIX = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# How long a request for a derivative stands before another view may send it again (a lost message).
REQUEST_DEBOUNCE_SECONDS = 60


class DisplayImageFailed(Exception):
    """The original cannot be turned into a derivative (over the limits, or unreadable)."""


def display_name_for(image_name: str) -> str:
    """``images/ab/<sha>.png`` -> ``display/ab/<sha>.jpg``: where the derivative of that original lives."""
    original = PurePosixPath(image_name)
    return str(PurePosixPath("display") / original.parent.name / f"{original.stem}.jpg")


def stored_display_image(image_name: str) -> str | None:
    """The derivative's storage name if a worker has made it, else None. Reads no pixels."""
    name = display_name_for(image_name)
    return name if default_storage.exists(name) else None


def request_display_image(image_name: str) -> bool:
    """Ask a worker to make one derivative; see ``request_display_images``."""
    return request_display_images([image_name]) == 1


def request_display_images(image_names: Iterable[str]) -> int:
    """Ask a worker to make the derivatives of ``image_names`` (sent by task name, ``REQUEST_BATCH`` names per
    message; each image at most once a minute). Returns how many were asked for.

    Never raises: a broker that is down costs only a placeholder until a later view asks again.
    """
    asked: list[str] = []
    try:
        for name in dict.fromkeys(image_names):
            if cache.add(_request_key(name), 1, REQUEST_DEBOUNCE_SECONDS):
                asked.append(name)
        for start in range(0, len(asked), REQUEST_BATCH):
            names = asked[start : start + REQUEST_BATCH]
            current_app.signature(MAKE_DISPLAY_IMAGES_TASK, args=[names]).apply_async(retry=False)
    except Exception as exc:  # noqa: BLE001 - broker or cache down: the next view of the image asks again
        with contextlib.suppress(Exception):
            cache.delete_many([_request_key(name) for name in asked])
        logger.warning("display images not requested (%s); a later view asks again", type(exc).__name__)
        return 0
    return len(asked)


def _request_key(image_name: str) -> str:
    return f"display-image-requested:{display_name_for(image_name)}"


def make_display_image(image_name: str) -> str:
    """Make and store the derivative of the stored original ``image_name`` (once); return its storage name.

    Runs in a worker. Raises DisplayImageFailed when the original is over the pixel limit or unreadable.
    """
    target = display_name_for(image_name)
    if default_storage.exists(target):
        return target
    side = settings.REVIEW_IMAGE_MAX_SIDE
    try:
        with default_storage.open(image_name, "rb") as handle, Image.open(handle) as image:
            if image.width * image.height > settings.MODERATION_MAX_IMAGE_PIXELS:
                raise DisplayImageFailed(f"{image.width}x{image.height} is over the pixel limit")
            image.seek(0)  # the first frame of an animation is what a reviewer sees
            shown = _reduced(image, side)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise DisplayImageFailed(f"the image cannot be decoded ({type(exc).__name__})") from exc
    buffer = io.BytesIO()
    shown.save(buffer, format="JPEG", quality=JPEG_QUALITY)  # no EXIF, no ICC, no comments: nothing leaks
    saved = default_storage.save(target, ContentFile(buffer.getvalue()))
    if saved != target:
        # Another worker stored the same derivative a moment ago; keep one copy.
        default_storage.delete(saved)
    return target


def _reduced(image: Image.Image, side: int) -> Image.Image:
    """The frame at most ``side`` pixels on its longer side, upright, as RGB; one full frame in memory at most."""
    orientation = image.getexif().get(0x0112)  # EXIF orientation, read before the pixels are reduced
    image.draft("RGB", (side, side))  # JPEG only: decode at a fraction of the size (a no-op for other formats)
    if image.mode == "P":
        # Palette images cannot be resampled smoothly; expand once (the full frame is 1 byte/pixel before this).
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGB")
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    if orientation in ORIENTATION_FIX:
        image = image.transpose(ORIENTATION_FIX[orientation])
    if image.mode in ("RGBA", "LA"):
        # Transparent areas become white, as a browser shows them on the page.
        backdrop = Image.new("RGB", image.size, "white")
        backdrop.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return backdrop
    return image.convert("RGB")
