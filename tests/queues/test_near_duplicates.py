"""Near-duplicate signatures, without a database."""

import io
import random

import numpy as np
from PIL import Image, ImageDraw

from queues import near_duplicates
from queues.near_duplicates import (
    image_band_keys,
    image_distance,
    image_phash,
    near_duplicates_among,
    text_band_keys,
    text_minhash,
    text_similarity,
)

SCAM = (
    "Congratulations! You have been selected to receive a free iPhone 17. To claim your prize, send your full "
    "name, address and card number to our verification team within 24 hours or the offer expires."
)
OTHER = "Thanks for the stream yesterday, the new song sounded great and the chat was fun as always."


def is_near_duplicate(*, text_a: bytes | None, text_b: bytes | None, image_a: int | None, image_b: int | None) -> bool:
    """One pair at a time, from the definition: the reference the batched comparison must agree with."""
    if text_similarity(text_a, text_b) >= near_duplicates.MIN_TEXT_SIMILARITY:
        return True
    if image_a is None or image_b is None:
        return False
    return image_distance(image_a, image_b) <= near_duplicates.MAX_IMAGE_DISTANCE


def test_a_lightly_edited_text_is_a_near_duplicate_and_an_unrelated_one_is_not():
    edited = SCAM.replace("24 hours", "48 hours").replace("iPhone 17", "Galaxy S30")
    a, b, c = text_minhash(SCAM), text_minhash(edited), text_minhash(OTHER)
    assert text_similarity(a, a) == 1.0
    assert text_similarity(a, b) > 0.7
    assert text_similarity(a, c) < 0.1
    assert near_duplicates_among(text=a, image=None, candidate_texts=[b, c], candidate_images=[None, None]) == [
        True,
        False,
    ]
    assert set(text_band_keys(a)) & set(text_band_keys(b))
    assert not set(text_band_keys(a)) & set(text_band_keys(c))
    assert text_minhash("hi there") is None


def _poster(text: str) -> bytes:
    image = Image.new("RGB", (320, 240), "navy")
    ImageDraw.Draw(image).text((20, 100), text, fill="yellow", font_size=28)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def test_a_resized_recompressed_image_is_a_near_duplicate():
    data = _poster("FREE GIFT CARD")
    resized = io.BytesIO()
    Image.open(io.BytesIO(data)).resize((640, 480)).save(resized, format="WEBP", quality=40)
    original, copy = image_phash(data), image_phash(resized.getvalue())
    different = image_phash(_poster("see you in Berlin, tour dates"))
    assert near_duplicates_among(
        text=None, image=original, candidate_texts=[None, None], candidate_images=[copy, different]
    ) == [True, False]
    assert image_phash(b"not an image") is None


def test_image_hashes_within_three_bits_always_share_a_band_key():
    base = image_phash(_poster("FREE GIFT CARD"))
    rng = np.random.default_rng(0)
    for _ in range(200):
        changed = base
        for bit in rng.choice(64, size=3, replace=False):
            changed ^= 1 << int(bit)
        changed = changed - (1 << 64) if changed >= 1 << 63 else changed
        assert image_distance(base, changed) == 3
        assert set(image_band_keys(base)) & set(image_band_keys(changed))


def test_text_and_image_keys_never_collide():
    assert not set(text_band_keys(text_minhash(SCAM))) & set(image_band_keys(image_phash(_poster("x"))))


def test_comparing_with_many_candidates_at_once_agrees_with_one_pair_at_a_time():
    edited = SCAM.replace("free", "FREE new")
    texts = [text_minhash(SCAM), text_minhash(edited), text_minhash(OTHER), None, text_minhash(OTHER + " ok")]
    images = [None, None, image_phash(_poster("a")), image_phash(_poster("a")), image_phash(_poster("b"))]
    for own_text, own_image in [(texts[0], None), (None, images[2]), (texts[2], images[4]), (None, None)]:
        expected = [
            is_near_duplicate(text_a=own_text, text_b=text, image_a=own_image, image_b=image)
            for text, image in zip(texts, images, strict=True)
        ]
        assert (
            near_duplicates_among(text=own_text, image=own_image, candidate_texts=texts, candidate_images=images)
            == expected
        )
    assert near_duplicates_among(text=texts[0], image=None, candidate_texts=texts, candidate_images=images)[:3] == [
        True,
        True,
        False,
    ]


def _shingles(text: str) -> set[str]:
    normalised = " ".join(text.lower().split())
    return {normalised[i : i + near_duplicates.SHINGLE] for i in range(len(normalised) - near_duplicates.SHINGLE + 1)}


def test_signature_agreement_estimates_the_jaccard_similarity_of_the_5_grams():
    # With 128 permutations one estimate's standard error is at most 0.044; over 200 pairs of every similarity
    # (ASCII and not, words replaced at random) the errors must look like that, centred on zero.
    rng = random.Random(7)
    words = ["offer", "free", "Zürich", "naïve", "日本語", "click", "now", "€100", "link", "bio", "prize", "stream"]
    errors = []
    for _ in range(200):
        original = [rng.choice(words) + str(rng.randint(0, 99)) for _ in range(rng.randint(20, 300))]
        edited = [rng.choice(words) if rng.random() < rng.random() else word for word in original]
        a, b = _shingles(" ".join(original)), _shingles(" ".join(edited))
        exact = len(a & b) / len(a | b)
        errors.append(text_similarity(text_minhash(" ".join(original)), text_minhash(" ".join(edited))) - exact)
    errors = np.array(errors)
    assert abs(errors.mean()) < 0.015
    assert errors.std() < 0.06
    assert np.abs(errors).max() < 0.2


def test_the_signature_scheme_is_pinned():
    # Stored signatures are compared with new ones: a change of these bytes is a change of scheme, which needs
    # the open items re-signed (as queues migration 0022 did), not only a new test value.
    signature = np.frombuffer(text_minhash("Limited offer: buy followers now, click the link in bio"), dtype="<u4")
    assert signature[:4].tolist() == [273515950, 2115637, 491817525, 121100990]
    signature = np.frombuffer(text_minhash("Grüße aus Zürich, 日本語のテキスト, click now"), dtype="<u4")
    assert signature[:4].tolist() == [49298301, 356613870, 25917338, 155484066]
    assert text_minhash("  Tabs\tand\nnewlines   count as one space each  ") == text_minhash(
        "tabs and newlines count as one space each"
    )
    assert text_minhash("x" * 19) is None
    assert text_minhash("y" * 20) is not None
