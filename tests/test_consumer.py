"""The board's WebSocket, driven through the whole ASGI stack.

Every socket goes through `cerveau.asgi.application`: the Origin check, the
session cookie (AuthMiddlewareStack) and the URL router, exactly as daphne
would run them. Consumers reach the database from other threads, so these
tests need real commits (`transaction=True`).
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from importlib import import_module

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connections
from django.utils import timezone

from boards.access import session_key
from boards.live import protocol, publish, relay
from boards.live.presence import online_count
from boards.live.protocol import Close
from boards.models import Atelier, HelpKind, HelpOffer, Impossible, MeToo, Participant, Presence, Role
from boards.services import participation
from tests.conftest import SITE_HOST, SITE_ORIGIN, browser_socket, close_communicators, post_impossible

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = SITE_ORIGIN
TIMEOUT = 3
LIVE_VERSION = re.compile(r'<div id="live-version" data-version="(\d+)" data-kind="(\w+)"')
PRESENCE = re.compile(r'^<span class="num" id="stat-online" hx-swap-oob="true">(\d+)</span>$')


# --- Helpers ------------------------------------------------------------------


def _session_cookie(*participants: Participant) -> str:
    """A saved session that remembers each participant in their atelier,
    as the join view does."""
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    for participant in participants:
        store[session_key(participant.atelier_id)] = participant.pk
    store.save()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


def _version(atelier: Atelier) -> int:
    return Atelier.objects.values_list("version", flat=True).get(pk=atelier.pk)


def _row_counts() -> dict[str, int]:
    counts = {
        model.__name__: model.objects.count()
        for model in (Atelier, Participant, Impossible, MeToo, HelpOffer, Presence, Session)
    }
    counts["versions"] = sum(Atelier.objects.values_list("version", flat=True))
    return counts


def _presence_rows(participant: Participant) -> list[str]:
    return list(Presence.objects.filter(participant=participant).values_list("channel_name", flat=True))


version = database_sync_to_async(_version)
row_counts = database_sync_to_async(_row_counts)
presence_rows = database_sync_to_async(_presence_rows)
online = database_sync_to_async(online_count)


def live_version(html: str) -> tuple[int, str]:
    """(data-version, data-kind) of a board message."""
    found = LIVE_VERSION.search(html)
    assert found, f"no live-version marker in {html[:200]!r}"
    return int(found.group(1)), found.group(2)


def ids(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


def presence_count(message: str) -> int | None:
    found = PRESENCE.match(message.strip())
    return int(found.group(1)) if found else None


async def next_board_message(communicator: WebsocketCommunicator, timeout: float = TIMEOUT) -> str:
    """The next frame that is not a (timer-driven) presence update."""
    deadline = time.monotonic() + timeout
    while True:
        message = await communicator.receive_from(timeout=max(deadline - time.monotonic(), 0.01))
        if presence_count(message) is None:
            return message


async def drain(communicator: WebsocketCommunicator, seconds: float = 0.4) -> list[str]:
    """Every frame received within `seconds`. Unlike receive_from, waiting
    for nothing does not cancel the application; a crashed consumer or a
    close frame fails here."""
    frames = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not await communicator.receive_nothing(timeout=0.05, interval=0.01):
            frames.append(await communicator.receive_from())
    return frames


async def board_frames(communicator: WebsocketCommunicator, seconds: float = 0.4) -> list[str]:
    return [frame for frame in await drain(communicator, seconds) if presence_count(frame) is None]


# --- Fixtures -----------------------------------------------------------------


@pytest.fixture(autouse=True)
async def _isolated():
    """Fresh snapshot cache; afterwards no presence timer outlives the test's
    event loop and the consumers' database thread lets go of its connection."""
    await sync_to_async(cache.clear)()
    yield
    pending = list(relay._presence_pending.values())
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    relay._presence_pending.clear()
    await sync_to_async(connections.close_all)()


@pytest.fixture
def stranger(other_atelier) -> Participant:
    """A participant of another atelier."""
    return participation.join_atelier(other_atelier, name="Sam", organisation="", role=Role.OTHER)


