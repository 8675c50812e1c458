"""Celery tasks of intake."""

import logging

from celery import shared_task

from intake import display_images

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True, name="intake.tasks.make_display_image")
def make_display_image(image_name: str) -> str | None:
    """Make the display derivative of a stored original (idempotent: a stored derivative is kept).

    Requests are sent as ``make_display_images`` now; this task stays for messages queued before that."""
    try:
        return display_images.make_display_image(image_name)
    except display_images.DisplayImageFailed as exc:
        # The reviewer's page says the image cannot be shown; retrying the same bytes would fail the same way.
        logger.warning("no display image for %s: %s", image_name, exc)
        return None


@shared_task(ignore_result=True, name="intake.tasks.make_display_images")
def make_display_images(image_names: list[str]) -> int:
    """Make the derivatives of several stored originals, each alone: one that fails is logged and the rest are
    made. Returns how many exist now."""
    made = 0
    for image_name in image_names:
        try:
            made += make_display_image(image_name) is not None
        except Exception:  # noqa: BLE001 - storage or decoder error on one image: a later view asks again
            logger.exception("no display image for %s", image_name)
    return made
