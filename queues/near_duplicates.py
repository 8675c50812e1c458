"""Near-duplicate signatures and their locality-sensitive keys. Pure functions, no database.

Text: a 64-bit SimHash over word 3-shingles of the normalised text. Images: the 64-bit perceptual
hash (DCT pHash, from ``imagehash``). Two items are near-duplicates when their signatures differ in
at most ``MAX_DISTANCE`` bits. Each signature is cut into ``BANDS`` bands of 16 bits; by the
pigeonhole principle, two signatures within 3 bits share at least one band exactly, so an index of
band keys finds every candidate without comparing against every pending item.
"""

import hashlib
import io
import re

import imagehash
import numpy as np
from PIL import Image

BANDS = 4
BAND_BITS = 64 // BANDS
MAX_DISTANCE = 3
_WORD = re.compile(r"\w+", re.UNICODE)


def _to_signed(value: int) -> int:
    """Store 64-bit unsigned values in a signed BIGINT column."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _to_unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


def text_simhash(text: str) -> int | None:
    """SimHash of the text's word 3-shingles; None for text too short to say anything."""
    words = _WORD.findall(text.lower())
    if len(words) < 3:
        return None
    digests = np.frombuffer(
        b"".join(
            hashlib.blake2b(" ".join(words[i : i + 3]).encode(), digest_size=8).digest() for i in range(len(words) - 2)
        ),
        dtype=">u8",
    )
    # Each bit of the result is the majority vote of that bit over every shingle's hash.
    bits = np.unpackbits(digests.view(np.uint8).reshape(-1, 8), axis=1)
    votes = bits.sum(axis=0) * 2 > len(digests)
    return _to_signed(int.from_bytes(np.packbits(votes).tobytes(), "big"))


def image_phash(data: bytes) -> int | None:
    """Perceptual hash of an image's first frame; None when it cannot be decoded."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.seek(0)
            bits = imagehash.phash(image.convert("RGB")).hash.flatten()
    except (OSError, ValueError, SyntaxError):
        return None
    value = 0
    for bit in bits:
        value = value << 1 | int(bit)
    return _to_signed(value)


def distance(a: int, b: int) -> int:
    return (_to_unsigned(a) ^ _to_unsigned(b)).bit_count()


def band_keys(signature: int, *, kind: str) -> list[int]:
    """One key per band, tagged with the band's position and the signature's kind (text or image)."""
    unsigned = _to_unsigned(signature)
    tag = 0 if kind == "text" else 1
    keys = []
    for band in range(BANDS):
        bits = unsigned >> (band * BAND_BITS) & ((1 << BAND_BITS) - 1)
        keys.append(_to_signed(tag << 62 | band << 56 | bits))
    return keys


def is_near_duplicate(a: int | None, b: int | None) -> bool:
    return a is not None and b is not None and distance(a, b) <= MAX_DISTANCE
