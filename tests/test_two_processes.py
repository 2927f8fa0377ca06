"""End to end over real daphne processes: HTTP writes, WebSocket pushes.

Two processes share pushes only through Redis, so those tests skip on the
in-memory layer; the origin and membership refusals need one process only.
"""

from __future__ import annotations

import re

import httpx
import pytest
from django.utils.html import escape

from boards.models import Atelier
from tests import servers
from tests.servers import HTTP_TIMEOUT, open_socket

pytestmark = pytest.mark.servers

daphne_server = servers.daphne_server
daphne_pair = servers.daphne_pair
live_atelier = servers.live_atelier
visitors = servers.visitors

CONTENT_TYPES = {".css": "text/css", ".js": "javascript", ".svg": "image/svg+xml"}

CLOSE_FORBIDDEN_ORIGIN = 4003
CLOSE_NOT_A_MEMBER = 4403


def metoo_count(impossible_id: int, count: int) -> str:
    return f'id="imp-{impossible_id}-metoo" data-count="{count}"'


def current_version(atelier: Atelier) -> int:
    return Atelier.objects.values_list("version", flat=True).get(pk=atelier.pk)


def test_static_files_are_served_with_debug_off(daphne_server, live_atelier, visitors):
    alice = visitors(daphne_server, live_atelier.code, "Alice")
    page = alice.get(f"/a/{live_atelier.code}/").text
    assets = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', page))
    names = {asset.rsplit("/", 1)[-1] for asset in assets}
    assert {"board.js", "app.css"} <= names, assets
    assert any(name.startswith("htmx-2") for name in names), assets
    assert any(name.startswith("hx-ws-2") for name in names), assets
    # django-htmx adds its debug helper only with DEBUG on.
    assert "django-htmx.js" not in names, "the server runs with DEBUG on"
    for asset in sorted(assets):
        response = alice.get(asset)
        kind = CONTENT_TYPES.get("." + asset.rsplit(".", 1)[-1], "")
        assert kind in response.headers["content-type"], (asset, response.headers["content-type"])
        assert len(response.content) > 100, asset
    missing = httpx.get(daphne_server.url + "/no-such-page/", timeout=HTTP_TIMEOUT, trust_env=False)
    assert missing.status_code == 404
    assert "URLconf" not in missing.text, "404 shows Django's debug page: DEBUG is on"


def test_a_change_made_through_one_process_is_pushed_by_the_other(daphne_pair, live_atelier, visitors):
    one, two = daphne_pair
    code = live_atelier.code
    alice = visitors(one, code, "Alice", "entrepreneur")
    bob = visitors(two, code, "Bob", "elu")
    charlie = visitors(two, code, "Charlie", "pair")
    start = alice.board_version()
    on_one = alice.socket(one, version=start)
    on_two = bob.socket(two, version=start)

    statement = "Impossible de trouver des soudeurs à moins de 50 km"
    impossible = bob.post_impossible(statement, server=two)
    for live in (on_one, on_two):
        frame = live.next_versioned()
        assert (frame.kind, frame.version) == ("event", start + 1), frame
        assert f'id="imp-{impossible}"' in frame.text
        assert escape(statement) in frame.text

    alice.me_too(impossible, server=one)
    for live in (on_two, on_one):
        frame = live.next_versioned()
        assert (frame.kind, frame.version) == ("event", start + 2), frame
        assert metoo_count(impossible, 1) in frame.text

    offer = "Je connais un centre de formation à Cognac"
    charlie.offer_help(impossible, offer, server=two)
    for live in (on_one, on_two):
        frame = live.next_versioned()
        assert (frame.kind, frame.version) == ("event", start + 3), frame
        assert f'id="imp-{impossible}-offers"' in frame.text
        assert escape(offer) in frame.text

    assert current_version(live_atelier) == start + 3


def test_a_client_reconnecting_with_an_old_version_gets_a_snapshot_with_the_changes(
    daphne_pair, live_atelier, visitors
):
    one, two = daphne_pair
    code = live_atelier.code
    alice = visitors(one, code, "Alice")
    bob = visitors(two, code, "Bob", "agent")
    old = alice.board_version()
    statement = "Impossible de louer un atelier de 200 m²"
    impossible = bob.post_impossible(statement, category="foncier", server=two)
    bob.me_too(impossible, server=two)
    offer = "Une halle se libère à Jarnac"
    alice.offer_help(impossible, offer, kind="ressource", server=one)
    current = old + 3
    assert current_version(live_atelier) == current

    # Alice's phone comes back on either process with the version it last applied.
    for server in (one, two):
        frame = alice.socket(server, version=old).next_versioned()
        assert (frame.kind, frame.version) == ("snapshot", current), frame
        assert escape(statement) in frame.text
        assert metoo_count(impossible, 1) in frame.text
        assert escape(offer) in frame.text


def test_resync_sends_a_snapshot_for_an_old_version_and_nothing_for_the_current_one(
    daphne_pair, live_atelier, visitors
):
    one, two = daphne_pair
    code = live_atelier.code
    alice = visitors(one, code, "Alice")
    bob = visitors(two, code, "Bob", "elu")
    old = alice.board_version()
    statement = "Impossible d'obtenir un rendez-vous à la banque"
    impossible = bob.post_impossible(statement, category="financement", server=two)
    current = old + 1
    live = alice.socket(one, version=current)

    live.send_json({"type": "resync", "version": old})
    frame = live.next_versioned()
    assert (frame.kind, frame.version) == ("snapshot", current), frame
    assert escape(statement) in frame.text

    live.send_json({"type": "resync", "version": current})
    # A change through the other process marks the end: the consumer handles
    # its messages in order, so any answer to that resync would come first.
    bob.me_too(impossible, server=two)
    frame = live.next_versioned()
    assert (frame.kind, frame.version) == ("event", current + 1), (
        f"a resync at the current version must get nothing, got {frame}"
    )
    assert metoo_count(impossible, 1) in frame.text


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "http://127.0.0.1.evil.example",
        None,
        "http://127.0.0.1:{other_port}",
        "https://127.0.0.1:{port}",
    ],
    ids=["foreign", "lookalike", "missing", "another-port", "another-scheme"],
)
def test_a_socket_from_another_origin_is_closed_with_4003(daphne_server, live_atelier, visitors, origin):
    alice = visitors(daphne_server, live_atelier.code, "Alice")
    if origin is not None:
        origin = origin.format(port=daphne_server.port, other_port=daphne_server.port + 1)
    refused = alice.socket(origin=origin)
    assert refused.wait_closed() == CLOSE_FORBIDDEN_ORIGIN
    # Same phone, same cookie, the page's own origin: let in, and sent the board.
    frame = alice.socket().next_versioned()
    assert frame.kind == "snapshot"


def test_a_socket_without_membership_is_closed_with_4403(daphne_server, live_atelier, visitors):
    other = Atelier.objects.create(title="Autre atelier", code=live_atelier.code + "X")
    outsider = visitors(daphne_server, other.code, "Olga")
    member = visitors(daphne_server, live_atelier.code, "Alice")

    cases = [
        ("no session", open_socket(daphne_server, live_atelier.code)),
        ("member of another atelier", open_socket(daphne_server, live_atelier.code, session_id=outsider.session_id)),
        ("unknown atelier", open_socket(daphne_server, "NOPE00", session_id=member.session_id)),
    ]
    codes = {label: live.wait_closed() for label, live in cases}
    assert codes == dict.fromkeys(codes, CLOSE_NOT_A_MEMBER)
    # The member herself is let in on the same server.
    assert member.socket().next_versioned().kind == "snapshot"
