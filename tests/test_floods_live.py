"""Cheap write floods against a real server: one participant toggling « moi
aussi » hundreds of times, or opening hundreds of sockets, is held to what a
person does, and the rest of the room does not hear about it."""

from __future__ import annotations

import time

import pytest

from boards import ratelimit
from boards.live.protocol import Close
from boards.models import Atelier, Presence
from tests import servers

pytestmark = pytest.mark.servers

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier
visitors = servers.visitors


def test_a_me_too_flood_is_cut_to_a_person_s_pace_and_spares_the_room(daphne_server, live_atelier, visitors):
    alice = visitors(daphne_server, live_atelier.code, "Alice")
    bob = visitors(daphne_server, live_atelier.code, "Bob")
    impossible = bob.post_impossible("Impossible de recruter des soudeurs")
    before = Atelier.objects.get(pk=live_atelier.pk).version
    bystander = bob.socket()
    assert bystander.next_versioned().kind == "snapshot"

    rule = ratelimit.limit("me_too")
    started = time.monotonic()
    statuses, on = [], False
    for _ in range(300):
        # Always the other state: every accepted tap changes the board.
        path = f"/a/{live_atelier.code}/impossibles/{impossible}/me-too/"
        response = alice.http.post(
            alice.url(path),
            data={"csrfmiddlewaretoken": alice.http.cookies["csrftoken"], "state": "off" if on else "on"},
            headers={"HX-Request": "true"},
        )
        statuses.append(response.status_code)
        on = on != (response.status_code == 204)
    elapsed = time.monotonic() - started

    accepted = statuses.count(204)
    # The burst, plus what the bucket refilled while the flood lasted.
    assert rule.count <= accepted <= rule.count + int(elapsed * rule.count / rule.seconds) + 1
    assert statuses.count(429) == 300 - accepted
    # Only accepted taps changed the board, and only they were pushed.
    assert Atelier.objects.get(pk=live_atelier.pk).version - before == accepted
    pushed = 0
    while bystander.next_versioned().version < before + accepted:
        pushed += 1
    assert pushed + 1 == accepted
    # Bob, in the same room, is not slowed.
    bob.me_too(impossible)


def test_one_participant_cannot_open_hundreds_of_sockets(daphne_server, live_atelier, visitors):
    alice = visitors(daphne_server, live_atelier.code, "Alice")
    most = ratelimit.sockets_per_participant()

    opened = [alice.socket() for _ in range(most)]
    for live in opened:
        assert live.next_versioned().kind == "snapshot"
    refused = [alice.socket() for _ in range(20)]

    assert [live.wait_closed() for live in refused] == [Close.FLOOD] * 20
    assert Presence.objects.filter(participant__name="Alice").count() == most
    # Closing one tab frees its place.
    opened[0].close()
    deadline = time.monotonic() + servers.LIVE_TIMEOUT
    while Presence.objects.filter(participant__name="Alice").count() >= most and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alice.socket().next_versioned().kind == "snapshot"
