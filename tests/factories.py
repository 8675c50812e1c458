"""Builders for test data: real rows through the real services."""

import base64
import io
import itertools

from django.contrib.auth import get_user_model
from PIL import Image

from queues.models import ApiToken

_counter = itertools.count(1)


def make_user(*, username: str | None = None, is_staff: bool = False, password: str = "pw-for-tests-1"):
    username = username or f"user{next(_counter)}"
    return get_user_model().objects.create_user(username=username, password=password, is_staff=is_staff)


def make_token(*, scopes: list[str], user=None, **fields) -> tuple[ApiToken, str]:
    token = ApiToken(name=f"token {next(_counter)}", user=user or make_user(), scopes=scopes, **fields)
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
