"""A phone's session against a real server: a cookie planted beforehand never
becomes the participant, and erasing one's data ends the session's hold on
that person everywhere, open sockets included."""

from __future__ import annotations

import pytest

from boards.live.protocol import Close
from boards.models import Participant
from tests import servers
from tests.servers import Visitor

pytestmark = pytest.mark.servers

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier
visitors = servers.visitors


def _cookie_jar_with(session_id: str, server) -> Visitor:
    visitor = Visitor(server=server, code="")
    visitor.http.cookies.set("sessionid", session_id, domain="127.0.0.1", path="/")
    return visitor


def test_a_planted_session_cookie_never_becomes_the_participant(daphne_server, live_atelier, visitors):
    other = type(live_atelier).objects.create(title="Autre atelier", code=live_atelier.code + "X")
    attacker = visitors(daphne_server, other.code, "Mallory")
    planted = attacker.session_id

    # The victim's browser carries the attacker's cookie when she joins.
    victim = Visitor(server=daphne_server, code=live_atelier.code)
    victim.http.cookies.set("sessionid", planted, domain="127.0.0.1", path="/")
    try:
        victim.join("Victoire", "entrepreneur", "Forges de Cognac")
        assert victim.session_id != planted
        assert "Victoire" in victim.get(f"/a/{live_atelier.code}/me/").text

        # The attacker's cookie does not open her board.
        response = attacker.http.get(attacker.url(f"/a/{live_atelier.code}/"))
        assert response.status_code == 302
        assert response.headers["location"] == f"/a/{live_atelier.code}/join/"
    finally:
        victim.close()
    assert Participant.objects.filter(atelier=live_atelier, name="Victoire").count() == 1


def test_erasing_my_data_closes_my_open_pages_and_ends_the_session_s_hold(daphne_server, live_atelier, visitors):
    alice = visitors(daphne_server, live_atelier.code, "Alice")
    bob = visitors(daphne_server, live_atelier.code, "Bob")
    before = alice.session_id
    phone, tablet, bystander = alice.socket(), alice.socket(), bob.socket()
    for live in (phone, tablet, bystander):
        assert live.next_versioned().kind == "snapshot"

    alice.get(f"/a/{live_atelier.code}/me/data/")
    response = alice.post(f"/a/{live_atelier.code}/me/forget/", {"confirm": "oui"})

    assert response.headers["location"] == "/"
    assert phone.wait_closed(after_frames=True) == Close.SIGNED_OUT
    assert tablet.wait_closed(after_frames=True) == Close.SIGNED_OUT
    # The session key changed, and the old one speaks for nobody.
    assert alice.session_id != before
    old = _cookie_jar_with(before, daphne_server)
    try:
        assert old.http.get(old.url(f"/a/{live_atelier.code}/")).status_code == 302
    finally:
        old.close()
    assert alice.http.get(alice.url(f"/a/{live_atelier.code}/")).status_code == 302
    # Others stay connected and hear that Alice's name is gone.
    frame = bystander.next_versioned()
    assert frame.kind == "event"
