"""Rate limits, counted in the shared cache and keyed on the client's real address.

The client is `REMOTE_ADDR`, or, behind `NUM_PROXIES` trusted proxies, the address the outermost
of them saw (DRF's `get_ident`); any other `X-Forwarded-For` is the client's own text and
ignored, since a client changing it per request would otherwise never be throttled.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle


class AnonThrottle(AnonRateThrottle):
    """DRF's anonymous throttle, reading its rate when the request comes rather than at import.

    DRF copies `DEFAULT_THROTTLE_RATES` into a class attribute once, so a changed setting (a test's
    `settings` fixture, a rate set per environment) would otherwise never apply. A rate of None
    turns throttling off.
    """

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class LoginThrottle(SimpleRateThrottle):
    """Admin login attempts per client address (`HWFIT_LOGIN_THROTTLE`, e.g. `10/minute`)."""

    scope = "login"

    def get_rate(self) -> str | None:
        return settings.HWFIT_LOGIN_THROTTLE

    def get_cache_key(self, request: HttpRequest, view: object) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