@pytest.fixture
async def sockets(_isolated):
    """Opens sockets on the full ASGI stack; every one is closed at teardown."""
    opened: list[WebsocketCommunicator] = []

    async def open_socket(
        path: str = "/ws/a/TST234/",
        *,
        participant: Participant | None = None,
        cookie: str | None = None,
        origin: str | None = ORIGIN,
        host: str = SITE_HOST,
        secure: bool = False,
    ) -> WebsocketCommunicator:
        if participant is not None:
            cookie = await database_sync_to_async(_session_cookie)(participant)
        communicator = browser_socket(path, origin=origin, host=host, cookie=cookie, secure=secure)
        opened.append(communicator)
        accepted, _subprotocol = await communicator.connect(timeout=TIMEOUT)
        assert accepted, "the handshake is accepted; refusals are close frames with a 4xxx code"
        return communicator

    yield open_socket

    await close_communicators(opened, TIMEOUT)


@pytest.fixture
def synced(sockets):
    """Opens a member's socket and waits for its snapshot: the last step of
    connect(), so the socket is in its group and counted as present before
    the test changes anything. Returns the socket and the snapshot version."""

    async def open_synced(participant: Participant, lang: str = "fr") -> tuple[WebsocketCommunicator, int]:
        communicator = await sockets(f"/ws/a/TST234/?lang={lang}", participant=participant)
        snapshot_version, kind = live_version(await next_board_message(communicator))
        assert kind == "snapshot"
        return communicator, snapshot_version

    return open_synced


async def expect_closed(communicator: WebsocketCommunicator, code: int) -> None:
    message = await communicator.receive_output(timeout=TIMEOUT)
    assert message == {"type": "websocket.close", "code": code}


# --- Origin check -------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("https://evil.example", id="foreign"),
        pytest.param(None, id="missing"),
        pytest.param("http://127.0.0.1.evil.example", id="look-alike-suffix"),
        pytest.param("http://evil127.0.0.1", id="look-alike-prefix"),
        pytest.param("null", id="opaque"),
        pytest.param("http://[::1", id="malformed"),
    ],
)
async def test_it_refuses_a_socket_from_a_foreign_origin_with_4003(sockets, alice, origin):
    # Even a genuine member is refused: the origin is checked first.
    communicator = await sockets(participant=alice.participant, origin=origin)
    await expect_closed(communicator, Close.FORBIDDEN_ORIGIN)
    assert await presence_rows(alice.participant) == []


@pytest.mark.parametrize(
    ("origin", "host", "secure"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", False),
        ("http://localhost:8000", "localhost:8000", False),
        ("https://127.0.0.1", "127.0.0.1", True),
        ("https://127.0.0.1:443", "127.0.0.1", True),
    ],
)
async def test_it_accepts_a_member_from_the_site_s_own_origin(sockets, alice, origin, host, secure):
    communicator = await sockets(participant=alice.participant, origin=origin, host=host, secure=secure)
    assert live_version(await next_board_message(communicator)) == (0, "snapshot")
    assert len(await presence_rows(alice.participant)) == 1


@pytest.mark.parametrize(
    ("origin", "host", "secure"),
    [
        pytest.param("http://127.0.0.1:9999", "127.0.0.1:8000", False, id="another-port"),
        pytest.param("https://127.0.0.1:8000", "127.0.0.1:8000", False, id="https-page-on-an-http-site"),
        pytest.param("http://127.0.0.1", "127.0.0.1", True, id="http-page-on-an-https-site"),
        pytest.param("http://localhost:8000", "127.0.0.1:8000", False, id="another-allowed-host"),
        pytest.param("http://evil.example", "evil.example", False, id="host-not-allowed"),
    ],
)
async def test_the_origin_must_be_the_site_s_own_scheme_host_and_port(sockets, alice, origin, host, secure):
    communicator = await sockets(participant=alice.participant, origin=origin, host=host, secure=secure)
    await expect_closed(communicator, Close.FORBIDDEN_ORIGIN)


@pytest.mark.parametrize(
    ("trusted", "origin", "accepted"),
    [
        ("https://atelier.example.org", "https://atelier.example.org", True),
        ("https://atelier.example.org", "https://atelier.example.org:443", True),
        ("https://atelier.example.org", "http://atelier.example.org", False),
        ("https://atelier.example.org", "https://atelier.example.org:8443", False),
        ("https://*.example.org", "https://salle.example.org", True),
        ("https://*.example.org", "https://example.org.evil.example", False),
        ("https://*.example.org", "http://salle.example.org", False),
    ],
)
async def test_csrf_trusted_origins_are_trusted_with_their_scheme_and_port(
    sockets, alice, settings, trusted, origin, accepted
):
    settings.CSRF_TRUSTED_ORIGINS = [trusted]
    communicator = await sockets(participant=alice.participant, origin=origin)
    if accepted:
        assert live_version(await next_board_message(communicator)) == (0, "snapshot")
    else:
        await expect_closed(communicator, Close.FORBIDDEN_ORIGIN)


