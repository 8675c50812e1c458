"""What a user, and so a user's API token, may read of the items.

The model (README, "What a token can see"): a token acts as its user and sees what its user sees. Staff users
see every item, so an integration's token belongs to a staff service account (or, to be bounded, to a
non-staff account that is a member of exactly the queues the integration may read). Anyone else sees the
items that are or were in a queue they work, directly or through a group: the same rule as the review pages
(``review.selectors.can_view_item``). Intake reaches queues only through the ORM relation ``Item.entries``.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, Q, QuerySet

from intake.models import Item


def sees_everything(user: AbstractBaseUser | None) -> bool:
    return bool(user is not None and user.is_active and user.is_staff)


def visible_items(user: AbstractBaseUser | None, items: QuerySet | None = None) -> QuerySet:
    """``items`` (default: all) narrowed to those ``user`` may read."""
    items = Item.objects.all() if items is None else items
    if sees_everything(user):
        return items
    if user is None or not user.is_authenticated:
        return items.none()
    entries = Item.entries.rel.related_model.objects.filter(item=OuterRef("pk"))
    member = entries.filter(Q(queue__members=user) | Q(queue__member_groups__user=user))
    return items.filter(Exists(member))


def visible_item_filter(user: AbstractBaseUser | None, *, prefix: str) -> Q:
    """A ``Q`` for rows that point at an item (``prefix`` is the path to it, e.g. ``"item"``) the user may read."""
    if sees_everything(user):
        return Q()
    return Q(**{f"{prefix}__in": visible_items(user).values("pk")})
