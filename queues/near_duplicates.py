"""Near-duplicate signatures and their locality-sensitive keys. Pure functions, no database.

Text: a MinHash (128 permutations, drawn by ``datasketch``) of the text's character 5-grams, whose
agreement estimates the Jaccard similarity of two texts; it is cut into 16 bands of 8 values, and
two texts share at least one band with probability 1 - (1 - J^8)^16: 98% at J = 0.83 (one word
changed in a short message), 0.1% at J = 0.3. Candidates sharing a band are then checked against
``MIN_TEXT_SIMILARITY``.

Images: the 64-bit perceptual hash (DCT pHash, from ``imagehash``), cut into 4 bands of 16 bits. By
the pigeonhole principle two hashes within 3 bits share a band; candidates are checked against
``MAX_IMAGE_DISTANCE`` bits.
"""

import functools
import hashlib
import io
import re

import imagehash
import numpy as np
from datasketch import MinHash
from PIL import Image

PERMUTATIONS = 128
TEXT_BANDS = 16
TEXT_ROWS = PERMUTATIONS // TEXT_BANDS
MIN_TEXT_SIMILARITY = 0.6
IMAGE_BANDS = 4
IMAGE_BAND_BITS = 64 // IMAGE_BANDS
MAX_IMAGE_DISTANCE = 6
SHINGLE = 5
# The permutation scheme of datasketch (its default since 2.0.0), named: it must be stated when its permutations
# are drawn. Stored signatures are only comparable with signatures made the same way.
MINHASH_SCHEME = "affine32"
_SHINGLE_MULTIPLIER = np.uint64(0x100000001B3)  # FNV-1's 64-bit prime: odd, so each fold step is a bijection
_SPACE = re.compile(r"\s+")


