"""Display derivatives: made once by a worker, small, upright, stripped; the web process never decodes."""

import io
import resource
import threading

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from intake import display_images
from intake.images import check_image, store_image
from intake.payloads import ItemSubmission
from intake.submission import submit_items
from tests.factories import image_bytes


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored(data: bytes) -> str:
    return store_image(check_image(data, max_bytes=10**8, max_pixels=10**8))


def test_a_large_png_becomes_a_jpeg_of_display_size_stored_once(settings):
    name = stored(image_bytes("PNG", (3000, 1500), color="orange"))
    derivative = display_images.make_display_image(name)
    assert derivative == display_images.display_name_for(name) and derivative.startswith("display/")
    with default_storage.open(derivative, "rb") as handle, Image.open(handle) as image:
        assert image.format == "JPEG" and image.size == (settings.REVIEW_IMAGE_MAX_SIDE, 512)
        assert image.getpixel((10, 10))[0] > 200  # still orange
    modified = default_storage.get_modified_time(derivative)
    assert display_images.make_display_image(name) == derivative
    assert default_storage.get_modified_time(derivative) == modified  # made once, not again


def test_exif_is_stripped_and_orientation_applied():
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    exif[0x010F] = "SecretCam"  # camera make: must not reach the reviewer's browser
    Image.new("RGB", (400, 200), "blue").save(buffer, format="JPEG", exif=exif)
    derivative = display_images.make_display_image(stored(buffer.getvalue()))
    with default_storage.open(derivative, "rb") as handle:
        data = handle.read()
    image = Image.open(io.BytesIO(data))
    assert image.size == (200, 400)
    assert not image.getexif() and b"SecretCam" not in data


def test_transparency_becomes_white_and_an_animation_shows_its_first_frame():
    buffer = io.BytesIO()
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(buffer, format="PNG")
    with default_storage.open(display_images.make_display_image(stored(buffer.getvalue())), "rb") as handle:
        assert Image.open(handle).convert("RGB").getpixel((5, 5)) == (255, 255, 255)
    frames = [Image.new("RGB", (60, 60), colour) for colour in ("red", "blue", "green")]
    animated = io.BytesIO()
    frames[0].save(animated, format="GIF", save_all=True, append_images=frames[1:])
    with default_storage.open(display_images.make_display_image(stored(animated.getvalue())), "rb") as handle:
        red, green, blue = Image.open(handle).convert("RGB").getpixel((30, 30))
        assert red > 200 and blue < 60


def test_an_original_over_the_pixel_limit_or_corrupt_is_refused_without_decoding(settings):
    name = stored(image_bytes("PNG", (400, 300)))
    settings.MODERATION_MAX_IMAGE_PIXELS = 400 * 300 - 1
    with pytest.raises(display_images.DisplayImageFailed, match="over the pixel limit"):
        display_images.make_display_image(name)
    settings.MODERATION_MAX_IMAGE_PIXELS = 10**8
    broken = default_storage.save("images/zz/broken.png", ContentFile(image_bytes("PNG", (400, 300))[:200]))
    with pytest.raises(display_images.DisplayImageFailed, match="cannot be decoded"):
        display_images.make_display_image(broken)
    assert display_images.stored_display_image(broken) is None


def test_a_near_limit_jpeg_is_decoded_at_reduced_scale():
    # 7,000 x 5,000 = 35 MP: 105 MB as full RGB. draft() decodes it at 1/4 scale, far under that.
    buffer = io.BytesIO()
    Image.new("RGB", (7000, 5000), "gray").save(buffer, format="JPEG", quality=50)
    name = stored(buffer.getvalue())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    grown: list[int] = []

    def derive() -> None:
        display_images.make_display_image(name)
        grown.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)

    thread = threading.Thread(target=derive)
    thread.start()
    thread.join()
    # ru_maxrss is the process's peak in KiB; the test process may already have peaked higher, so this
    # bounds the growth (0 when it stayed under the earlier peak), never more than a quarter of full size.
    assert grown[0] < 105 * 1024 / 4


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_submitting_image_items_asks_a_worker_for_their_derivatives_at_once(monkeypatch):
    sent: list[list[str]] = []
    monkeypatch.setattr(display_images, "request_display_images", sent.append)
    images = [
        check_image(image_bytes("PNG", (64, 64), color=color), max_bytes=10**7, max_pixels=10**7)
        for color in ("red", "blue", "red")
    ]
    submit_items(
        submissions=[ItemSubmission(source="t", external_id=f"with-image-{n}", image=i) for n, i in enumerate(images)]
    )
    assert sent == [sorted({images[0].storage_name, images[1].storage_name})]  # one request, each image once


def test_a_batch_of_derivatives_makes_every_image_it_can_and_fails_the_bad_ones_alone(settings):
    from intake.tasks import make_display_images

    good = [stored(image_bytes("PNG", (400, 300), color=color)) for color in ("red", "blue")]
    huge = stored(image_bytes("PNG", (600, 600), color="green"))
    settings.MODERATION_MAX_IMAGE_PIXELS = 500 * 500
    assert make_display_images([good[0], huge, "images/ab/missing.png", good[1]]) == 2
    assert [display_images.stored_display_image(name) is not None for name in good] == [True, True]
    assert display_images.stored_display_image(huge) is None


def _display_batches_on_the_broker() -> list[list[str]]:
    """The ``make_display_images`` messages waiting on the broker's ``default`` queue (taken off it, with any other)."""
    from celery import current_app

    batches = []
    with current_app.connection_for_read() as connection:
        queue = connection.SimpleQueue("default")
        try:
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    break
                if message.headers.get("task") == display_images.MAKE_DISPLAY_IMAGES_TASK:
                    args, _kwargs, _embed = message.decode()
                    batches.append(args[0])
                message.ack()
        finally:
            queue.close()
    return batches


def test_requests_are_sent_in_batches_and_each_image_at_most_once_a_minute(monkeypatch):
    from django.core.cache import cache

    _display_batches_on_the_broker()  # whatever earlier tests left there
    monkeypatch.setattr(display_images, "REQUEST_BATCH", 2)
    names = [f"images/ab/{n}.png" for n in range(5)]
    cache.delete_many([display_images._request_key(name) for name in names])
    assert display_images.request_display_images(names[:3]) == 3
    assert display_images.request_display_images(names) == 2  # the first three were asked for a moment ago
    assert display_images.request_display_image(names[0]) is False
    assert _display_batches_on_the_broker() == [names[:2], names[2:3], names[3:]]
