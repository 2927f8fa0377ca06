"""SQLite connections are kept for the next request (cerveau/backends/sqlite3).

What Django closes goes back to a small pool and the next thread that
connects takes it: nothing of the last user's state may come with it, two
threads never share one, and a change of settings gets new connections.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from boards.models import Atelier
from cerveau.backends.sqlite3 import base as pooled

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip("the embedded default's pool: PostgreSQL uses psycopg's")


def raw() -> object:
    connection.ensure_connection()
    return connection.connection


def test_a_closed_connection_is_the_next_one_opened():
    connection.close()
    first = raw()
    connection.close()
    assert raw() is first
    # And it works: the schema and Django's SQL functions are still there.
    assert Atelier.objects.filter(title__icontains="x").count() == 0


def test_a_transaction_left_open_is_rolled_back_before_the_next_user(atelier):
    connection.close()
    sqlite = raw()
    sqlite.execute("BEGIN")
    sqlite.execute("UPDATE boards_atelier SET title = 'half-saved' WHERE id = ?", [atelier.pk])
    connection.close()
    again = raw()
    assert again is sqlite
    assert not again.in_transaction
    assert Atelier.objects.get(pk=atelier.pk).title == atelier.title


def test_foreign_keys_are_on_again_for_the_next_user():
    connection.close()
    sqlite = raw()
    sqlite.execute("PRAGMA foreign_keys = OFF")
    connection.close()
    assert raw() is sqlite
    assert sqlite.execute("PRAGMA foreign_keys").fetchone() == (1,)


def test_connections_closed_inside_a_transaction_are_not_kept():
    connection.close()
    sqlite = raw()
    with pytest.raises(RuntimeError), transaction.atomic():
        connection.close()
        raise RuntimeError
    connection.close()
    assert raw() is not sqlite


def test_other_settings_get_connections_of_their_own(settings):
    connection.close()
    sqlite = raw()
    connection.close()
    options = connection.settings_dict["OPTIONS"]
    connection.settings_dict["OPTIONS"] = {**options, "timeout": 0.5}
    try:
        assert raw() is not sqlite
    finally:
        connection.close()
        connection.settings_dict["OPTIONS"] = options
    assert raw() is sqlite


def test_threads_at_once_never_share_a_connection():
    """Each thread has its Django connection; the pool hands each sqlite3
    connection to one of them at a time."""
    connection.close()
    held: list[int] = []
    barrier = threading.Barrier(6)
    lock = threading.Lock()

    def work() -> None:
        from django.db import connection as own

        try:
            own.ensure_connection()
            with lock:
                held.append(id(own.connection))
            barrier.wait(timeout=10)
            assert Atelier.objects.count() >= 0
        finally:
            own.close()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(held) == 6
    assert len(set(held)) == 6


def test_the_pool_keeps_only_a_few_idle_connections():
    pool = pooled.ConnectionPool(keep=2)
    made = [pooled.sqlite3.connect(":memory:") for _ in range(3)]
    for sqlite in made:
        pool.give_back(sqlite)
    assert [pool.take(), pool.take(), pool.take()] == [made[1], made[0], None]
    with pytest.raises(pooled.sqlite3.ProgrammingError):
        made[2].execute("SELECT 1")
