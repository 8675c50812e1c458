"""Celery tasks of intake."""

import logging

from celery import shared_task

from intake import display_images

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True, name="intake.tasks.make_display_image")
def make_display_image(image_name: str) -> str | None:
    """Make the display derivative of a stored original (idempotent: a stored derivative is kept)."""
    try:
        return display_images.make_display_image(image_name)
    except display_images.DisplayImageFailed as exc:
        # The reviewer's page says the image cannot be shown; retrying the same bytes would fail the same way.
        logger.warning("no display image for %s: %s", image_name, exc)
        return None
