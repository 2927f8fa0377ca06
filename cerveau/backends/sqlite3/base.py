"""Django's SQLite backend, with closed connections kept for the next request.

Django opens a connection in each request's thread and closes it when the
request ends (under ASGI every request runs on a new thread, so persistent
connections, CONN_MAX_AGE, cannot help). On SQLite an open costs more than
most queries: the file, Django's SQL functions, the PRAGMAs of
`init_command`, then the schema parsed again at the first statement (about
1.4 ms against 0.5 ms for a simple query here; a phone joining opened eight).
Django pools connections for PostgreSQL only (`OPTIONS["pool"]`): this backend
keeps what Django closes in a small pool per process and settings, and hands
each connection to one thread at a time, as Django's own SQLite connections
may already move between threads (`check_same_thread=False`).
"""

from __future__ import annotations

import sqlite3
import threading

from django.db.backends.sqlite3 import base

# Connections kept idle per database and settings. A daphne process runs
# about as many requests at once as it has threads busy with the database;
# past this many, a returned connection is closed as before.
KEEP_IDLE = 8


class ConnectionPool:
    def __init__(self, keep: int = KEEP_IDLE) -> None:
        self.keep = keep
        self.idle: list[sqlite3.Connection] = []
        self.lock = threading.Lock()

    def take(self) -> sqlite3.Connection | None:
        with self.lock:
            return self.idle.pop() if self.idle else None

    def give_back(self, connection: sqlite3.Connection) -> None:
        try:
            # Nothing carries over to the next user: a transaction left open
            # is rolled back, and the foreign keys a bulk load may have turned
            # off are on again.
            if connection.in_transaction:
                connection.rollback()
            connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error:
            connection.close()
            return
        with self.lock:
            if len(self.idle) < self.keep:
                self.idle.append(connection)
                return
        connection.close()


_pools: dict[tuple, ConnectionPool] = {}
_pools_lock = threading.Lock()


def pool_for(conn_params: dict, init_commands: list[str]) -> ConnectionPool:
    # Keyed by everything that shapes a connection: a test that changes the
    # busy timeout gets new connections, not one opened with the old one.
    key = (repr(sorted(conn_params.items())), tuple(init_commands))
    with _pools_lock:
        return _pools.setdefault(key, ConnectionPool())


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        if self.is_in_memory_db():
            return super().get_new_connection(conn_params)
        self.pool = pool_for(conn_params, self.init_commands)
        return self.pool.take() or super().get_new_connection(conn_params)

    def _close(self):
        pool = getattr(self, "pool", None)
        # Closed inside a transaction (an atomic block), the wrapper keeps its
        # connection and fails its next use: really close it, as Django does.
        if self.connection is None or pool is None or self.in_atomic_block:
            return super()._close()
        connection, self.pool = self.connection, None
        pool.give_back(connection)