# --- Membership ---------------------------------------------------------------


async def test_it_refuses_a_visitor_without_a_session_with_4403(sockets, atelier):
    communicator = await sockets()
    await expect_closed(communicator, Close.NOT_A_MEMBER)
    assert await communicator.receive_nothing(timeout=0.2)


async def test_it_refuses_a_visitor_with_an_unknown_session_cookie_with_4403(sockets, atelier):
    communicator = await sockets(cookie=f"{settings.SESSION_COOKIE_NAME}=doesnotexist0123456789abcdefghij")
    await expect_closed(communicator, Close.NOT_A_MEMBER)


async def test_it_refuses_a_member_of_another_atelier_with_4403(sockets, atelier, stranger):
    communicator = await sockets(participant=stranger)
    await expect_closed(communicator, Close.NOT_A_MEMBER)
    assert await database_sync_to_async(Presence.objects.count)() == 0


async def test_it_refuses_a_session_naming_a_participant_of_another_atelier_with_4403(sockets, atelier, stranger):
    # The session key of this atelier, but the id of somebody who joined elsewhere.
    def forged_cookie() -> str:
        store = import_module(settings.SESSION_ENGINE).SessionStore()
        store[session_key(atelier.pk)] = stranger.pk
        store.save()
        return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"

    communicator = await sockets(cookie=await database_sync_to_async(forged_cookie)())
    await expect_closed(communicator, Close.NOT_A_MEMBER)


async def test_it_refuses_an_unknown_atelier_code_with_4403(sockets, alice):
    communicator = await sockets("/ws/a/NOPE99/", participant=alice.participant)
    await expect_closed(communicator, Close.NOT_A_MEMBER)


async def test_it_accepts_the_code_as_people_type_it(sockets, alice):
    communicator = await sockets("/ws/a/tst-234/", participant=alice.participant)
    assert live_version(await next_board_message(communicator)) == (0, "snapshot")


async def test_a_facilitator_whose_password_changed_since_is_refused_with_4403(sockets, facilitator):
    """The session's user is checked as Django checks it: a password changed
    elsewhere logs this browser out of its sockets too."""
    cookie = f"{settings.SESSION_COOKIE_NAME}={facilitator.cookies[settings.SESSION_COOKIE_NAME].value}"

    def change_password() -> None:
        user = Session.objects.get().get_decoded()
        account = Atelier.objects.get(code="TST234").facilitators.get(pk=user["_auth_user_id"])
        account.set_password("Un-autre-mot-2031!")
        account.save()

    await database_sync_to_async(change_password)()

    communicator = await sockets(cookie=cookie)
    await expect_closed(communicator, Close.NOT_A_MEMBER)


def _count_hand_offs(monkeypatch) -> list[str]:
    """The names of the functions the consumers hand to the database thread."""
    from channels.db import DatabaseSyncToAsync

    hand_offs: list[str] = []
    thread_handler = DatabaseSyncToAsync.thread_handler

    def counted(self, loop, *args, **kwargs):
        hand_offs.append(getattr(self.func, "__name__", repr(self.func)))
        return thread_handler(self, loop, *args, **kwargs)

    monkeypatch.setattr(DatabaseSyncToAsync, "thread_handler", counted)
    return hand_offs


async def test_a_socket_is_answered_after_two_database_hand_offs(sockets, alice, monkeypatch):
    """Who the socket speaks for (session, user, atelier, participant,
    presence) in one hand-off, the snapshot in the next: every hand-off is a
    turn of the database thread, which a room joining at once queues for."""
    cookie = await database_sync_to_async(_session_cookie)(alice.participant)
    hand_offs = _count_hand_offs(monkeypatch)

    communicator = await sockets(cookie=cookie)

    assert live_version(await next_board_message(communicator)) == (0, "snapshot")
    assert hand_offs == ["arrive", "resync"]