def _to_signed(value: int) -> int:
    """Store 64-bit unsigned values in a signed BIGINT column."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _to_unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


@functools.cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """The 128 hash permutations of seed 1, as uint32 (affine32). datasketch draws them afresh for every MinHash
    it makes (about 0.5 ms of a routed item's CPU); they depend on the seed only, so one draw serves every one."""
    a, b = MinHash(num_perm=PERMUTATIONS, seed=1, scheme=MINHASH_SCHEME).permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, which datasketch's affine32 scheme applies to every hash before permuting
    (uint32 arithmetic wraps, as intended). tests/queues/test_near_duplicates.py pins the resulting signatures."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def _fmix64(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (uint64 arithmetic wraps, as intended): every input bit reaches every output
    bit, so the top 32 bits of the result are a good 32-bit hash of the whole 64-bit state."""
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xFF51AFD7ED558CCD)
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xC4CEB9FE1A85EC53)
    return values ^ (values >> np.uint64(33))


def _shingle_hashes(normalised: str) -> np.ndarray:
    """A 32-bit hash of each distinct character 5-gram, as uint32, computed for all 5-grams at once.

    Each 5-gram's code points are folded into a 64-bit polynomial (an odd multiplier, wrapping), mixed with
    ``_fmix64``, and its top 32 bits kept. Whole-array numpy operations: with the SHA-1 per 5-gram of datasketch's
    default hash, in a Python loop, a signature of a 4,000-character mail took 0.7 ms (2 % of scoring it), now
    0.27 (bench/RESULTS.md, session 12).
    """
    points = np.frombuffer(normalised.encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    count = len(points) - SHINGLE + 1
    state = points[:count].copy()
    for offset in range(1, SHINGLE):
        state *= _SHINGLE_MULTIPLIER
        state += points[offset : offset + count]
    return (_fmix64(np.unique(state)) >> np.uint64(32)).astype(np.uint32)


def text_minhash(text: str) -> bytes | None:
    """MinHash signature of the text's character 5-grams (lower-cased, whitespace runs as one space); None for
    text too short to compare.

    Scheme ``MINHASH_SCHEME``: the 5-grams hashed by ``_shingle_hashes``, then permuted as datasketch's affine32
    scheme does (its 32-bit finalizer, then ``a * h + b`` with its 128 permutations of seed 1), the minimum
    kept per permutation. Only signatures of the same scheme are comparable: queues migration 0022 re-signed
    the open items when the scheme last changed.
    """
    normalised = _SPACE.sub(" ", text.lower()).strip()
    if len(normalised) < 20:
        return None
    a, b = _permutations()
    hashed = _fmix32(_shingle_hashes(normalised))
    permuted = np.multiply.outer(hashed, a)
    permuted += b
    return permuted.min(axis=0).astype(np.uint32).tobytes()


def text_similarity(a: bytes | None, b: bytes | None) -> float:
    """Estimated Jaccard similarity of two texts from their signatures."""
    if not a or not b:
        return 0.0
    return float(np.mean(np.frombuffer(a, dtype=np.uint32) == np.frombuffer(b, dtype=np.uint32)))


def text_band_keys(signature: bytes) -> list[int]:
    values = np.frombuffer(signature, dtype=np.uint32).reshape(TEXT_BANDS, TEXT_ROWS)
    keys = []
    for band, rows in enumerate(values):
        digest = hashlib.blake2b(rows.tobytes(), digest_size=7, person=b"text-band").digest()
        keys.append(_to_signed(band << 56 | int.from_bytes(digest, "big")))
    return keys


def image_phash(data: bytes) -> int | None:
    """Perceptual hash of an image's first frame; None when it cannot be decoded."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.seek(0)
            # The hash reads a 32 x 32 greyscale thumbnail: a JPEG is decoded at the smallest DCT scale
            # still above 64 px (up to 8x fewer pixels each way), and straight to greyscale.
            image.draft("L", (64, 64))
            bits = imagehash.phash(image.convert("L")).hash.flatten()
    except (OSError, ValueError, SyntaxError):
        return None
    value = 0
    for bit in bits:
        value = value << 1 | int(bit)
    return _to_signed(value)


def image_distance(a: int, b: int) -> int:
    return (_to_unsigned(a) ^ _to_unsigned(b)).bit_count()


def image_band_keys(signature: int) -> list[int]:
    """One key per 16-bit band, tagged so that image keys never collide with text keys."""
    unsigned = _to_unsigned(signature)
    keys = []
    for band in range(IMAGE_BANDS):
        bits = unsigned >> (band * IMAGE_BAND_BITS) & ((1 << IMAGE_BAND_BITS) - 1)
        keys.append(_to_signed(1 << 63 | (TEXT_BANDS + band) << 56 | bits))
    return keys


def near_duplicates_among(
    *, text: bytes | None, image: int | None, candidate_texts: list[bytes | None], candidate_images: list[int | None]
) -> list[bool]:
    """Whether each candidate is a near duplicate of one item, the texts in one numpy comparison.

    A candidate is one when its text signature agrees with the item's on at least ``MIN_TEXT_SIMILARITY`` of
    its positions, or its image hash is within ``MAX_IMAGE_DISTANCE`` bits of the item's.

    Routing compares an item with up to 500 candidates; one ``text_similarity`` call per pair cost more CPU
    than the text model itself for a batch of near-duplicate mails. A signature of another length (none
    is stored) counts as unlike, as no permutation of it lines up.
    """
    matches = np.zeros(len(candidate_texts), dtype=bool)
    if text:
        rows = [index for index, other in enumerate(candidate_texts) if other and len(other) == len(text)]
        if rows:
            others = np.frombuffer(b"".join(candidate_texts[index] for index in rows), dtype=np.uint32)
            own = np.frombuffer(text, dtype=np.uint32)
            agreement = (others.reshape(len(rows), own.size) == own).mean(axis=1)
            matches[rows] = agreement >= MIN_TEXT_SIMILARITY
    if image is not None:
        for index, other in enumerate(candidate_images):
            if not matches[index] and other is not None and image_distance(image, other) <= MAX_IMAGE_DISTANCE:
                matches[index] = True
    return matches.tolist()
