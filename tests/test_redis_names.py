"""Each test process names its Redis keys and channels its own way (conftest.py):
two workers' ateliers share ids (each has its own database), and must not
hear each other's pushes or count each other's attempts."""

from __future__ import annotations

import os

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import caches


async def test_this_process_and_the_servers_it_starts_use_names_of_their_own():
    prefix = os.environ["CERVEAU_REDIS_PREFIX"]
    assert prefix.endswith(f"-{os.getpid()}-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}")
    layer = get_channel_layer()
    if "prefix" in settings.CHANNEL_LAYERS["default"].get("CONFIG", {}):
        assert layer.prefix == prefix
    if "KEY_PREFIX" in settings.CACHES["ratelimit"]:
        assert caches["ratelimit"].key_prefix == prefix