async def test_a_current_page_joining_a_listening_room_is_answered_after_one_hand_off(
    synced, sockets, alice, bob, monkeypatch
):
    """The room's relay listened before the socket read the version, and
    passed on nothing newer: nothing to send, and no second look at the
    database for it (relay.quiet_since)."""
    listening, _ = await synced(bob.participant)  # the room's relay listens
    await database_sync_to_async(post_impossible)(bob.participant)
    current = await version(alice.participant.atelier)
    assert live_version(await next_board_message(listening)) == (current, "event")  # passed on
    cookie = await database_sync_to_async(_session_cookie)(alice.participant)
    hand_offs = _count_hand_offs(monkeypatch)

    communicator = await sockets(f"/ws/a/TST234/?v={current}", cookie=cookie)

    assert await board_frames(communicator, 0.5) == []
    assert [name for name in hand_offs if name != "online_count"] == ["arrive"]
    # Pushes reach it from then on.
    posted = await database_sync_to_async(post_impossible)(bob.participant, "Impossible de trouver un local")
    push = await next_board_message(communicator)
    assert live_version(push) == (current + 1, "event") and f"imp-{posted.pk}" in ids(push)


async def _opens_with_the_board_of(sockets, participant, version, landed: list[Impossible]) -> None:
    """A socket whose page is one version behind opens with the board as of
    `version`, with the impossible that `landed` holds by then."""
    communicator = await sockets(f"/ws/a/TST234/?v={version - 1}", participant=participant)
    snapshot = await next_board_message(communicator)
    assert live_version(snapshot) == (version, "snapshot")
    assert f"imp-{landed[0].pk}" in ids(snapshot)


async def test_a_push_passed_on_before_the_socket_listened_brings_the_board(sockets, alice, bob, monkeypatch):
    """A write commits after the socket read the version, and the relay
    passes its push on before the socket is accepted (which it skips): the
    socket then sends the board as of that write."""
    await sockets(participant=bob.participant)  # the room's relay listens
    current = await version(alice.participant.atelier)
    join = relay.join
    landed: list[Impossible] = []

    async def join_while_a_write_lands(group, socket, layer):
        await join(group, socket, layer)
        if group == protocol.CLOSE_GROUP:
            return
        landed.append(await database_sync_to_async(post_impossible)(bob.participant, "Impossible d'ouvrir le dimanche"))
        room = relay._relays[(asyncio.get_running_loop(), group)]
        deadline = time.monotonic() + TIMEOUT
        while room.latest <= current:  # the relay passed the push on, to the others
            assert time.monotonic() < deadline, "the push never reached the relay"
            await asyncio.sleep(0.01)

    monkeypatch.setattr(relay, "join", join_while_a_write_lands)

    await _opens_with_the_board_of(sockets, alice.participant, current + 1, landed)


async def test_a_write_before_the_room_s_relay_listened_brings_the_board(sockets, alice, bob, monkeypatch):
    """The first socket of a room in this process: a write that commits
    after it read the version, before its relay subscribed, is pushed to
    nobody here; the socket sends the board as of that write."""
    current = await version(alice.participant.atelier)
    join = relay.join
    landed: list[Impossible] = []

    async def a_write_lands_then_join(group, socket, layer):
        if group != protocol.CLOSE_GROUP:
            landed.append(await database_sync_to_async(post_impossible)(bob.participant, "Impossible de louer"))
        await join(group, socket, layer)

    monkeypatch.setattr(relay, "join", a_write_lands_then_join)

    await _opens_with_the_board_of(sockets, alice.participant, current + 1, landed)


async def test_a_page_gone_before_its_snapshot_costs_nothing_else(sockets, alice, monkeypatch, caplog):
    """daphne refuses to send on a connection that closed meanwhile (a phone
    leaving mid-handshake): the send is lost, logged as such, and nothing
    else ends with it."""
    from autobahn.exception import Disconnected
    from channels.generic.websocket import AsyncWebsocketConsumer

    send = AsyncWebsocketConsumer.send

    async def closed_for_snapshots(self, text_data=None, bytes_data=None, close=False):
        if text_data and 'data-kind="snapshot"' in text_data:
            raise Disconnected("Attempt to send on a closed protocol")
        await send(self, text_data=text_data, bytes_data=bytes_data, close=close)

    monkeypatch.setattr(AsyncWebsocketConsumer, "send", closed_for_snapshots)

    communicator = await sockets(participant=alice.participant)

    await communicator.send_json_to({"type": "ping", "version": 0})
    assert await board_frames(communicator) == ['<div id="live-ping" data-version="0" hidden></div>']
    assert "websocket gone before a send" in caplog.text


