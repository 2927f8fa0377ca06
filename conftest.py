"""Loaded before Django's settings: tests run without a production secret."""

import os

os.environ.setdefault("CERVEAU_INSECURE_DEFAULTS", "1")

# Each test process (pytest-xdist worker) and every daphne it starts use
# their own names in Redis: atelier ids restart in each test database, and
# pub/sub channels are shared by the whole Redis server.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
os.environ["CERVEAU_REDIS_PREFIX"] = f"{os.environ.get('CERVEAU_REDIS_PREFIX') or 'test'}-{os.getpid()}-{_worker}"


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
