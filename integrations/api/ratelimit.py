"""Per-integration request rate limits, counted in the shared cache (fixed windows)."""

import fcntl
import time
from pathlib import Path

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.redis import RedisCache

from chargecars.rates import Rate, rate_parse

_redis_clients: dict[int, object] = {}


def _incr(key: str, timeout: int) -> int:
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        redis_key = backend.make_and_validate_key(key)
        client = _redis_clients.get(id(backend))
        if client is None:
            # Django builds a new client object per call; reuse one (same pool).
            client = _redis_clients[id(backend)] = backend._cache.get_client(redis_key, write=True)
        count = client.incr(redis_key)  # one round trip on the hot path
        if count == 1:
            client.expire(redis_key, timeout)
        return count
    if isinstance(backend, FileBasedCache):
        # The file cache's incr reads and then writes the file: web processes sharing it
        # would lose counts. An exclusive lock on one file in the cache directory makes
        # add-or-increment atomic across the processes of this machine.
        with open(Path(backend._dir) / "ratelimit.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return _add_or_incr(backend, key, timeout)
    return _add_or_incr(backend, key, timeout)


def _add_or_incr(backend, key: str, timeout: int) -> int:
    if backend.add(key, 1, timeout):
        return 1
    try:
        return backend.incr(key)
    except ValueError:  # expired between add and incr
        backend.add(key, 1, timeout)
        return 1


def rate_limit_hit(*, scope: str, rate: Rate | None = None) -> int | None:
    """Count one request for ``scope``; return seconds to wait when over the limit, else None."""
    rate = rate if rate is not None else rate_parse(settings.PARTNER_API_RATE_LIMIT)
    if rate is None:
        return None
    now = time.time()
    window = int(now // rate.period)
    count = _incr(f"ratelimit:{scope}:{rate.period}:{window}", rate.period + 1)
    if count > rate.limit:
        return max(1, int((window + 1) * rate.period - now + 0.999))
    return None