# --- Snapshot on connect ------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?v=", "?v=1", "?v=not-a-number", "?lang=fr&v=0"])
async def test_a_member_receives_a_snapshot_on_connect_unless_already_current(sockets, alice, query):
    first = await database_sync_to_async(post_impossible)(alice.participant, "Impossible de trouver un local")
    second = await database_sync_to_async(post_impossible)(alice.participant, "Impossible de former en alternance")
    current = await version(alice.participant.atelier)
    assert current == 2

    communicator = await sockets(f"/ws/a/TST234/{query}", participant=alice.participant)

    snapshot = await next_board_message(communicator)
    assert live_version(snapshot) == (current, "snapshot")
    assert {f"imp-{first.pk}", f"imp-{second.pk}", "impossible-list", "stats"} <= ids(snapshot)
    assert await board_frames(communicator) == []


async def test_a_member_already_at_the_current_version_receives_nothing_on_connect(sockets, alice):
    await database_sync_to_async(post_impossible)(alice.participant)
    current = await version(alice.participant.atelier)

    communicator = await sockets(f"/ws/a/TST234/?v={current}", participant=alice.participant)

    assert await board_frames(communicator, 0.5) == []


# --- Changes pushed live ------------------------------------------------------


async def test_a_posted_impossible_reaches_the_socket_as_the_next_version(synced, alice, bob):
    communicator, before = await synced(bob.participant)

    impossible = await database_sync_to_async(post_impossible)(alice.participant, "Impossible de loger les apprentis")

    event = await next_board_message(communicator)
    assert live_version(event) == (before + 1, "event")
    pk = impossible.pk
    assert {f"imp-{pk}", f"imp-{pk}-metoo", f"imp-{pk}-offers", "stats"} <= ids(event)
    assert 'hx-swap-oob="afterbegin:#impossible-list"' in event
    assert "Impossible de loger les apprentis" in event
    assert await board_frames(communicator) == []


async def test_a_me_too_reaches_the_socket_as_a_counter_update(synced, alice, bob):
    impossible = await database_sync_to_async(post_impossible)(alice.participant)
    communicator, before = await synced(alice.participant)
    pk = impossible.pk

    await database_sync_to_async(participation.set_me_too)(bob.participant, pk, on=True)

    event = await next_board_message(communicator)
    assert live_version(event) == (before + 1, "event")
    assert {f"imp-{pk}-metoo", "stats"} <= ids(event)
    assert f"imp-{pk}" not in ids(event), "a counter update does not resend the card"
    assert re.search(rf'id="imp-{pk}-metoo" data-count="1" hx-swap-oob="true">1<', event)

    await database_sync_to_async(participation.set_me_too)(bob.participant, pk, on=False)

    event = await next_board_message(communicator)
    assert live_version(event) == (before + 2, "event")
    assert re.search(rf'id="imp-{pk}-metoo" data-count="0" hx-swap-oob="true">0<', event)


async def test_a_repeated_me_too_pushes_nothing(synced, alice, bob):
    impossible = await database_sync_to_async(post_impossible)(alice.participant)
    await database_sync_to_async(participation.set_me_too)(bob.participant, impossible.pk, on=True)
    communicator, current = await synced(alice.participant)

    await database_sync_to_async(participation.set_me_too)(bob.participant, impossible.pk, on=True)

    assert await board_frames(communicator) == []
    assert await version(alice.participant.atelier) == current


async def test_an_offer_of_help_reaches_the_socket_as_an_offers_update(synced, alice, charlie):
    impossible = await database_sync_to_async(post_impossible)(alice.participant)
    communicator, before = await synced(alice.participant)
    pk = impossible.pk

    await database_sync_to_async(participation.offer_help)(
        charlie.participant,
        pk,
        kind=HelpKind.INTRODUCTION,
        message="Je connais un CFA à Cognac",
        contact="charlie@example.org",
        submission_key="offer-1",
    )

    event = await next_board_message(communicator)
    assert live_version(event) == (before + 1, "event")
    assert {f"imp-{pk}-offers", "stats"} <= ids(event)
    assert f"imp-{pk}" not in ids(event)
    assert f'id="imp-{pk}-offers" data-count="1" hx-swap-oob="true"' in event
    assert "Je connais un CFA à Cognac" in event
    assert "charlie@example.org" not in event, "the contact is private to the author"


