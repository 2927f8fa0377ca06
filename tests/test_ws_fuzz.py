"""Hostile WebSocket clients: forged origins, garbage, binary and oversized
frames, messages naming another atelier, floods.

Each refusal is a close code the browsers understand (docs/live-updates.md,
"Refusals"), is logged with the same structured fields, writes nothing, and
leaves everyone else served. The first part drives the whole ASGI stack with
WebsocketCommunicator; the last one attacks a real daphne process with a raw
`websockets` client.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from importlib import import_module

import httpx
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from websockets.exceptions import ConnectionClosed

from boards import ratelimit
from boards.access import session_key
from boards.live import protocol
from boards.live.protocol import Close
from boards.models import (
    ActionChange,
    Atelier,
    HelpOffer,
    Impossible,
    MeToo,
    Participant,
    Pilot,
    PlanAction,
    Presence,
    Role,
)
from boards.services import participation
from tests import servers, test_consumer
from tests.conftest import SITE_HOST, SITE_ORIGIN, browser_socket, close_communicators, post_impossible

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = SITE_ORIGIN
TIMEOUT = 3
LIVE_VERSION = protocol.VERSION_MARKER
PING_REPLY = re.compile("^" + re.escape(protocol.ping_reply(0)).replace("0", r"(\d+)") + "$")
PRESENCE = re.compile(r'^<span class="num" id="stat-online" hx-swap-oob="true">\d+</span>$')
OURS = "Impossible de recruter des soudeurs à Cognac"
THEIRS = "Impossible secret de l'autre atelier"
BURST, PER_SECOND = ratelimit.DEFAULT_SOCKET_MESSAGES


# --- Helpers ------------------------------------------------------------------------------------


def _cookie(participant: Participant) -> str:
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[session_key(participant.atelier_id)] = participant.pk
    store.save()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


def _rows() -> dict[str, int]:
    """Every board row, and the versions: a refused message changes none of them.
    (Presence rows come and go with the sockets themselves.)"""
    models = (Atelier, Participant, Impossible, MeToo, HelpOffer, PlanAction, Pilot, ActionChange)
    counts = {model.__name__: model.objects.count() for model in models}
    counts["versions"] = sum(Atelier.objects.values_list("version", flat=True))
    return counts


rows = database_sync_to_async(_rows)


def live_version(html: str) -> tuple[int, str]:
    found = LIVE_VERSION.search(html)
    assert found, f"no live-version marker in {html[:200]!r}"
    return int(found.group(1)), found.group(2)


async def frames(communicator: WebsocketCommunicator, seconds: float = 0.4) -> list[str]:
    """Every data frame (presence counts left out) received within `seconds`;
    fails on a close frame."""
    received = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not await communicator.receive_nothing(timeout=0.05, interval=0.01):
            text = await communicator.receive_from()
            if not PRESENCE.match(text.strip()):
                received.append(text)
    return received


async def next_frame(communicator: WebsocketCommunicator, timeout: float = TIMEOUT) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = await communicator.receive_from(timeout=max(deadline - time.monotonic(), 0.01))
        if not PRESENCE.match(text.strip()):
            return text


async def until_closed(communicator: WebsocketCommunicator, timeout: float = TIMEOUT) -> tuple[int, list[str]]:
    """Read until the server closes: (close code, data frames before it)."""
    received = []
    deadline = time.monotonic() + timeout
    while True:
        output = await communicator.receive_output(timeout=max(deadline - time.monotonic(), 0.01))
        if output["type"] == "websocket.close":
            return output["code"], received
        text = output.get("text") or ""
        if not PRESENCE.match(text.strip()):
            received.append(text)


async def send_frame(communicator: WebsocketCommunicator, text_data: str | None = None, bytes_data=None) -> None:
    """Any frame, empty ones included (send_to refuses those)."""
    frame = {"text": text_data} if bytes_data is None else {"bytes": bytes_data}
    await communicator.send_input({"type": "websocket.receive", **frame})


def reject_records(caplog, reason: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "ws.reject" and r.reason == reason]


async def others_still_served(bystander, poster, version: int, closed: WebsocketCommunicator) -> None:
    """After one socket was closed: the next write reaches a bystander at
    once, and the closed socket hears nothing more."""
    await database_sync_to_async(post_impossible)(poster.participant, "Impossible de garder nos apprentis")
    # Served, not timed: next_frame waits a bounded time, and how fast the push
    # goes is measured by the benchmark, on a machine no test shares.
    assert live_version(await next_frame(bystander)) == (version + 1, "event")
    assert await closed.receive_nothing(timeout=0.3)


# --- Fixtures -----------------------------------------------------------------------------------


# The consumer tests' isolation (fresh cache, no presence timer or database
# connection left behind), autouse here too.
_isolated = test_consumer._isolated


@pytest.fixture
def room(atelier, other_atelier, alice, bob):
    """Our atelier (one impossible) and another one, further along (three)."""
    post_impossible(alice.participant, OURS)
    stranger = participation.join_atelier(other_atelier, name="Sam", organisation="", role=Role.OTHER)
    theirs = [post_impossible(stranger, f"{THEIRS} {n}") for n in range(3)]
    return {"theirs": theirs, "stranger": stranger}


@pytest.fixture
async def sockets(_isolated):
    opened: list[WebsocketCommunicator] = []

    async def open_socket(
        participant: Participant | None = None,
        *,
        path: str = "/ws/a/TST234/?lang=fr",
        origin: str | None = ORIGIN,
        host: str = SITE_HOST,
        secure: bool = False,
    ) -> WebsocketCommunicator:
        cookie = await database_sync_to_async(_cookie)(participant) if participant is not None else None
        communicator = browser_socket(path, origin=origin, host=host, cookie=cookie, secure=secure)
        opened.append(communicator)
        accepted, _subprotocol = await communicator.connect(timeout=TIMEOUT)
        assert accepted, "refusals are close frames after the handshake"
        return communicator

    yield open_socket
    await close_communicators(opened, TIMEOUT)


@pytest.fixture
def synced(sockets):
    """A member's socket, past its snapshot."""

    async def open_synced(participant: Participant) -> tuple[WebsocketCommunicator, int]:
        communicator = await sockets(participant)
        version, kind = live_version(await next_frame(communicator))
        assert kind == "snapshot"
        return communicator, version

    return open_synced


