"""Rate limiting per API token: ``API_RATE_LIMIT`` requests per period (default 600/min).

A batch of 500 items is one request, like any other call. The count is django-ratelimit's: one
counter per token and window in Django's default cache, raised with an atomic ``incr``. So with
``REDIS_URL`` or ``CACHE_URL`` (Redis) every process shares one exact count, at two small round
trips per request. DRF's own throttle read and rewrote the token's whole list of request times
(up to 600 pickled floats) on every call, 1.2 ms of CPU with Redis, and two processes racing could
both take the last slot. In the embedded mode the cache is per process (LocMem), so each gunicorn
worker counts on its own and the effective limit is the rate times the worker count.

Windows are fixed, with each token's window edge offset by a hash of its key so that clients do not
all reset at once; a client can therefore send up to twice the rate across one window edge. The
limit guards against runaway clients; it is not a billing quota. A cache that cannot be reached
lets requests through (logged): an outage of the rate limiter must not stop ingestion.
"""

import logging
from typing import Any

from django.conf import settings
from django_ratelimit.core import get_usage
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from api.models import ApiToken

logger = logging.getLogger(__name__)

GROUP = "api-token"


def throttle_key(request: Request) -> str | None:
    """Whose budget the request spends: its token's, or the signed-in user's; None when anonymous."""
    if isinstance(request.auth, ApiToken):
        # The prefix, not the row id: ids can be reused by a recreated database, prefixes are random.
        return f"token:{request.auth.prefix}"
    if request.user is not None and request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return None  # refused by authentication anyway


class TokenRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self.retry_after: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        # The rate is read per request (not frozen at import like DRF's THROTTLE_RATES), so settings changes apply.
        rate = settings.API_RATE_LIMIT
        key = throttle_key(request)
        if not rate or key is None:
            return True
        try:
            usage = get_usage(request, group=GROUP, key=lambda _group, _request: key, rate=rate, increment=True)
        except Exception:  # noqa: BLE001 - any cache failure: fail open, see the module docstring
            logger.exception("rate limit cache unavailable; request let through")
            return True
        if usage is None or not usage["should_limit"]:  # None: the counter could not be written (fail open)
            return True
        self.retry_after = max(1, usage["time_left"])
        return False

    def wait(self) -> float | None:
        """Seconds until the token's window ends and its count starts again."""
        return self.retry_after