async def test_consecutive_changes_arrive_with_consecutive_versions(synced, alice, bob):
    communicator, before = await synced(alice.participant)

    impossible = await database_sync_to_async(post_impossible)(alice.participant)
    await database_sync_to_async(participation.set_me_too)(bob.participant, impossible.pk, on=True)
    await database_sync_to_async(participation.offer_help)(
        bob.participant, impossible.pk, kind=HelpKind.EXPERTISE, message="J'ai fait pareil", submission_key="k"
    )

    versions = [live_version(await next_board_message(communicator)) for _ in range(3)]
    assert versions == [(before + 1, "event"), (before + 2, "event"), (before + 3, "event")]


async def test_a_change_in_another_atelier_does_not_reach_the_socket(synced, alice, stranger):
    communicator, _version = await synced(alice.participant)

    await database_sync_to_async(post_impossible)(stranger, "Impossible ailleurs")

    assert await board_frames(communicator) == []


# --- Language -----------------------------------------------------------------


async def test_the_lang_parameter_chooses_the_language_of_pushes(synced, alice, bob):
    english, before = await synced(alice.participant, lang="en")
    french, _before = await synced(bob.participant, lang="fr")

    await database_sync_to_async(post_impossible)(alice.participant, "Impossible de recruter à Jarnac")

    in_english = await next_board_message(english)
    in_french = await next_board_message(french)
    assert live_version(in_english) == live_version(in_french) == (before + 1, "event")
    assert "Me too" in in_english
    assert "Offer my help" in in_english
    assert "Recruitment &amp; skills" in in_english
    assert "Moi aussi" not in in_english
    assert "Moi aussi" in in_french
    assert "Proposer mon aide" in in_french
    assert "Recrutement &amp; compétences" in in_french
    assert "Me too" not in in_french
    # One render per language: neither socket also gets the other language's copy.
    assert await board_frames(english) == []
    assert await board_frames(french) == []


async def test_the_snapshot_is_in_the_socket_language(sockets, alice):
    await database_sync_to_async(post_impossible)(alice.participant)

    english = await sockets("/ws/a/TST234/?lang=en", participant=alice.participant)
    french = await sockets("/ws/a/TST234/?lang=fr", participant=alice.participant)

    in_english = await next_board_message(english)
    in_french = await next_board_message(french)
    assert live_version(in_english) == live_version(in_french) == (1, "snapshot")
    assert "Me too" in in_english
    assert "Moi aussi" not in in_english
    assert "Moi aussi" in in_french
    assert "Me too" not in in_french


@pytest.mark.parametrize("query", ["", "?lang=de", "?lang=EN-us", "?lang="])
async def test_an_unsupported_or_missing_lang_falls_back_to_french(sockets, alice, query):
    communicator = await sockets(f"/ws/a/TST234/{query}", participant=alice.participant)
    assert live_version(await next_board_message(communicator)) == (0, "snapshot")

    await database_sync_to_async(post_impossible)(alice.participant)

    event = await next_board_message(communicator)
    assert live_version(event) == (1, "event")
    assert "Moi aussi" in event
    assert "Me too" not in event


# --- Client messages ----------------------------------------------------------


async def test_a_resync_with_an_old_version_returns_a_snapshot(synced, alice):
    await database_sync_to_async(post_impossible)(alice.participant)
    await database_sync_to_async(post_impossible)(alice.participant)
    communicator, current = await synced(alice.participant)
    assert current == 2

    await communicator.send_json_to({"type": "resync", "version": 1})

    assert live_version(await next_board_message(communicator)) == (current, "snapshot")
    assert await board_frames(communicator) == []


async def test_a_ping_is_answered_with_the_current_version_and_no_snapshot(synced, alice):
    await database_sync_to_async(post_impossible)(alice.participant)
    communicator, current = await synced(alice.participant)

    await communicator.send_json_to({"type": "ping", "version": current})
    assert await board_frames(communicator) == [f'<div id="live-ping" data-version="{current}" hidden></div>']

    # A client that fell behind learns it is behind; it asks for the snapshot
    # itself (resync) if the pushes in flight do not catch it up.
    await communicator.send_json_to({"type": "ping", "version": current - 1})
    assert await board_frames(communicator) == [f'<div id="live-ping" data-version="{current}" hidden></div>']


