"""Throttling: keyed on the real client address, counted in the shared cache, never an error."""

import uuid

import pytest
from django.core.cache import caches
from django.test import override_settings

from hwfit.cache import ResilientRedisCache
from hwfit.tests.live_server import REDIS_URL

pytestmark = pytest.mark.django_db

# Nothing listens on port 1: the connection is refused at once, as when Redis is down.
DOWN_URL = "redis://127.0.0.1:1/0"


def redis_cache(url: str) -> dict:
    return {"default": {"BACKEND": "hwfit.cache.ResilientRedisCache", "LOCATION": url,
                        "KEY_PREFIX": f"test-{uuid.uuid4().hex}", "OPTIONS": {"RETRY_AFTER": 60}}}


@pytest.fixture
def anon_rate(settings):
    def set_rate(rate: str) -> None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": rate}}
    return set_rate


def statuses(client, n: int, **headers) -> list[int]:
    return [client.get("/api/v1/runtimes/", headers=headers).status_code for _ in range(n)]


def test_a_client_changing_x_forwarded_for_is_still_throttled_without_proxies(client, anon_rate, settings):
    anon_rate("2/minute")
    caches["default"].clear()
    # NUM_PROXIES = 0 (the default): the header is the client's own text, the address is REMOTE_ADDR.
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0
    codes = [client.get("/api/v1/runtimes/", headers={"X-Forwarded-For": f"10.0.0.{n}"}).status_code for n in range(3)]
    assert codes == [200, 200, 429]


def test_behind_one_proxy_the_address_it_saw_is_the_client(client, anon_rate, settings):
    anon_rate("2/minute")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    caches["default"].clear()
    assert statuses(client, 3, **{"X-Forwarded-For": "198.51.100.1"}) == [200, 200, 429]
    # Another client behind the same proxy has its own count...
    assert statuses(client, 1, **{"X-Forwarded-For": "198.51.100.2"}) == [200]
    # ...and a client prepending a made-up address is still the address the proxy saw.
    assert statuses(client, 1, **{"X-Forwarded-For": "203.0.113.9, 198.51.100.1"}) == [429]


def test_counts_live_in_redis_so_every_worker_process_shares_them(client, anon_rate):
    anon_rate("3/minute")
    shared = redis_cache(REDIS_URL)
    with override_settings(CACHES=shared):
        assert statuses(client, 2) == [200, 200]
        assert not caches["default"].degraded
    # A new cache connection (as in another worker process) starts with empty local memory, yet
    # sees the two requests: the third is allowed, the fourth refused.
    with override_settings(CACHES=shared):
        assert statuses(client, 2) == [200, 429]
        caches["default"].clear()


def test_with_redis_down_requests_are_served_and_throttled_in_local_memory(client, anon_rate):
    anon_rate("3/minute")
    with override_settings(CACHES=redis_cache(DOWN_URL)):
        assert statuses(client, 4) == [200, 200, 200, 429]
        backend = caches["default"]
        assert isinstance(backend, ResilientRedisCache)
        assert backend.degraded


def test_a_redis_outage_is_not_retried_on_every_call():
    backend = ResilientRedisCache(DOWN_URL, {"OPTIONS": {"RETRY_AFTER": 60}})
    backend.set("k", 1)
    assert backend.degraded
    # The value went to local memory; the next calls do not try Redis again within RETRY_AFTER.
    assert backend.get("k") == 1
    assert backend.incr("k") == 2


def test_the_cache_uses_redis_again_once_it_answers():
    backend = ResilientRedisCache(REDIS_URL, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}", "OPTIONS": {"RETRY_AFTER": 60}})
    backend._down_until = float("inf")  # as if an outage had just been seen
    assert backend.degraded
    assert backend.ping() is True
    assert not backend.degraded
    backend.set("k", "in redis")
    assert backend.local.get("k") is None and backend.get("k") == "in redis"
    backend.delete("k")


def test_admin_login_attempts_are_throttled(client, settings):
    settings.HWFIT_LOGIN_THROTTLE = "3/minute"
    caches["default"].clear()
    attempt = {"username": "admin", "password": "guess"}
    codes = [client.post("/admin/login/", attempt).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.post("/admin/login/", attempt)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert b"Too many login attempts" in response.content
    # Reading the login page is not an attempt.
    assert client.get("/admin/login/").status_code == 200
    caches["default"].clear()


@pytest.mark.parametrize("url", [REDIS_URL, DOWN_URL])
def test_a_hit_is_refused_while_the_limit_is_reached_within_the_window(url):
    backend = ResilientRedisCache(url, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}", "OPTIONS": {"RETRY_AFTER": 60}})
    hits = [backend.record_hit("k", now, 3, 60.0) for now in (0.0, 10.0, 20.0, 30.0)]
    assert hits == [None, None, None, 0.0]  # the 4th waits for the hit at t=0 to leave the window
    assert backend.record_hit("k", 59.9, 3, 60.0) == 0.0
    assert backend.record_hit("k", 60.0, 3, 60.0) is None  # t=0 has left: counted
    assert backend.record_hit("k", 65.0, 3, 60.0) == 10.0
    backend.clear()


def test_redis_keeps_only_the_hits_within_the_window_whatever_the_rate():
    backend = ResilientRedisCache(REDIS_URL, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}", "OPTIONS": {"RETRY_AFTER": 60}})
    for now in range(100):
        assert backend.record_hit("k", float(now), 1_000_000, 10.0) is None
    client = backend._cache.get_client("k")
    key = backend.make_and_validate_key("k")
    assert client.llen(key) == 10  # hits 90..99: the rest left the window and were dropped
    assert 0 < client.ttl(key) <= 10
    backend.clear()


def test_the_wait_is_until_the_oldest_hit_in_the_window_leaves_it(client, anon_rate):
    anon_rate("2/minute")
    caches["default"].clear()
    statuses(client, 2)
    response = client.get("/api/v1/runtimes/")
    assert response.status_code == 429
    assert 55 <= int(response.headers["Retry-After"]) <= 60
    caches["default"].clear()
