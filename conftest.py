"""Loaded before Django's settings: tests run without a production secret."""

import os

os.environ.setdefault("CERVEAU_INSECURE_DEFAULTS", "1")

# Each test process (pytest-xdist worker) and every daphne it starts use
# their own names in Redis: atelier ids restart in each test database, and
# pub/sub channels are shared by the whole Redis server.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
os.environ["CERVEAU_REDIS_PREFIX"] = f"{os.environ.get('CERVEAU_REDIS_PREFIX') or 'test'}-{os.getpid()}-{_worker}"