MALFORMED = [
    pytest.param({"text": "{not json"}, id="invalid-json"),
    pytest.param({"text": '[{"type": "resync", "version": 0}]'}, id="json-list"),
    pytest.param({"text": '"resync"'}, id="json-string"),
    pytest.param({"text": '{"version": 0}'}, id="missing-type"),
    pytest.param({"text": '{"type": 5, "version": 0}'}, id="type-not-a-string"),
    pytest.param({"text": '{"type": "delete", "version": 0}'}, id="unknown-type"),
    pytest.param({"text": ""}, id="empty-text"),
    # A valid resync padded past MAX_CLIENT_MESSAGE: ignored for its size alone.
    # (Binary frames and frames over 1 MiB close the socket: tests/test_ws_fuzz.py.)
    pytest.param({"text": '{"type": "resync", "version": 0, "pad": "' + "x" * 2000 + '"}'}, id="oversized"),
    # Short enough to pass the size check, deep enough to overflow the parser.
    pytest.param({"text": "[" * 1000}, id="deeply-nested"),
]


@pytest.mark.parametrize("frame", MALFORMED)
async def test_a_malformed_message_is_ignored_and_the_socket_keeps_working(synced, alice, frame):
    await database_sync_to_async(post_impossible)(alice.participant)
    communicator, current = await synced(alice.participant)
    rows = await row_counts()

    await communicator.send_input({"type": "websocket.receive", **frame})

    assert await board_frames(communicator) == []
    assert await row_counts() == rows
    await communicator.send_json_to({"type": "resync", "version": current - 1})
    assert live_version(await next_board_message(communicator)) == (current, "snapshot")


async def test_a_flood_of_malformed_messages_does_not_close_the_socket(synced, alice):
    communicator, current = await synced(alice.participant)
    rows = await row_counts()

    for param in MALFORMED * 3:
        await communicator.send_input({"type": "websocket.receive", **param.values[0]})

    assert await board_frames(communicator) == []
    assert await row_counts() == rows
    await communicator.send_json_to({"type": "resync", "version": -1})
    assert live_version(await next_board_message(communicator)) == (current, "snapshot")


# --- Presence -----------------------------------------------------------------


async def test_connecting_creates_a_presence_row_and_disconnecting_deletes_it(synced, alice):
    atelier_id = alice.participant.atelier_id
    assert await online(atelier_id) == 0

    communicator, _version = await synced(alice.participant)

    assert len(await presence_rows(alice.participant)) == 1
    assert await online(atelier_id) == 1

    await communicator.disconnect(timeout=TIMEOUT)

    assert await presence_rows(alice.participant) == []
    assert await online(atelier_id) == 0


async def test_online_count_counts_each_participant_once(synced, alice, bob):
    atelier_id = alice.participant.atelier_id
    phone, _version = await synced(alice.participant)
    await synced(alice.participant, lang="en")
    await synced(bob.participant)

    assert len(await presence_rows(alice.participant)) == 2
    assert await online(atelier_id) == 2

    # Closing one of alice's two tabs: she is still online.
    await phone.disconnect(timeout=TIMEOUT)
    assert len(await presence_rows(alice.participant)) == 1
    assert await online(atelier_id) == 2


async def test_a_refused_socket_leaves_no_presence(sockets, atelier, stranger):
    communicator = await sockets(participant=stranger)
    await expect_closed(communicator, Close.NOT_A_MEMBER)
    await communicator.disconnect(timeout=TIMEOUT)
    assert await database_sync_to_async(Presence.objects.count)() == 0


async def test_a_presence_update_is_broadcast_shortly_after_connect_and_disconnect(synced, alice, bob):
    alice_socket, _version = await synced(alice.participant)
    bob_socket, _version = await synced(bob.participant, lang="en")

    # Both arrivals are coalesced into one update, sent to every language group.
    assert (await alice_socket.receive_from(timeout=TIMEOUT)).strip() == (
        '<span class="num" id="stat-online" hx-swap-oob="true">2</span>'
    )
    assert presence_count(await bob_socket.receive_from(timeout=TIMEOUT)) == 2
    assert await drain(alice_socket, relay.PRESENCE_DELAY_SECONDS + 0.3) == []

    await bob_socket.disconnect(timeout=TIMEOUT)

    assert presence_count(await alice_socket.receive_from(timeout=TIMEOUT)) == 1


async def test_a_ping_keeps_a_quiet_socket_counted(synced, alice):
    atelier_id = alice.participant.atelier_id
    communicator, current = await synced(alice.participant)
    (channel_name,) = await presence_rows(alice.participant)

    def age(seconds: int) -> None:
        Presence.objects.filter(channel_name=channel_name).update(seen_at=timezone.now() - timedelta(seconds=seconds))

    # A socket silent for longer than the staleness window no longer counts...
    await database_sync_to_async(age)(600)
    assert await online(atelier_id) == 0

    # ...until it pings again.
    await communicator.send_json_to({"type": "ping", "version": current})
    assert await board_frames(communicator, 0.2) == [f'<div id="live-ping" data-version="{current}" hidden></div>']
    assert await online(atelier_id) == 1


