"""Near-duplicate signatures, without a database."""

import io

from PIL import Image, ImageDraw

from queues.near_duplicates import band_keys, distance, image_phash, is_near_duplicate, text_simhash

SCAM = (
    "Congratulations! You have been selected to receive a free iPhone 17. To claim your prize, send your full "
    "name, address and card number to our verification team within 24 hours or the offer expires."
)


def test_a_lightly_edited_text_is_a_near_duplicate_and_an_unrelated_one_is_not():
    edited = SCAM.replace("24 hours", "48 hours").replace("iPhone 17", "iPhone 16")
    other = "Thanks for the stream yesterday, the new song sounded great and the chat was fun as always."
    assert distance(text_simhash(SCAM), text_simhash(SCAM)) == 0
    assert distance(text_simhash(SCAM), text_simhash(edited)) < distance(text_simhash(SCAM), text_simhash(other))
    assert distance(text_simhash(SCAM), text_simhash(other)) > 10
    assert text_simhash("too short") is None


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
    assert is_near_duplicate(original, copy)
    assert not is_near_duplicate(original, different)
    assert image_phash(b"not an image") is None


def test_signatures_within_three_bits_always_share_a_band_key():
    base = text_simhash(SCAM)
    for flips in ([0, 1, 2], [5, 21, 40], [15, 31, 63], [16, 32, 48]):
        changed = base
        for bit in flips:
            changed ^= 1 << bit
        changed = changed - (1 << 64) if changed >= 1 << 63 else changed
        assert set(band_keys(base, kind="text")) & set(band_keys(changed, kind="text"))
    assert not set(band_keys(base, kind="text")) & set(band_keys(base, kind="image"))
