"""What a user may see on the console's read pages, kept in the cache between requests.

Profiling the search page over 1,000,000 items (bench/console_search.py) showed that half its database
round trips were the same answers on every request: the queues the user may see, their permissions (two
queries in Django's ModelBackend), their saved filters and the active categories. Here they are read once
and kept in the cache (Redis when configured) under a generation number that every change to queue
membership, groups, permissions, queues or categories bumps (``console.apps`` connects the signals), so a
change is seen on the next request, not after a timeout. One cache round trip (``get_many``) replaces five
SQL queries; a user's saved filters are forgotten when they save or delete one (``console.services``).

Only read pages use this. Bulk actions and the API's writes check membership against the database again
(``console.selectors.viewer_for``) before they act.
"""

import logging
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import connection, transaction

from classifiers.models import PolicyCategory
from console.models import SavedFilter
from console.selectors import Viewer, viewer_for

logger = logging.getLogger(__name__)


def _key(name: str) -> str:
    # The database's name is part of every key: two databases that share one cache (test runs, a benchmark
    # beside the tests) have users with the same ids, who must not read each other's entries.
    return f"console:access:{connection.settings_dict['NAME']}:{name}"


# A safety net only: the generation number makes a change visible at once.
TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class CategoryChoice:
    """An active category as the search form lists it."""

    slug: str
    name: str


@dataclass(frozen=True)
class SavedFilterLink:
    pk: int
    name: str


@dataclass(frozen=True)
class Access:
    viewer: Viewer
    categories: tuple[CategoryChoice, ...]
    saved_filters: tuple[SavedFilterLink, ...]


def _user_key(user_pk: int) -> str:
    return _key(f"user:{user_pk}")


def forget_user(user_pk: int) -> None:
    """Forget one user's cached access: their saved filters changed."""
    try:
        cache.delete(_user_key(user_pk))
    except Exception:  # noqa: BLE001 - as in _bump_generation
        logger.warning("console access: the cache is unavailable; cached access expires within %s s", TIMEOUT_SECONDS)


def _bump_generation() -> None:
    try:
        try:
            cache.incr(_key("generation"))
        except ValueError:  # no generation yet (or it was evicted): start one that no cached entry carries
            cache.set(_key("generation"), 1, None)
    except Exception:  # noqa: BLE001 - a cache outage must not block a membership change; entries expire
        logger.warning("console access: the cache is unavailable; cached access expires within %s s", TIMEOUT_SECONDS)


def invalidate(**kwargs) -> None:  # noqa: ANN003 - a signal receiver
    """Forget every user's cached access: membership, permissions, queues or categories changed."""
    if set(kwargs.get("update_fields") or ()) == {"last_login"}:
        return  # a user signing in changes nothing they may see
    _bump_generation()
    # Again after the commit: a request between the change and its commit may have cached what was before.
    transaction.on_commit(_bump_generation)


def access_for(user: AbstractBaseUser) -> Access:
    """The viewer (queues the user may see) and the active categories, from the cache when they are current.

    Also primes the user object's permission cache, so ``has_perm`` (the bulk controls, the menu) asks no query.
    """
    user_key = _user_key(user.pk)
    try:
        found = cache.get_many([_key("generation"), _key("categories"), user_key])
    except Exception:  # noqa: BLE001 - without the cache the page reads everything from the database
        logger.warning("console access: the cache is unavailable; reading access from the database")
        return _uncached(user)
    generation = found.get(_key("generation"))
    if generation is None:
        generation = 0
        cache.add(_key("generation"), generation, None)
    cached = found.get(user_key)
    if cached is None or cached["generation"] != generation:
        viewer = viewer_for(user)
        cached = {
            "generation": generation,
            "queue_ids": viewer.queue_ids,
            "queues": viewer.queues,
            "permissions": frozenset(user.get_all_permissions()),
            "saved_filters": tuple(
                SavedFilterLink(pk=pk, name=name)
                for pk, name in SavedFilter.objects.filter(user=user).values_list("pk", "name")
            ),
        }
        cache.set(user_key, cached, TIMEOUT_SECONDS)
    else:
        viewer = Viewer(user=user, queue_ids=cached["queue_ids"], queues=cached["queues"])
        # ModelBackend.get_all_permissions reads this attribute before it queries.
        user._perm_cache = set(cached["permissions"])
    categories = found.get(_key("categories"))
    if categories is None or categories[0] != generation:
        categories = (
            generation,
            tuple(CategoryChoice(slug=c.slug, name=c.name) for c in PolicyCategory.objects.filter(is_active=True)),
        )
        cache.set(_key("categories"), categories, TIMEOUT_SECONDS)
    return Access(viewer=viewer, categories=categories[1], saved_filters=cached["saved_filters"])


def _uncached(user: AbstractBaseUser) -> Access:
    return Access(
        viewer=viewer_for(user),
        categories=tuple(
            CategoryChoice(slug=c.slug, name=c.name) for c in PolicyCategory.objects.filter(is_active=True)
        ),
        saved_filters=tuple(
            SavedFilterLink(pk=pk, name=name)
            for pk, name in SavedFilter.objects.filter(user=user).values_list("pk", "name")
        ),
    )
