"""Cold-start prior for images: what the image model says before any reviewer has labelled an image.

Since the packaged image-safety classifier (``classifiers.image_safety``) exists, ``ImageModel`` takes the
sexual and violence priors from it and only the base rates below from here; the colour heuristics stay
for comparison (``bench/image_safety.py`` prints both on the same benign images).

Read this before trusting it. The project ships no pretrained image weights (nothing is downloaded,
DESIGN.md), so before labels exist there is no learned notion of "nudity" or "gore" at all. What is
left are colour statistics, computed here in pure numpy on a 128-pixel thumbnail:

* ``sexual``: the share of skin-tone pixels, using the fixed YCbCr box of Chai & Ngan (1999,
  "Face segmentation using skin-color map in videophone applications"): 77 <= Cb <= 127 and
  133 <= Cr <= 173, on pixels that are neither near-black nor near-white. A mostly-skin image gets a
  higher score. Weaknesses: portraits, faces, hands and babies are mostly skin too; so are sand,
  wood, beige walls, bread and warm-lit rooms; very dark or very pale skin and coloured lighting
  fall outside the box; a nude in black and white has no skin tone at all. It ranks, weakly; it does
  not detect.
* ``violence``: the share of saturated dark-red ("blood-like") pixels. Weaker still: red clothes,
  sauces, meat, logos and sunsets score the same, and most graphic violence is not mostly red.
* every other category (and any category an admin adds): a constant base rate. Spam, scams,
  harassment, hate and self-harm in images are mostly carried by text in the picture or by context,
  which colour statistics cannot see.

Neither heuristic has been validated on real moderation images in this repository (there is no such
data set here), so both are capped well below certainty (``SEXUAL_CAP``, ``VIOLENCE_CAP``): a prior
may order a cold queue, it must never auto-act. The head trained on reviewer labels
(``classifiers.heads``) replaces these scores category by category as labels arrive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image

# Assumed share of flagged images that violate each policy. Only the ordering across categories and
# the rough size matter: they are what a cold queue shows before any label exists.
BASE_RATES: dict[str, float] = {
    "spam": 0.05,
    "scam_fraud": 0.03,
    "harassment": 0.03,
    "hate": 0.02,
    "sexual": 0.05,
    "violence": 0.03,
    "self_harm": 0.01,
}
DEFAULT_BASE_RATE = 0.03
THUMBNAIL = 128

# Logistic ramps from the base rate up to a cap: (share at the midpoint, width, cap).
SEXUAL_MIDPOINT, SEXUAL_WIDTH, SEXUAL_CAP = 0.40, 0.07, 0.60
VIOLENCE_MIDPOINT, VIOLENCE_WIDTH, VIOLENCE_CAP = 0.15, 0.04, 0.30


def image_prior(
    images: Sequence[Image.Image], slugs: Sequence[str], *, base_rates: Mapping[str, float] | None = None
) -> list[dict[str, float]]:
    """For each image, a probability in [0, 1] for every slug in ``slugs``."""
    rates = {**BASE_RATES, **(base_rates or {})}
    results = []
    for image in images:
        pixels = _thumbnail_pixels(image) if {"sexual", "violence"} & set(slugs) else None
        scores = {}
        for slug in slugs:
            base = float(rates.get(slug, DEFAULT_BASE_RATE))
            if slug == "sexual" and pixels is not None:
                p = _ramp(_skin_share(pixels), base, SEXUAL_MIDPOINT, SEXUAL_WIDTH, SEXUAL_CAP)
            elif slug == "violence" and pixels is not None:
                p = _ramp(_red_share(pixels), base, VIOLENCE_MIDPOINT, VIOLENCE_WIDTH, VIOLENCE_CAP)
            else:
                p = base
            scores[slug] = min(1.0, max(0.0, p))
        results.append(scores)
    return results


def skin_share(image: Image.Image) -> float:
    """Share of the image's pixels (on a thumbnail) that fall in the YCbCr skin-tone box."""
    return _skin_share(_thumbnail_pixels(image))


def red_share(image: Image.Image) -> float:
    """Share of the image's pixels (on a thumbnail) that are saturated dark red."""
    return _red_share(_thumbnail_pixels(image))


def _thumbnail_pixels(image: Image.Image) -> np.ndarray:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    # thumbnail() works in place, so it needs a copy; reduce() first makes that copy small (a 36 MP
    # image's full-size copy was 108 MB of the worker's peak).
    factor = max(1, min(rgb.size) // (2 * THUMBNAIL))
    small = rgb.reduce(factor) if factor > 1 else rgb.copy()
    small.thumbnail((THUMBNAIL, THUMBNAIL))
    return np.asarray(small, dtype=np.float32).reshape(-1, 3)


def _skin_share(rgb: np.ndarray) -> float:
    if not len(rgb):
        return 0.0
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    # Full-range (JPEG) RGB -> YCbCr.
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b
    skin = (cb >= 77) & (cb <= 127) & (cr >= 133) & (cr <= 173) & (y >= 40) & (y <= 245)
    return float(skin.mean())


def _red_share(rgb: np.ndarray) -> float:
    if not len(rgb):
        return 0.0
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    red = (r >= 80) & (r <= 220) & (r >= 2.0 * g) & (r >= 2.0 * b)
    return float(red.mean())


def _ramp(share: float, base: float, midpoint: float, width: float, cap: float) -> float:
    """``base`` for a share well below ``midpoint``, rising smoothly to ``cap`` well above it."""
    weight = 1.0 / (1.0 + np.exp(-(share - midpoint) / width))
    return float(base + (max(cap, base) - base) * weight)
