"""Rate limiting per API token: ``API_RATE_LIMIT`` requests per period (default 600/min).

A batch of 500 items is one request, like any other call. Counts live in Django's default cache:
per process in the embedded mode (LocMem, so each gunicorn worker counts on its own and the
effective limit is the rate times the worker count), shared by every process when ``REDIS_URL`` or
``CACHE_URL`` points the cache at Redis. DRF's history is read-modify-write, so two requests racing
in different processes may both be counted as the same slot: the limit is a guard against runaway
clients, not an exact quota.
"""

import math
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from queues.models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"
    cache_format = "api-throttle:%(scope)s:%(ident)s"

    def get_rate(self) -> str | None:
        # Read per request (not frozen at import like DRF's THROTTLE_RATES), so settings changes apply.
        return settings.API_RATE_LIMIT or None

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiToken):
            # The prefix, not the row id: ids can be reused by a recreated database, prefixes are random.
            ident = f"token:{request.auth.prefix}"
        elif request.user is not None and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            return None  # refused by authentication anyway
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def wait(self) -> float:
        """Seconds until the oldest request that keeps the window full leaves it."""
        if len(self.history) < self.num_requests:
            return 0.0
        blocking = self.history[self.num_requests - 1]
        return max(1.0, math.ceil(self.duration - (self.now - blocking)))
