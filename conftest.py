"""Test-wide settings: a development key, and Redis names of each test process's own.

pytest-django imports the settings before any conftest (the ini names them):
the environment set here reaches the servers and commands the tests start,
and this process's settings only where it is applied to them below.
"""

import os

os.environ.setdefault("CERVEAU_INSECURE_DEFAULTS", "1")

# Each test process (pytest-xdist worker) and every daphne it starts use
# their own names in Redis: atelier ids restart in each test database, and
# pub/sub channels are shared by the whole Redis server. The settings read
# the prefix this process inherited (the same in every worker): this
# process's own replaces it before the channel layer and the caches are
# first built.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
REDIS_PREFIX = f"{os.environ.get('CERVEAU_REDIS_PREFIX') or 'test'}-{os.getpid()}-{_worker}"
os.environ["CERVEAU_REDIS_PREFIX"] = REDIS_PREFIX

from django.conf import settings  # noqa: E402  (imported already by pytest-django)

for _layer in settings.CHANNEL_LAYERS.values():
    if "prefix" in _layer.get("CONFIG", {}):
        _layer["CONFIG"]["prefix"] = REDIS_PREFIX
for _cache in settings.CACHES.values():
    if "KEY_PREFIX" in _cache:
        _cache["KEY_PREFIX"] = REDIS_PREFIX


def pytest_collection_modifyitems(items):
    """Modules that start servers, browsers or faults go first. The workers
    then share the long scenarios out between them from the start, instead of
    one worker running a two-minute scenario alone at the end of the run.
    A module keeps its tests together, so its servers start once."""
    slow = {"faults": 0, "servers": 1, "browser": 1}

    def weight(item):
        return min((slow.get(mark.name, 2) for mark in item.iter_markers()), default=2)

    by_module = {}
    for item in items:
        by_module[item.module.__name__] = min(by_module.get(item.module.__name__, 2), weight(item))
    items.sort(key=lambda item: by_module[item.module.__name__])