# --- Origins ------------------------------------------------------------------------------------

FORGED_ORIGINS = [
    pytest.param("https://evil.example", id="foreign"),
    pytest.param(None, id="missing"),
    pytest.param("", id="empty"),
    pytest.param("null", id="opaque-null"),
    pytest.param("http://127.0.0.1.evil.example", id="look-alike-suffix"),
    pytest.param("http://127.0.0.1:8000.evil.example", id="look-alike-port-suffix"),
    pytest.param("http://evil127.0.0.1", id="look-alike-prefix"),
    pytest.param("http://127.0.0.1:8000@evil.example", id="userinfo"),
    pytest.param("http://evil.example#@127.0.0.1", id="fragment"),
    pytest.param("http://127.0.0.1%2eevil.example", id="percent-encoded-dot"),
    pytest.param("http://127.0.0.1:80:80", id="two-ports"),
    pytest.param("http://127.0.0.1:99999", id="port-out-of-range"),
    pytest.param("javascript://127.0.0.1", id="javascript-scheme"),
    pytest.param("file://", id="file"),
    pytest.param("http://127.0.0.1:8000/board", id="with-a-path"),
    pytest.param("http://127.0.0.1:8000\r\nX-Evil: 1", id="header-injection"),
    pytest.param("http://[::1", id="malformed"),
]


@pytest.mark.parametrize("origin", FORGED_ORIGINS)
async def test_a_forged_origin_is_refused_with_4003_and_logged_with_the_origin(sockets, room, alice, caplog, origin):
    caplog.set_level(logging.INFO, logger="boards")
    before = await rows()

    communicator = await sockets(alice.participant, origin=origin)

    assert await communicator.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4003}
    (record,) = reject_records(caplog, "origin")
    assert (record.event, record.code, record.origin, record.atelier) == (
        "ws.reject",
        Close.FORBIDDEN_ORIGIN,
        origin,
        None,
    )
    assert record.levelno == logging.WARNING
    assert record.path == "/ws/a/TST234/"
    assert await rows() == before
    assert await database_sync_to_async(Presence.objects.count)() == 0


@pytest.mark.parametrize(
    ("origin", "host", "secure"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", False),
        ("http://localhost:8000", "localhost:8000", False),
        ("https://127.0.0.1", "127.0.0.1", True),
        ("HTTP://LOCALHOST:8000", "LocalHost:8000", False),
    ],
)
async def test_the_site_own_origins_are_still_accepted(sockets, room, alice, origin, host, secure):
    communicator = await sockets(alice.participant, origin=origin, host=host, secure=secure)
    assert live_version(await next_frame(communicator))[1] == "snapshot"


