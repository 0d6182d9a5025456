"""Rate limits, counted in the shared cache and keyed on the client's real address.

The client is `REMOTE_ADDR`, or, behind `NUM_PROXIES` trusted proxies, the address the outermost
of them saw (DRF's `get_ident`); any other `X-Forwarded-For` is the client's own text and
ignored, since a client changing it per request would otherwise never be throttled.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle

from hwfit.cache import record_hit_locally


class CountedThrottle(SimpleRateThrottle):
    """DRF's rule (at most N allowed requests in any window of the duration), one cache call a request.

    DRF reads the client's whole history of hits, a list as long as the rate allows, and writes it
    back: with two round trips and a pickle per request, and two workers at once each missing the
    other's hit. The Redis cache counts a hit in one atomic script instead (`record_hit`); other
    caches (local memory: development, tests) keep the same list in this process.
    """

    # Not DRF's key: a Redis list, where DRF's throttle (of an older release) kept a pickled value.
    cache_format = "throttle:%(scope)s:%(ident)s"

    def allow_request(self, request: HttpRequest, view: object) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        record = getattr(cache, "record_hit", None)
        if record is not None:
            self.blocked_by = record(self.key, self.now, self.num_requests, self.duration)
        else:
            self.blocked_by = record_hit_locally(cache, self.key, self.now, self.num_requests, self.duration)
        return self.blocked_by is None

    def wait(self) -> float | None:
        """Seconds until the oldest hit in the window leaves it, when one more request is allowed."""
        blocked_by = getattr(self, "blocked_by", None)
        return None if blocked_by is None else max(0.0, blocked_by + self.duration - self.now)


class AnonThrottle(CountedThrottle, AnonRateThrottle):
    """DRF's anonymous throttle, reading its rate when the request comes rather than at import.

    DRF copies `DEFAULT_THROTTLE_RATES` into a class attribute once, so a changed setting (a test's
    `settings` fixture, a rate set per environment) would otherwise never apply. A rate of None
    turns throttling off.
    """

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class LoginThrottle(CountedThrottle):
    """Admin login attempts per client address (`HWFIT_LOGIN_THROTTLE`, e.g. `10/minute`)."""

    scope = "login"

    def get_rate(self) -> str | None:
        return settings.HWFIT_LOGIN_THROTTLE

    def get_cache_key(self, request: HttpRequest, view: object) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
