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

Writers also queue in the process, in the order they came. SQLite lets one
transaction write at a time, and one waiting for the lock polls it with
growing sleeps (up to 100 ms apart): when a room posts at once, a writer that
has waited long is overtaken by newer ones, which poll more often, until its
busy timeout fails it ("database is locked", a 503). A write transaction here
first takes its turn in `WriteQueue`, then begins; other processes on the
same file still meet the busy timeout.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError

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


class WriteQueue:
    """One write transaction at a time per database file in this process,
    granted in the order asked: `release` hands the turn to the oldest waiter."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held = False
        self.waiting: deque[threading.Lock] = deque()

    def acquire(self, timeout: float) -> bool:
        with self.lock:
            if not self.held:
                self.held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self.waiting.append(turn)
        if turn.acquire(timeout=timeout):
            return True
        with self.lock:
            if turn in self.waiting:
                self.waiting.remove(turn)
                return False
        return True  # The turn came as the wait ran out.

    def release(self) -> None:
        with self.lock:
            if self.waiting:
                self.waiting.popleft().release()  # Still held: by the next writer.
            else:
                self.held = False


_write_queues: dict[str, WriteQueue] = {}


def write_queue_for(name: str) -> WriteQueue:
    with _pools_lock:
        return _write_queues.setdefault(str(name), WriteQueue())


# Transaction modes that take SQLite's write lock when they begin.
WRITING_MODES = ("IMMEDIATE", "EXCLUSIVE")


class DatabaseWrapper(base.DatabaseWrapper):
    write_turn: WriteQueue | None = None

    def _start_transaction_under_autocommit(self):
        if self.transaction_mode not in WRITING_MODES or self.is_in_memory_db():
            return super()._start_transaction_under_autocommit()
        queue = write_queue_for(self.settings_dict["NAME"])
        timeout = self.settings_dict["OPTIONS"].get("timeout", 5)
        if not queue.acquire(timeout=timeout):
            raise OperationalError("database is locked (waited for this process's other writers)")
        self.write_turn = queue
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self.end_write_turn()
            raise

    def end_write_turn(self) -> None:
        queue, self.write_turn = self.write_turn, None
        if queue is not None:
            queue.release()

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self.end_write_turn()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self.end_write_turn()

    def get_new_connection(self, conn_params):
        if self.is_in_memory_db():
            return super().get_new_connection(conn_params)
        self.pool = pool_for(conn_params, self.init_commands)
        return self.pool.take() or super().get_new_connection(conn_params)

    def _close(self):
        self.end_write_turn()
        pool = getattr(self, "pool", None)
        # Closed inside a transaction (an atomic block), the wrapper keeps its
        # connection and fails its next use: really close it, as Django does.
        if self.connection is None or pool is None or self.in_atomic_block:
            return super()._close()
        connection, self.pool = self.connection, None
        pool.give_back(connection)
