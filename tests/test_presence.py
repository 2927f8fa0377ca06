"""Who is online: one row per open socket, written and deleted as plain
statements (boards/live/presence.py), on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from boards.live import presence
from boards.models import Presence

NOW = datetime(2026, 11, 20, 18, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(autouse=True)
def still_clock(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


def _rows():
    return list(Presence.objects.order_by("channel_name").values_list("channel_name", "participant_id", "seen_at"))


def test_a_socket_is_counted_with_its_participant_atelier_and_time(alice):
    anne = alice.participant
    assert presence.connect(anne, "socket.a", most=3)
    row = Presence.objects.get()
    assert (row.channel_name, row.atelier_id, row.participant_id) == ("socket.a", anne.atelier_id, anne.pk)
    assert row.seen_at == NOW  # microseconds and time zone kept, on either database
    assert presence.online_count(anne.atelier_id) == 1


def test_a_channel_counted_already_is_taken_over_not_doubled(alice, bob):
    presence.connect(alice.participant, "socket.a", most=3)
    presence.connect(bob.participant, "socket.a", most=3)
    assert _rows() == [("socket.a", bob.participant.pk, NOW)]


def test_a_socket_over_the_limit_is_not_counted_and_the_others_stay(alice):
    anne = alice.participant
    assert presence.connect(anne, "socket.a", most=2)
    assert presence.connect(anne, "socket.b", most=2)
    assert not presence.connect(anne, "socket.c", most=2)
    assert [row[0] for row in _rows()] == ["socket.a", "socket.b"]


def test_a_socket_that_closes_takes_only_its_own_row(alice, bob):
    presence.connect(alice.participant, "socket.a", most=3)
    presence.connect(bob.participant, "socket.b", most=3)
    presence.disconnect("socket.a")
    presence.disconnect("socket.gone")  # closed twice, or never counted: nothing to do
    assert _rows() == [("socket.b", bob.participant.pk, NOW)]
    assert presence.online_count(alice.participant.atelier_id) == 1


def test_a_row_that_stopped_pinging_no_longer_counts(alice, monkeypatch):
    presence.connect(alice.participant, "socket.a", most=3)
    monkeypatch.setattr(timezone, "now", lambda: NOW + presence.STALE_AFTER + timedelta(seconds=1))
    assert presence.online_count(alice.participant.atelier_id) == 0
    assert presence.connect(alice.participant, "socket.b", most=1)  # the stale one is not in the way
