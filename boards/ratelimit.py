"""Slow down join-code guessing.

Only failed look-ups count, per client address and for the whole site, in
fixed ten-minute windows. A room of 200 people behind one venue NAT joins
with the right code and never meets the limit; a script trying codes does,
long before it could find one (31^6 codes, a handful of live ateliers).
"""

from __future__ import annotations

import time

from django.core.cache import caches

WINDOW_SECONDS = 600
PER_ADDRESS = 60
SITEWIDE = 1000


def _keys(address: str) -> tuple[str, str]:
    window = int(time.time() // WINDOW_SECONDS)
    return f"join-fail:{window}:ip:{address}", f"join-fail:{window}:all"


def client_address(request) -> str:
    # Behind a reverse proxy, configure it to set REMOTE_ADDR (docs/deploy).
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def is_limited(request) -> bool:
    address_key, site_key = _keys(client_address(request))
    counts = caches["ratelimit"].get_many([address_key, site_key])
    return counts.get(address_key, 0) >= PER_ADDRESS or counts.get(site_key, 0) >= SITEWIDE


def record_failure(request) -> None:
    cache = caches["ratelimit"]
    for key in _keys(client_address(request)):
        cache.add(key, 0, WINDOW_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, WINDOW_SECONDS)
