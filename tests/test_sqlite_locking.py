"""SQLite, the embedded default: one writer at a time, readers never wait.

Write transactions begin IMMEDIATE and take the write lock up front. Reading
the board must not: a room loading pages and catching up on its sockets would
otherwise queue with the writers, and the last in the queue would be starved
past the busy timeout (a 503 for a post the phone sent in time).

And once the phase refuses a write, the refusal is given without queueing
for the write lock, while a retry of a write that made it stays a success.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from django.db.models import F

from boards import reads
from boards.models import Atelier, Impossible
from boards.phases import Phase
from boards.services import facilitation
from boards.services.core import Refused
from cerveau.backends.sqlite3.base import WriteQueue, write_queue_for
from tests.conftest import post_impossible

pytestmark = pytest.mark.django_db(transaction=True)

# Far below the busy timeout (20 s): a read that queued for the lock fails this.
PROMPT = 2.0


@pytest.fixture(autouse=True)
def _sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's locking: PostgreSQL readers never take the row locks writers take")


@contextmanager
def write_lock_held_elsewhere():
    """Another connection holds the write lock, as a slow writer would."""
    other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


def _close(atelier: Atelier) -> None:
    facilitation.set_phase(atelier.pk, Phase.CLOSED)


def test_the_board_is_read_while_a_writer_holds_the_lock(atelier, alice, bob):
    post_impossible(alice.participant, "Impossible de trouver un local")
    post_impossible(bob.participant, "Impossible d'obtenir le permis")
    with write_lock_held_elsewhere():
        started = time.monotonic()
        board = reads.load_board(atelier)
        elapsed = time.monotonic() - started
    assert elapsed < PROMPT, f"reading the board waited {elapsed:.1f} s for the write lock"
    assert {impossible.statement for impossible in board.impossibles} == {
        "Impossible de trouver un local",
        "Impossible d'obtenir le permis",
    }
    assert board.version == Atelier.objects.get(pk=atelier.pk).version


def test_a_write_still_waits_for_the_lock(atelier, alice, settings):
    """The reads' DEFERRED transaction does not leak into the writes."""
    connection.close()
    database = settings.DATABASES["default"]
    with write_lock_held_elsewhere():
        connection.settings_dict["OPTIONS"] = {**database["OPTIONS"], "timeout": 0.2}
        connection.settings_dict["OPTIONS"]["init_command"] = database["OPTIONS"]["init_command"].replace(
            "busy_timeout=20000", "busy_timeout=200"
        )
        try:
            reads.load_board(atelier)
            with pytest.raises(Exception, match="locked"):
                post_impossible(alice.participant)
        finally:
            connection.close()
            connection.settings_dict["OPTIONS"] = database["OPTIONS"]
    assert not Impossible.objects.exists()


def test_a_closed_atelier_refuses_without_queueing_for_the_lock(atelier, alice):
    _close(atelier)
    with write_lock_held_elsewhere():
        started = time.monotonic()
        with pytest.raises(Refused):
            post_impossible(alice.participant)
        elapsed = time.monotonic() - started
    assert elapsed < PROMPT, f"the refusal waited {elapsed:.1f} s for the write lock"
    assert not Impossible.objects.exists()


def test_a_retry_of_a_post_that_made_it_succeeds_after_closing(atelier, alice):
    posted = post_impossible(alice.participant, submission_key="retry-me")
    _close(atelier)
    with write_lock_held_elsewhere():
        again = post_impossible(alice.participant, submission_key="retry-me")
    assert again.pk == posted.pk
    assert Impossible.objects.count() == 1


def test_writers_of_one_process_take_turns_in_the_order_they_came(atelier, alice):
    """While a write transaction runs, the next writers wait in the process's
    queue, not in SQLite's busy loop (where a newcomer polling more often
    overtakes one that has waited long), and write in the order they came."""
    queue = write_queue_for(connection.settings_dict["NAME"])
    order: list[int] = []

    def writer(number: int) -> None:
        try:
            with transaction.atomic():
                order.append(number)
                Atelier.objects.filter(pk=atelier.pk).update(version=F("version") + 1)
        finally:
            connection.close()  # This thread's own.

    with transaction.atomic():
        Atelier.objects.filter(pk=atelier.pk).update(version=F("version") + 1)
        threads = []
        for number in range(1, 5):
            thread = threading.Thread(target=writer, args=(number,))
            thread.start()
            threads.append(thread)
            deadline = time.monotonic() + 10
            while len(queue.waiting) < number and time.monotonic() < deadline:
                time.sleep(0.005)
            assert len(queue.waiting) == number
        assert order == []
    for thread in threads:
        thread.join(timeout=10)
    assert order == [1, 2, 3, 4]
    assert Atelier.objects.get(pk=atelier.pk).version == atelier.version + 5
    assert not queue.held and not queue.waiting


def test_a_writer_that_waited_too_long_leaves_the_queue():
    queue = WriteQueue()
    assert queue.acquire(timeout=1)
    assert not queue.acquire(timeout=0.05)
    assert not queue.waiting
    queue.release()
    assert queue.acquire(timeout=0.05)
    queue.release()
    assert not queue.held
