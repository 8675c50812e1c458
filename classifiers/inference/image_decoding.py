"""Decoding untrusted image bytes under format, byte and pixel limits: no torch, no timm.

Shared by the torch image model (``classifiers.inference.image``) and the ONNX Runtime one
(``classifiers.inference.onnx_image``), so a scoring worker that runs the latter never imports torch's
vision stack just to read a JPEG.
"""

from __future__ import annotations

import io
import logging
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

# Formats a platform plausibly sends; anything else (PSD, EPS, ICO, ...) is refused before decoding.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
MAX_BYTES = 25 * 1024 * 1024
# 40 megapixels covers any phone photo; a decoded RGB image of this size already takes 120 MB.
MAX_PIXELS = 40_000_000
# The shorter side an image is reduced to (never below) for the models: twice the 224-260 px the packaged
# networks read, so their own resampling still shrinks it. A 12-megapixel phone photo decoded in full cost
# ~97 ms and the models' resizes from full size ~230 ms more, against ~45 ms of networks (bench/image_decoding.py).
DECODE_MIN_SIDE = 512


class ImageDecodeError(ValueError):
    """The bytes are not an image this model will look at; ``reason`` says why, for a reviewer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_image(
    data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS, min_side: int | None = DECODE_MIN_SIDE
) -> Image.Image:
    """Decode untrusted bytes into an RGB ``PIL.Image`` (first frame, EXIF orientation applied).

    Only ``ALLOWED_FORMATS`` are opened, the byte and pixel limits are checked before the pixels are
    decoded, and truncated or corrupt data is refused rather than padded with grey. Transparent
    pixels are composited onto white, which is how a browser shows them on the review page.
    An image whose sides are both at least twice ``min_side`` comes back reduced by a whole factor, its
    shorter side still ``min_side`` or more (a JPEG is decoded at that scale, never in full); ``None``
    keeps every pixel. Raises ``ImageDecodeError`` whose ``reason`` a reviewer can read.
    """
    if not data:
        raise ImageDecodeError("the file is empty.")
    if len(data) > max_bytes:
        raise ImageDecodeError(
            f"the file is {len(data) / 1e6:.1f} MB; images over {max_bytes / 1e6:.0f} MB are refused."
        )
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        raise ImageDecodeError(
            f"the file is not an image in a supported format ({', '.join(ALLOWED_FORMATS)})."
        ) from None
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types on hostile headers
        raise ImageDecodeError(f"the image header is corrupt ({describe_error(exc)}).") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageDecodeError(f"the image has no pixels ({width}×{height}).")
    if width * height > max_pixels:
        raise ImageDecodeError(
            f"the image is {width}×{height} pixels; images over {max_pixels / 1e6:.0f} megapixels are refused."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.seek(0)
            if min_side:
                image.draft(None, (min_side, min_side))  # JPEG only: 1/2 to 1/8 scale; a no-op for other formats
            image.load()
    except Exception as exc:  # noqa: BLE001 - truncated and corrupt data surface as OSError, SyntaxError, ...
        raise ImageDecodeError(f"the {image.format} data is truncated or corrupt ({describe_error(exc)}).") from None
    try:
        image = ImageOps.exif_transpose(image)
    except Exception as exc:  # noqa: BLE001 - a broken EXIF block should not hide otherwise sound pixels
        logger.info("ignoring unreadable EXIF orientation: %s", describe_error(exc))
    try:
        rgb = _to_rgb(image)
    except Exception as exc:  # noqa: BLE001 - exotic modes (LAB, HSV, ...) Pillow cannot convert
        reason = f"the image's colour mode {image.mode} cannot be shown ({describe_error(exc)})."
        raise ImageDecodeError(reason) from None
    factor = min(rgb.size) // min_side if min_side else 1
    return rgb.reduce(factor) if factor >= 2 else rgb  # box average: what a JPEG's reduced decode gives


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image.copy()
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit and float greyscale: Pillow's convert("RGB") clips instead of scaling.
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
        return Image.fromarray(scaled.astype(np.uint8), mode="L").convert("RGB")
    if image.mode == "P" or image.mode in ("LA", "PA", "La", "RGBa", "RGBA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
