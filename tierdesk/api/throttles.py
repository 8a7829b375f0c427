"""Requests per minute, per token (per user for a session, per address when anonymous).

A fixed one-minute window counted with `cache.add` + `cache.incr`: O(1) per request
and atomic on every cache backend. Each process counts in its own memory unless a
shared cache (Redis) is configured, so with N workers a client may get up to N times
the rate: the limit is a guard against runaway scripts, not a billing meter.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from tierdesk.api.auth import token_of

WINDOW = 60


def default_rate() -> int:
    return int(getattr(settings, "API_RATE_PER_MINUTE", 600))


class TokenRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        token = token_of(request)
        if token is not None:
            ident, rate = f"t{token.pk}", token.rate_per_minute or default_rate()
        elif request.user and request.user.is_authenticated:
            ident, rate = f"u{request.user.pk}", default_rate()
        else:
            ident, rate = f"a{self.get_ident(request)}", default_rate()
        now = time.time()
        window = int(now // WINDOW)
        key = f"api-throttle:{ident}:{window}"
        cache.add(key, 0, timeout=WINDOW * 2)
        try:
            count = cache.incr(key)
        except ValueError:  # evicted between add and incr: count this one as the first
            cache.set(key, 1, timeout=WINDOW * 2)
            count = 1
        self._wait = (window + 1) * WINDOW - now
        return count <= rate

    def wait(self) -> float:
        return self._wait