async def test_link_tokens_stay_out_of_the_logs(sockets, room, caplog):
    caplog.set_level(logging.INFO, logger="boards")
    token = "s3cr3t-share-token-0123456789"
    communicator = await sockets(path=f"/ws/plan/{token}/", origin="https://evil.example")
    assert (await communicator.receive_output(timeout=TIMEOUT))["code"] == Close.FORBIDDEN_ORIGIN
    communicator = await sockets(path=f"/ws/suivi/{token}/")
    assert (await communicator.receive_output(timeout=TIMEOUT))["code"] == Close.NOT_A_MEMBER
    assert token not in caplog.text
    assert all(token not in str(record.__dict__) for record in caplog.records)


# --- Connections, disconnections, members only --------------------------------------------------


async def test_connecting_and_disconnecting_are_logged(synced, room, alice, caplog):
    caplog.set_level(logging.INFO, logger="boards")
    communicator, _version = await synced(alice.participant)
    await communicator.disconnect(timeout=TIMEOUT)

    by_event = {record.event: record for record in caplog.records if hasattr(record, "event")}
    connected, disconnected = by_event["ws.connect"], by_event["ws.disconnect"]
    atelier_id = alice.participant.atelier_id
    assert (connected.atelier, connected.origin, connected.code, connected.reason) == (atelier_id, ORIGIN, None, None)
    assert connected.channel and connected.channel == disconnected.channel
    assert (disconnected.atelier, disconnected.origin, disconnected.code) == (atelier_id, ORIGIN, 1000)


@pytest.mark.parametrize("who", ["nobody", "member-of-another-atelier"])
async def test_a_visitor_who_has_not_joined_is_refused_with_4403_and_logged(sockets, room, caplog, who):
    caplog.set_level(logging.INFO, logger="boards")
    communicator = await sockets(room["stranger"] if who != "nobody" else None)

    assert await communicator.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4403}
    (record,) = reject_records(caplog, "not-member")
    assert (record.code, record.origin, record.path) == (Close.NOT_A_MEMBER, ORIGIN, "/ws/a/TST234/")
    assert not [r for r in caplog.records if getattr(r, "event", None) == "ws.connect"]


# --- Garbage is ignored, and the socket keeps working ------------------------------------------

IGNORED = [
    "{not json",
    '{"type": "ping"',
    "[1, 2",
    "null",
    "true",
    "0",
    "-1e999",
    '"ping"',
    "[]",
    "{}",
    '[{"type": "ping"}]',
    '{"type": null}',
    '{"type": ["ping"]}',
    '{"type": {"$ne": null}}',
    '{"type": "PING"}',
    '{"type": " ping"}',
    '{"type": "delete", "impossible": 1}',
    '{"type": "post", "statement": "<script>window.__xss=1</script>"}',
    '{"type": "board.close", "code": 4404}',
    '{"type": "board.message", "html": "<img src=x onerror=alert(1)>"}',
    '{"type": "websocket.close", "code": 1000}',
    '{"type": "impossible.posted", "impossible": 1}',
    '{"type": "__proto__", "__proto__": {"admin": true}}',
    '\ufeff{"type": "ping"}',
    "\x00",
    '"\ud800"',
    "",
    " ",
    "[" * 1000,
    '{"type": "resync", "pad": "' + "x" * 2000 + '"}',
    "ping" * 10_000,
]


@pytest.mark.parametrize("text", IGNORED, ids=[f"{n:02d}" for n in range(len(IGNORED))])
async def test_garbage_is_ignored_writes_nothing_and_the_socket_keeps_working(synced, room, alice, text):
    communicator, current = await synced(alice.participant)
    before = await rows()

    await send_frame(communicator, text)

    assert await frames(communicator) == []
    assert await rows() == before
    await communicator.send_json_to({"type": "resync", "version": -1})
    assert live_version(await next_frame(communicator)) == (current, "snapshot")


