"""An animation's frames count against the pixel limit: every frame is decoded to show or score it."""

import io

import pytest
from PIL import Image

from intake.images import ImageRejected, check_image


def gif(frames: int, size: tuple[int, int] = (100, 100)) -> bytes:
    images = [Image.new("RGB", size, (index * 20 % 256, 0, 0)) for index in range(frames)]  # distinct frames
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=50, loop=0)
    return buffer.getvalue()


def test_an_animation_whose_frames_pass_the_pixel_limit_is_refused_naming_both():
    with pytest.raises(ImageRejected, match=r"10 frames of 100x100 = 100000 pixels; the limit is 50000"):
        check_image(gif(10), max_bytes=10**7, max_pixels=50_000)


def test_an_animation_within_the_limit_and_a_still_image_of_the_same_size_are_accepted():
    assert check_image(gif(4), max_bytes=10**7, max_pixels=50_000).format == "GIF"
    assert check_image(gif(1), max_bytes=10**7, max_pixels=10_000).width == 100
