"""Django's Redis cache with one connection pool per process.

Django makes a cache backend per thread, and each RedisCache builds its own
connection pool; under ASGI every request runs in a new thread, so every
request opened a new connection to Redis (Django ticket #35651). redis-py's
pools are thread-safe: this backend shares one per server and process.
"""

from __future__ import annotations

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_pools: dict[tuple, dict] = {}
_lock = threading.Lock()


class _SharedPoolsClient(RedisCacheClient):
    def __init__(self, servers, **options) -> None:
        super().__init__(servers, **options)
        key = (tuple(servers), repr(sorted(self._pool_options.items())))
        with _lock:
            self._pools = _pools.setdefault(key, {})

    def _get_connection_pool(self, write):
        with _lock:
            return super()._get_connection_pool(write)


class SharedPoolRedisCache(RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = _SharedPoolsClient

    def count(self, key: str, timeout: int, version: int | None = None) -> int:
        """Add one to the counter `key`, made at 0 to expire in `timeout`
        seconds if there is none; the new value. One round trip (a MULTI of
        SET NX and INCR), where add() then incr() take three."""
        key = self.make_and_validate_key(key, version=version)
        with self._cache.get_client(key, write=True).pipeline() as pipeline:
            pipeline.set(key, 0, ex=timeout, nx=True)
            pipeline.incr(key)
            return pipeline.execute()[1]
