"""A Redis cache that falls back to this process's memory while Redis cannot be reached.

The cache holds the API throttle's counts and the compatibility tables. Losing Redis must not
turn into errors: every call that fails to reach it is answered from a local-memory cache
instead (counts then hold per process, as they did before Redis), and Redis is tried again
after `RETRY_AFTER` seconds rather than on every call, so an outage costs one refused
connection per process per interval, not one per request.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# Client-side limits so that a Redis that hangs (rather than refuses) cannot stall a request.
DEFAULT_OPTIONS = {"socket_connect_timeout": 0.25, "socket_timeout": 0.5}


class ReusedClientRedisCacheClient(RedisCacheClient):
    """Django's Redis client, keeping one redis-py client per connection pool.

    Django builds a new `redis.Redis` for every cache call, and redis-py fills a table of ~170
    response callbacks each time: a noticeable share of a request that only reads a few keys.
    A client is safe to share between threads (its pool hands out the connections).
    """

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        clients = self.__dict__.setdefault("_clients", {})
        client = clients.get(id(pool))
        if client is None:
            client = clients[id(pool)] = self._client(connection_pool=pool)
        return client


# One throttle hit, atomically in Redis: refused when the `limit`-th newest hit is within the window,
# recorded otherwise. The list holds the hits of the window, newest first, at most `limit` of them
# (hits that left the window are popped from its tail, each once), so a hit costs one round trip and
# the same few bytes whatever the rate, where DRF reads and writes a pickled list of every hit.
RECORD_HIT = """
local oldest = redis.call('LINDEX', KEYS[1], -1)
while oldest and tonumber(oldest) <= tonumber(ARGV[1]) - tonumber(ARGV[3]) do
  redis.call('RPOP', KEYS[1])
  oldest = redis.call('LINDEX', KEYS[1], -1)
end
local nth = redis.call('LINDEX', KEYS[1], tonumber(ARGV[2]) - 1)
if nth and tonumber(nth) > tonumber(ARGV[1]) - tonumber(ARGV[3]) then
  return nth
end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return false
"""

_local_hits_lock = threading.Lock()


def record_hit_locally(cache: Any, key: str, now: float, limit: int, window_s: float) -> float | None:
    """`record_hit` in a process's own memory: the same rule, the timestamps in a list."""
    with _local_hits_lock:
        history = [at for at in cache.get(key, []) if at > now - window_s][:limit]
        if len(history) >= limit:
            return history[limit - 1]
        cache.set(key, [now, *history][:limit], math.ceil(window_s))
    return None


class ResilientRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]):
        options = dict(params.get("OPTIONS") or {})
        self.retry_after = float(options.pop("RETRY_AFTER", 5.0))
        super().__init__(server, {**params, "OPTIONS": {**DEFAULT_OPTIONS, **options}})
        self._class = ReusedClientRedisCacheClient
        # Named by server and prefix, so that every thread's instance of this cache shares one memory.
        self.local = LocMemCache(f"hwfit-fallback-{server}-{params.get('KEY_PREFIX', '')}",
                                 {"TIMEOUT": params.get("TIMEOUT", 300)})
        self._down_until = 0.0

    @property
    def degraded(self) -> bool:
        """True while calls go to local memory because Redis was last found down."""
        return time.monotonic() < self._down_until

    def ping(self) -> bool:
        """Whether Redis answers now (readiness reports it); resets the back-off when it does."""
        try:
            self._cache.get_client().ping()
        except (RedisError, OSError):
            self._down_until = time.monotonic() + self.retry_after
            return False
        self._down_until = 0.0
        return True

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if not self.degraded:
            try:
                return getattr(super(), name)(*args, **kwargs)
            except (RedisError, OSError) as exc:
                logger.warning("Redis cache unreachable (%s); using local memory for %.0f s", exc, self.retry_after)
                self._down_until = time.monotonic() + self.retry_after
        return getattr(self.local, name)(*args, **kwargs)

    def record_hit(self, key: str, now: float, limit: int, window_s: float) -> float | None:
        """Count a hit on `key` unless `limit` hits were counted in the last `window_s` seconds.

        Returns None when counted, else the time of the hit that must leave the window first.
        """
        if not self.degraded:
            try:
                client = self._cache.get_client(key, write=True)
                script = self.__dict__.get("_record_hit")
                if script is None:
                    script = self.__dict__["_record_hit"] = client.register_script(RECORD_HIT)
                nth = script(keys=[self.make_and_validate_key(key)],
                             args=[repr(now), limit, window_s, math.ceil(window_s)], client=client)
                return None if nth is None else float(nth)
            except (RedisError, OSError) as exc:
                logger.warning("Redis cache unreachable (%s); using local memory for %.0f s", exc, self.retry_after)
                self._down_until = time.monotonic() + self.retry_after
        return record_hit_locally(self.local, key, now, limit, window_s)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("add", key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._call("get", key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set", key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("touch", key, timeout, version)

    def delete(self, key, version=None):
        return self._call("delete", key, version)

    def get_many(self, keys, version=None):
        return self._call("get_many", keys, version)

    def has_key(self, key, version=None):
        return self._call("has_key", key, version)

    def incr(self, key, delta=1, version=None):
        return self._call("incr", key, delta, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set_many", data, timeout, version)

    def delete_many(self, keys, version=None):
        return self._call("delete_many", keys, version)

    def clear(self):
        self.local.clear()
        return self._call("clear")