def _foreign_messages(room) -> list[dict]:
    other = room["theirs"][0]
    return [
        {"type": "resync", "version": 0, "atelier": other.atelier_id, "code": "AUTRE9"},
        {"type": "resync", "version": 0, "impossible": other.pk, "atelier_id": other.atelier_id},
        {"type": "resync", "version": 0, "category": other.category, "sort": "top", "code": "AUTRE9"},
        {"type": "resync", "version": {"atelier": other.atelier_id}},
        {"type": "resync", "version": [other.atelier_id, 3]},
        {"type": "resync", "version": 10**100},
        {"type": "resync", "version": -1, "sort": "<script>", "category": "../../AUTRE9"},
        {"type": "resync", "version": None, "sort": {"$gt": ""}, "category": ["recrutement"]},
        {"type": "resync", "version": "3 OR 1=1", "category": "recrutement' --"},
        {"type": "resync", "version": 0, "lang": "en", "group": f"atelier-{other.atelier_id}-fr"},
    ]


async def test_a_resync_naming_another_atelier_gets_only_this_board(synced, room, alice):
    communicator, current = await synced(alice.participant)
    before = await rows()

    for message in _foreign_messages(room):
        await communicator.send_json_to(message)
        snapshot = await next_frame(communicator)
        assert live_version(snapshot) == (current, "snapshot"), message
        assert THEIRS not in snapshot, message
        assert f"imp-{room['theirs'][0].pk}" not in snapshot
        # The default view shows our card; a category filter may not.
        if "category" not in message:
            assert OURS in snapshot, message

    assert await frames(communicator) == []
    assert await rows() == before


async def test_a_ping_naming_another_atelier_answers_with_this_atelier_version(synced, room, alice):
    communicator, current = await synced(alice.participant)
    other_version = await database_sync_to_async(
        lambda: Atelier.objects.values_list("version", flat=True).get(code="AUTRE9")
    )()
    assert other_version != current

    await communicator.send_json_to({"type": "ping", "version": other_version, "atelier": "AUTRE9", "code": "AUTRE9"})

    (reply,) = await frames(communicator)
    assert PING_REPLY.match(reply).group(1) == str(current)


async def test_a_push_to_another_atelier_never_reaches_this_socket(synced, room, alice):
    communicator, _current = await synced(alice.participant)
    await communicator.send_json_to({"type": "resync", "version": 0, "atelier": room["stranger"].atelier_id})
    await next_frame(communicator)

    await database_sync_to_async(post_impossible)(room["stranger"], f"{THEIRS} encore")

    assert await frames(communicator, 0.6) == []


# --- Frames no page sends: closed ---------------------------------------------------------------


