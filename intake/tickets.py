"""Linking an item to the ticket an integrator's ticketing system opened for it."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from intake.models import Item


def attach_ticket(*, item: Item, ticket_id: str, ticket_url: str, actor: AbstractBaseUser) -> Item:
    """Set (or replace) the item's ticket id and URL, with an audit event; bumps ``updated_at`` for syncs."""
    with transaction.atomic():
        before = {"ticket_id": item.ticket_id, "ticket_url": item.ticket_url}
        item.ticket_id = ticket_id
        item.ticket_url = ticket_url
        item.updated_at = timezone.now()
        item.save(update_fields=["ticket_id", "ticket_url", "updated_at"])
        record_event(
            action="item.ticket_attached", target=item, actor=actor, before=before,
            after={"ticket_id": ticket_id, "ticket_url": ticket_url},
        )  # fmt: skip
    return item