# --- One relay per process and group ----------------------------------------------


async def test_sockets_of_one_group_share_one_relay_and_each_get_a_push_once(synced, alice, bob, charlie):
    first, before = await synced(alice.participant)
    second, _ = await synced(bob.participant)
    third, _ = await synced(charlie.participant, lang="en")
    groups = sorted(group for _loop, group in relay._relays)
    atelier_id = alice.participant.atelier_id
    # One per atelier and language, and one for close orders: none per socket.
    assert groups == sorted(
        [protocol.atelier_group(atelier_id, "en"), protocol.atelier_group(atelier_id, "fr"), protocol.CLOSE_GROUP]
    )

    await database_sync_to_async(post_impossible)(alice.participant, "Impossible de trouver un local")

    for communicator in (first, second, third):
        assert live_version(await next_board_message(communicator)) == (before + 1, "event")
        assert await board_frames(communicator) == []


async def test_the_relay_goes_when_its_last_socket_leaves(synced, alice, bob):
    first, _ = await synced(alice.participant)
    second, _ = await synced(bob.participant)

    await first.disconnect(timeout=TIMEOUT)
    assert len(relay._relays) == 2  # the atelier's, and close orders'
    await second.disconnect(timeout=TIMEOUT)
    assert relay._relays == {}

    # A socket arriving later gets a fresh relay and the next push.
    third, before = await synced(alice.participant)
    await database_sync_to_async(post_impossible)(bob.participant, "Impossible de garder nos apprentis")
    assert live_version(await next_board_message(third)) == (before + 1, "event")


async def test_a_socket_takes_no_subscription_of_its_own_on_the_channel_layer(synced, alice, bob, charlie, monkeypatch):
    await synced(alice.participant)  # the relays of this atelier start here
    layer = get_channel_layer()
    calls = []
    for name in ("new_channel", "group_add", "group_discard"):
        method = getattr(layer, name)

        async def counted(*args, _name=name, _method=method, **kwargs):
            calls.append(_name)
            return await _method(*args, **kwargs)

        monkeypatch.setattr(layer, name, counted)

    # Sockets arriving in an atelier that already has one here, and leaving.
    second, _ = await synced(bob.participant)
    third, _ = await synced(charlie.participant)
    await second.disconnect(timeout=TIMEOUT)
    await third.disconnect(timeout=TIMEOUT)

    assert calls == []


async def test_a_close_order_closes_the_sockets_it_names_and_no_other(synced, alice, bob):
    phone, _ = await synced(alice.participant)
    tablet, _ = await synced(alice.participant)
    bystander, before = await synced(bob.participant)

    await database_sync_to_async(publish.close_participant)(alice.participant.atelier_id, alice.participant.pk)

    await expect_closed(phone, Close.SIGNED_OUT)
    await expect_closed(tablet, Close.SIGNED_OUT)
    await database_sync_to_async(post_impossible)(bob.participant, "Impossible de garder nos apprentis")
    assert live_version(await next_board_message(bystander)) == (before + 1, "event")


async def _expect_put_off(communicator: WebsocketCommunicator) -> None:
    """Accepted, told that live updates are interrupted, closed with TRY_AGAIN soon after."""
    assert await communicator.receive_from(timeout=TIMEOUT) == protocol.LAYER_DOWN
    await expect_closed(communicator, Close.TRY_AGAIN)


async def test_a_socket_arriving_while_the_layer_is_away_is_put_off(sockets, alice, monkeypatch):
    monkeypatch.setattr(relay, "layer_up", lambda layer: False)
    monkeypatch.setattr(relay, "PUT_OFF_SECONDS", (0.05, 0.1))

    await _expect_put_off(await sockets(participant=alice.participant))
    assert await presence_rows(alice.participant) == []


async def test_a_socket_whose_relay_cannot_reach_the_layer_is_put_off_and_not_counted(sockets, alice, monkeypatch):
    async def unreachable(self):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(relay.GroupRelay, "start", unreachable)
    monkeypatch.setattr(relay, "PUT_OFF_SECONDS", (0.05, 0.1))

    await _expect_put_off(await sockets(participant=alice.participant))
    assert await presence_rows(alice.participant) == []
    assert relay._relays == {}
