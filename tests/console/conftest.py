import pytest
from django.contrib.auth.models import Permission

from tests.factories import enqueue, make_item, make_queue, make_user


def grant(user, codename: str):
    user.user_permissions.add(Permission.objects.get(codename=codename))
    return type(user).objects.get(pk=user.pk)  # a fresh object: permissions are cached per instance


@pytest.fixture
def lead(db):
    return grant(make_user(username="lead"), "run_bulk_actions")


@pytest.fixture
def team(lead):
    """A queue the lead works with three pending items, and another team's queue with one."""
    mine = make_queue(members=[lead], name="Scams & fraud")
    theirs = make_queue(members=[make_user()], name="Other team")
    items = [make_item(text=f"cheap followers offer number {n}") for n in range(3)]
    for n, item in enumerate(items):
        enqueue(item, mine, sort_key=float(n), risk=0.5 + n / 10)
    hidden = make_item(text="cheap followers from another team")
    enqueue(hidden, theirs)
    return {"queue": mine, "other": theirs, "items": items, "hidden": hidden}