LIMIT = protocol.MAX_FRAME_BYTES


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        pytest.param({"bytes_data": b'{"type": "ping", "version": 0}'}, 4415, "binary", id="binary-json"),
        pytest.param({"bytes_data": bytes(range(256))}, 4415, "binary", id="binary-garbage"),
        pytest.param({"bytes_data": b""}, 4415, "binary", id="binary-empty"),
        pytest.param({"text_data": "x" * (2 * 1024 * 1024)}, 4413, "too-big", id="text-2MiB"),
        pytest.param({"text_data": "x" * (LIMIT + 1)}, 4413, "too-big", id="text-one-byte-over"),
        pytest.param(
            {"text_data": '{"type": "resync", "version": 0, "pad": "' + "x" * LIMIT + '"}'},
            4413,
            "too-big",
            id="valid-resync-padded",
        ),
        # Fewer characters than the limit, more bytes once encoded: bytes count.
        pytest.param({"text_data": "é" * (LIMIT * 3 // 4)}, 4413, "too-big", id="multibyte"),
        pytest.param({"bytes_data": b"\0" * (2 * 1024 * 1024)}, 4413, "too-big", id="binary-2MiB"),
    ],
)
async def test_a_frame_no_page_sends_closes_the_socket_with_a_proper_code(
    synced, room, alice, bob, caplog, frame, code, reason
):
    caplog.set_level(logging.INFO, logger="boards")
    hostile, _version = await synced(alice.participant)
    bystander, current = await synced(bob.participant)
    before = await rows()

    await send_frame(hostile, **frame)

    assert await until_closed(hostile) == (code, [])
    (record,) = reject_records(caplog, reason)
    assert (record.code, record.atelier, record.origin) == (code, alice.participant.atelier_id, ORIGIN)
    assert await rows() == before
    await others_still_served(bystander, bob, current, closed=hostile)


async def test_a_frame_at_the_size_limit_is_only_ignored(synced, room, alice):
    communicator, current = await synced(alice.participant)
    await send_frame(communicator, "x" * LIMIT)
    assert await frames(communicator) == []
    await communicator.send_json_to({"type": "resync", "version": -1})
    assert live_version(await next_frame(communicator)) == (current, "snapshot")


# --- Floods -------------------------------------------------------------------------------------

FLOODS = [
    pytest.param('{"type": "ping", "version": 0}', id="pings"),
    pytest.param('{"type": "resync", "version": -1}', id="resyncs"),
    pytest.param("{not json", id="garbage"),
    pytest.param('{"type": "delete"}', id="unknown-type"),
]


@pytest.mark.parametrize("text", FLOODS)
async def test_a_flood_from_one_socket_is_closed_with_4429_and_others_are_still_served(
    synced, room, alice, bob, caplog, text
):
    caplog.set_level(logging.INFO, logger="boards")
    flooder, _version = await synced(alice.participant)
    bystander, current = await synced(bob.participant)
    before = await rows()

    started = time.monotonic()
    for _ in range(5000):
        await send_frame(flooder, text)
    code, answered = await until_closed(flooder, timeout=10)

    assert code == Close.FLOOD
    elapsed = time.monotonic() - started
    # The burst, plus what the rate refilled meanwhile: never the thousands.
    assert len(answered) <= BURST + PER_SECOND * elapsed + 1
    assert len(reject_records(caplog, "flood")) == 1, "one log line per socket, not one per message"
    (record,) = reject_records(caplog, "flood")
    assert (record.code, record.atelier, record.origin) == (4429, alice.participant.atelier_id, ORIGIN)
    assert await rows() == before
    await others_still_served(bystander, bob, current, closed=flooder)


async def test_the_same_person_can_reconnect_after_a_flood(synced, room, alice):
    flooder, current = await synced(alice.participant)
    for _ in range(BURST + 10):
        await flooder.send_to(text_data="{not json")
    assert (await until_closed(flooder))[0] == Close.FLOOD
    await flooder.disconnect(timeout=TIMEOUT)

    _again, version = await synced(alice.participant)
    assert version == current


async def test_a_burst_like_a_busy_page_is_served(synced, room, alice):
    """Someone flicking through categories: a resync per tap, then pings."""
    communicator, current = await synced(alice.participant)
    burst = int(BURST) - 5
    for n in range(burst):
        category = "recrutement" if n % 2 else ""
        await communicator.send_json_to({"type": "resync", "version": -1, "category": category})
    replies = [await next_frame(communicator) for _ in range(burst)]
    assert all(live_version(reply) == (current, "snapshot") for reply in replies)
    await communicator.send_json_to({"type": "ping", "version": current})
    assert PING_REPLY.match(await next_frame(communicator))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_a_burst_then_the_rate():
    clock = FakeClock()
    bucket = ratelimit.MessageBucket(burst=30, per_second=2, clock=clock)
    assert all(bucket.take() for _ in range(30))
    assert not bucket.take()
    clock.now += 0.5
    assert bucket.take()
    assert not bucket.take()
    clock.now += 3600  # refills up to the burst, not beyond
    assert sum(bucket.take() for _ in range(100)) == 30


def test_a_real_evening_never_meets_the_socket_limit():
    """Four hours: a ping every 25 s, and every five minutes someone taps
    through all the categories (ten resyncs within two seconds)."""
    clock = FakeClock()
    bucket = ratelimit.MessageBucket(clock=clock)
    start = clock.now
    next_burst = start
    while clock.now < start + 4 * 3600:
        assert bucket.take(), f"ping refused after {clock.now - start:.0f} s"
        if clock.now >= next_burst:
            for _ in range(10):
                clock.now += 0.2
                assert bucket.take(), f"resync refused after {clock.now - start:.0f} s"
            next_burst += 300
        clock.now += 25


def test_the_socket_limit_follows_the_settings(settings):
    settings.RATE_LIMITS = {"socket_messages": (3, 0.5)}
    bucket = ratelimit.MessageBucket(clock=FakeClock())
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


# --- A real daphne process ----------------------------------------------------------------------

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier
visitors = servers.visitors


def _until_closed(live: servers.LiveSocket, timeout: float = servers.LIVE_TIMEOUT) -> tuple[int | None, int]:
    """Read a raw socket until the server closes it: (close code, number of
    data frames read before, presence counts left out)."""
    count = 0
    deadline = time.monotonic() + timeout
    while True:
        try:
            text = live.connection.recv(timeout=max(deadline - time.monotonic(), 0.01))
            count += not PRESENCE.match(str(text).strip())
        except TimeoutError:
            raise AssertionError(f"not closed within {timeout} s\n{live.server.log_tail(3000)}") from None
        except ConnectionClosed as closed:
            return (closed.rcvd.code if closed.rcvd else None), count


def _served_promptly(watcher: servers.LiveSocket, poster: servers.Visitor) -> float:
    """Post from another phone; return how long the watcher waited for the push."""
    started = time.monotonic()
    poster.post_impossible(f"Impossible de garder nos apprentis {time.monotonic_ns()}")
    watcher.wait_for(lambda frame: frame.kind == "event", "the new impossible")
    return time.monotonic() - started


@pytest.fixture
def live_room(daphne_server, live_atelier, visitors):
    """A hostile phone and a bystander, both joined and live, on one daphne."""
    hostile = visitors(daphne_server, live_atelier.code, "Mallory")
    bystander = visitors(daphne_server, live_atelier.code, "Bruno", "elu")
    watcher = bystander.socket()
    assert watcher.next_versioned().kind == "snapshot"
    socket = hostile.socket()
    assert socket.next_versioned().kind == "snapshot"
    return hostile, bystander, watcher, socket


def _assert_still_up(server: servers.DaphneServer) -> None:
    server.check_alive("after the attack")
    response = httpx.get(server.url + "/", timeout=servers.HTTP_TIMEOUT, trust_env=False)
    assert response.status_code == 200


def _wait_for_log(server: servers.DaphneServer, text: str) -> None:
    deadline = time.monotonic() + 5
    while text not in server.log_tail(50000):
        assert time.monotonic() < deadline, f"no {text!r} in the server log\n{server.log_tail(3000)}"
        time.sleep(0.05)


@pytest.mark.servers
@pytest.mark.parametrize(
    ("frame", "code", "logged"),
    [
        pytest.param(
            b"\x00\x01\x02 binary \xff", Close.UNSUPPORTED_DATA, "websocket closed: binary frame", id="binary"
        ),
        pytest.param("x" * (512 * 1024), Close.TOO_BIG, "websocket closed: message too big", id="512KiB"),
    ],
)
def test_daphne_closes_a_frame_no_page_sends_and_keeps_serving(daphne_server, live_room, frame, code, logged):
    _hostile, bystander, watcher, socket = live_room
    socket.connection.send(frame)
    assert _until_closed(socket) == (code, 0)
    assert _served_promptly(watcher, bystander) < 3
    _assert_still_up(daphne_server)
    _wait_for_log(daphne_server, logged)


@pytest.mark.servers
def test_daphne_drops_a_2_mib_frame_itself_and_keeps_serving(daphne_server, live_room):
    _hostile, bystander, watcher, socket = live_room
    # The server may reset the connection while the client is still writing
    # the frame: the same drop, seen from the sending side (an OSError, or
    # the ConnectionClosedError websockets raises when sendall hits it).
    with contextlib.suppress(OSError, ConnectionClosed):
        socket.connection.send("x" * (2 * 1024 * 1024))
    # Past its 1 MiB limit daphne drops the TCP connection: no close frame.
    assert _until_closed(socket) == (None, 0)
    assert _served_promptly(watcher, bystander) < 3
    _assert_still_up(daphne_server)


@pytest.mark.servers
def test_daphne_survives_a_flood_of_5000_messages_and_keeps_serving(daphne_server, live_room):
    _hostile, bystander, watcher, socket = live_room
    sent = []
    ping = json.dumps({"type": "ping", "version": 0})

    def flood() -> None:
        for _ in range(5000):
            try:
                socket.connection.send(ping)
            except ConnectionClosed:
                break
            sent.append(1)

    flooder = threading.Thread(target=flood)
    flooder.start()
    # Served while the flood runs, not only after.
    waited = _served_promptly(watcher, bystander)
    flooder.join(timeout=30)
    assert not flooder.is_alive()
    code, answered = _until_closed(socket)

    assert code == Close.FLOOD
    assert answered < 5000 and answered <= BURST + 60, f"{answered} of {len(sent)} messages answered"
    assert waited < 3
    assert _served_promptly(watcher, bystander) < 3
    _assert_still_up(daphne_server)
    _wait_for_log(daphne_server, "websocket closed: too many messages")
