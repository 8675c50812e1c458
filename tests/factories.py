"""Builders for test data: real rows through the real services."""

import base64
import io
import itertools

from django.contrib.auth import get_user_model
from PIL import Image

from api.models import ApiToken

_counter = itertools.count(1)


def make_user(*, username: str | None = None, is_staff: bool = False, password: str = "pw-for-tests-1"):
    username = username or f"user{next(_counter)}"
    return get_user_model().objects.create_user(username=username, password=password, is_staff=is_staff)


def make_token(*, scopes: list[str], user=None, **fields) -> tuple[ApiToken, str]:
    """A token; without ``user``, an integration's: a staff service account, which sees every item.
    A token of a given non-staff user sees only what that user sees (intake.visibility)."""
    token = ApiToken(name=f"token {next(_counter)}", user=user or make_user(is_staff=True), scopes=scopes, **fields)
    secret = token.issue_secret()
    token.save()
    return token, secret


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (32, 24), color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def item_payload(n: int | None = None, **fields) -> dict:
    n = next(_counter) if n is None else n
    payload = {"source": "tests.posts", "external_id": f"post-{n}", "text": f"item number {n}"}
    payload.update(fields)
    return payload


def make_queue(*, members=(), name: str | None = None, **fields):
    from queues.models import Queue

    n = next(_counter)
    # No exploration unless a test asks for it: tests check the order items are served in.
    fields.setdefault("explore_rate", 0.0)
    queue = Queue.objects.create(name=name or f"Queue {n}", slug=f"queue-{n}", **fields)
    queue.members.set(members)
    return queue


def make_item(*, text: str | None = None, **fields):
    from intake.models import Item

    n = next(_counter)
    return Item.objects.create(source="tests", external_id=f"item-{n}", text=text or f"item text {n}", **fields)


def enqueue(item, queue, *, sort_key: float = 0.0, **fields):
    from django.utils import timezone

    from intake.models import Item
    from queues.models import QueueEntry

    now = timezone.now()
    entry = QueueEntry.objects.create(
        item=item, queue=queue, sort_key=sort_key, enqueued_at=now, deadline_at=now + queue.deadline, **fields
    )
    Item.objects.filter(pk=item.pk).update(state=Item.State.QUEUED)
    return entry


def train_author_model(folder, *, bulk: str, friend: str, name: str = "text-authors"):
    """Train and activate a text version on ordinary texts whose spam label only the author tells (``bulk`` posted
    the spam, ``friend`` the rest), through ``train_classifier`` and a dataset's ``"author"`` field."""
    import json

    from django.core.management import call_command

    from classifiers.models import ModelVersion

    texts = [
        "See you at the game on Saturday",
        "Thanks for the photos from the trip",
        "The meeting moved to noon",
        "Happy birthday, have a great day",
        "Did you finish the book yet?",
        "Lunch tomorrow at the usual place",
    ]
    records = [
        {"text": f"{text} ({n})", "author": author, "labels": {"spam": int(author == bulk)}}
        for n in range(2) for text in texts for author in (bulk, friend)
    ]  # fmt: skip
    dataset = folder / "authors.jsonl"
    dataset.write_text("".join(json.dumps(record) + "\n" for record in records))
    call_command("train_classifier", kind="text", dataset=dataset, name=name, activate=True)
    return ModelVersion.objects.get(name=name)
