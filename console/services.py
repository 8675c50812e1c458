"""Writes of the console other than bulk actions (``console.bulk``): saved filters."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from console.access import forget_user
from console.models import SavedFilter

MAX_SAVED_FILTERS = 50


class FilterRefused(ValueError):
    """The filter cannot be saved (HTTP 400): no name, a duplicate name, or too many filters."""


def save_filter(*, user: AbstractBaseUser, name: str, params: dict[str, str]) -> SavedFilter:
    """Keep ``params`` (the search page's non-empty fields) under ``name`` for ``user``; replaces a same-named one."""
    name = name.strip()
    if not name:
        raise FilterRefused("Give the filter a name.")
    if not params:
        raise FilterRefused("There is nothing to save: the search has no text and no filter.")
    if len(name) > SavedFilter._meta.get_field("name").max_length:
        raise FilterRefused("The name is too long (at most 100 characters).")
    existing = SavedFilter.objects.filter(user=user, name=name).first()
    if existing is None and SavedFilter.objects.filter(user=user).count() >= MAX_SAVED_FILTERS:
        raise FilterRefused(f"You have {MAX_SAVED_FILTERS} saved filters; delete one first.")
    if existing is not None:
        existing.params = params
        existing.save(update_fields=["params"])
        return existing
    try:
        with transaction.atomic():
            saved = SavedFilter.objects.create(user=user, name=name, params=params)
            transaction.on_commit(lambda: forget_user(user.pk))
            return saved
    except IntegrityError as error:  # the same name saved at the same moment in another tab
        raise FilterRefused(f"A filter named {name!r} already exists.") from error


def delete_filter(*, user: AbstractBaseUser, filter_id: int) -> bool:
    """Delete one of the user's own saved filters; False when there is none with that id."""
    deleted, _ = SavedFilter.objects.filter(user=user, pk=filter_id).delete()
    transaction.on_commit(lambda: forget_user(user.pk))
    return bool(deleted)
