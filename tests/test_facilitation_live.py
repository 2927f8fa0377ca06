"""Facilitators on the board's WebSocket, and their actions pushed live.

A facilitator has no participant in the atelier: their console and projector
sockets are let in by their login (the session's user). What they do goes
through `boards.services.facilitation` and reaches every phone as the next
version, with the fragments that change: the `#atelier-state` partial for the
phase, the lock, the timer and the spotlight; deletions, counts and card
bodies for moderation. Logging out closes that browser's sockets (4401),
leaving the team closes that facilitator's (4403), deleting the atelier
closes all of its sockets (4404).

Everything goes through `cerveau.asgi.application`, as in test_consumer.py,
and needs real commits: consumers read the database from other threads.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connections
from django.test import Client
from django.utils import timezone

from boards.live import protocol, relay
from boards.live.protocol import Close
from boards.models import Atelier, Category, Impossible, Presence
from boards.phases import Phase
from boards.services import facilitation, participation
from tests.conftest import browser_socket, close_communicators, post_impossible

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 3
LIVE_VERSION = protocol.VERSION_MARKER
PRESENCE = re.compile(r'^<span class="num" id="stat-online" hx-swap-oob="true">\d+</span>$')
ATELIER_STATE = re.compile(r'<section class="atelier-state[^"]*" id="atelier-state".*?</section>', re.DOTALL)


# --- Helpers ------------------------------------------------------------------


def _logged_in_nobody() -> Client:
    """A browser logged in as a user who facilitates no atelier."""
    user = get_user_model().objects.create_user("hector", "hector@example.org")
    client = Client()
    client.force_login(user)
    return client


def _cookie(client: Client) -> str:
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _version(atelier_id: int) -> int:
    return Atelier.objects.values_list("version", flat=True).get(pk=atelier_id)


logged_in_nobody = database_sync_to_async(_logged_in_nobody)
version = database_sync_to_async(_version)


def live_version(html: str) -> tuple[int, str]:
    found = LIVE_VERSION.search(html)
    assert found, f"no live-version marker in {html[:200]!r}"
    return int(found.group(1)), found.group(2)


def ids(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


def atelier_state(html: str) -> str:
    found = ATELIER_STATE.search(html)
    assert found, f"no #atelier-state in {html[:500]!r}"
    return found.group(0)


def is_presence(frame: str) -> bool:
    return PRESENCE.match(frame.strip()) is not None


async def next_board_message(communicator: WebsocketCommunicator, timeout: float = TIMEOUT) -> str:
    """The next frame that is not a (timer-driven) presence count."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await communicator.receive_from(timeout=max(deadline - time.monotonic(), 0.01))
        if not is_presence(frame):
            return frame


async def board_frames(communicator: WebsocketCommunicator, seconds: float = 0.4) -> list[str]:
    """Every non-presence frame received within `seconds`; a close frame or a
    crashed consumer fails here."""
    frames = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not await communicator.receive_nothing(timeout=0.05, interval=0.01):
            frame = await communicator.receive_from()
            if not is_presence(frame):
                frames.append(frame)
    return frames


async def expect_closed(communicator: WebsocketCommunicator, code: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        message = await communicator.receive_output(timeout=max(deadline - time.monotonic(), 0.01))
        if message["type"] == "websocket.send" and is_presence(message.get("text") or ""):
            continue
        assert message == {"type": "websocket.close", "code": code}
        return


# --- Fixtures -----------------------------------------------------------------


@pytest.fixture(autouse=True)
async def _isolated():
    """Fresh snapshot cache; no presence timer or database connection outlives the test."""
    await sync_to_async(cache.clear)()
    yield
    pending = list(relay._presence_pending.values())
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    relay._presence_pending.clear()
    await sync_to_async(connections.close_all)()


@pytest.fixture
async def sockets(_isolated):
    """Opens sockets on the full ASGI stack with a session cookie; all closed at teardown."""
    opened: list[WebsocketCommunicator] = []

    async def open_socket(cookie: str | None, path: str = "/ws/a/TST234/?lang=fr") -> WebsocketCommunicator:
        communicator = browser_socket(path, cookie=cookie)
        opened.append(communicator)
        accepted, _subprotocol = await communicator.connect(timeout=TIMEOUT)
        assert accepted, "refusals are accepted then closed with a 4xxx code"
        return communicator

    yield open_socket

    await close_communicators(opened, TIMEOUT)


@pytest.fixture
def synced(sockets):
    """Opens a socket and waits for its snapshot (the last step of connect):
    returns the socket and the version it holds."""

    async def open_synced(cookie: str, path: str = "/ws/a/TST234/?lang=fr") -> tuple[WebsocketCommunicator, int]:
        communicator = await sockets(cookie, path)
        snapshot_version, kind = live_version(await next_board_message(communicator))
        assert kind == "snapshot"
        return communicator, snapshot_version

    return open_synced


@pytest.fixture
def phone(alice):
    """Alice's phone: the cookie of a participant who joined through the form."""
    return _cookie(alice)


async def expect_event(communicator: WebsocketCommunicator, expected_version: int) -> str:
    """The next push must be exactly the next version, and the only one."""
    event = await next_board_message(communicator)
    assert live_version(event) == (expected_version, "event")
    assert await board_frames(communicator, 0.2) == [], "one change, one push"
    return event


# --- Who may connect ----------------------------------------------------------


async def test_a_facilitator_without_a_participant_connects_and_gets_a_snapshot(sockets, facilitator, alice):
    impossible = await database_sync_to_async(post_impossible)(alice.participant, "Impossible de trouver un local")

    communicator = await sockets(_cookie(facilitator))

    snapshot = await next_board_message(communicator)
    assert live_version(snapshot) == (1, "snapshot")
    assert {f"imp-{impossible.pk}", "impossible-list", "stats", "atelier-state"} <= ids(snapshot)
    assert await board_frames(communicator) == []
    # Watching the room is not being in it: facilitators are not counted online.
    assert await database_sync_to_async(Presence.objects.count)() == 0


async def test_a_facilitator_socket_receives_the_events_of_the_atelier(synced, facilitator, alice):
    communicator, before = await synced(_cookie(facilitator))

    impossible = await database_sync_to_async(post_impossible)(alice.participant, "Impossible de loger un apprenti")

    event = await expect_event(communicator, before + 1)
    assert f"imp-{impossible.pk}" in ids(event)


async def test_pas_un_doublon_tells_every_open_console_to_refresh(synced, facilitator, alice, bob):
    """Consoles fetch their panels again on any push: the dismissal must push."""
    first = await database_sync_to_async(post_impossible)(alice.participant, "Impossible de recruter des soudeurs")
    second = await database_sync_to_async(post_impossible)(bob.participant, "Pénurie de soudeurs")
    other_console, before = await synced(_cookie(facilitator))

    response = await sync_to_async(facilitator.post)(
        "/a/TST234/console/duplicates/dismiss/", {"first": first.pk, "second": second.pk}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 204
    event = await expect_event(other_console, before + 1)
    assert f"imp-{first.pk}" not in ids(event) and f"imp-{second.pk}" not in ids(event)
    # Dismissed already: nothing more to tell.
    await sync_to_async(facilitator.post)(
        "/a/TST234/console/duplicates/dismiss/", {"first": first.pk, "second": second.pk}
    )
    assert await board_frames(other_console) == []


async def test_a_facilitator_of_another_atelier_is_refused_with_4403(
    sockets, atelier, other_atelier, other_facilitator
):
    communicator = await sockets(_cookie(other_facilitator))

    await expect_closed(communicator, Close.NOT_A_MEMBER)
    # The same login is welcome on the atelier they do run.
    own = await sockets(_cookie(other_facilitator), f"/ws/a/{other_atelier.code}/")
    assert live_version(await next_board_message(own)) == (0, "snapshot")


async def test_a_logged_in_user_who_facilitates_nothing_is_refused_with_4403(sockets, atelier):
    somebody = await logged_in_nobody()

    communicator = await sockets(_cookie(somebody))

    await expect_closed(communicator, Close.NOT_A_MEMBER)


# --- Running the room, pushed to phones ---------------------------------------


async def test_a_phase_change_reaches_phones_and_facilitators_as_the_next_version(synced, atelier, facilitator, phone):
    on_phone, before = await synced(phone)
    in_english, _before = await synced(phone, "/ws/a/TST234/?lang=en")
    console, _before = await synced(_cookie(facilitator))
    assert atelier.phase == Phase.IMPOSSIBLES

    await database_sync_to_async(facilitation.set_phase)(atelier.pk, Phase.ME_TOO)

    event = await expect_event(on_phone, before + 1)
    state = atelier_state(event)
    assert 'hx-swap-oob="true"' in state
    assert 'data-phase="moi_aussi"' in state
    assert 'data-can-post="false"' in state, "no new impossibles in this phase"
    assert 'data-can-me-too="true"' in state
    assert '<span class="phase-name">Moi aussi</span>' in state
    assert "Lisez les impossibles" in state, "the phase's invitation"
    english = atelier_state(await expect_event(in_english, before + 1))
    assert 'data-phase="moi_aussi"' in english
    assert '<span class="phase-name">Me too</span>' in english
    assert "Read the impossibles" in english
    await expect_event(console, before + 1)
    assert await version(atelier.pk) == before + 1


async def test_setting_the_same_phase_again_pushes_nothing(synced, atelier, phone):
    on_phone, before = await synced(phone)

    await database_sync_to_async(facilitation.set_phase)(atelier.pk, atelier.phase)

    assert await board_frames(on_phone) == []
    assert await version(atelier.pk) == before


async def test_locking_the_board_reaches_phones(synced, atelier, phone):
    on_phone, before = await synced(phone)

    await database_sync_to_async(facilitation.set_locked)(atelier.pk, True)

    state = atelier_state(await expect_event(on_phone, before + 1))
    assert "is-locked" in state
    assert 'data-can-post="false"' in state
    assert 'data-can-me-too="false"' in state
    assert 'data-can-offer="false"' in state
    assert 'class="locked"' in state

    await database_sync_to_async(facilitation.set_locked)(atelier.pk, False)

    state = atelier_state(await expect_event(on_phone, before + 2))
    assert "is-locked" not in state
    assert 'data-can-post="true"' in state


async def test_starting_a_timer_reaches_phones_with_its_end_time(synced, atelier, phone):
    on_phone, before = await synced(phone)
    started = timezone.now()

    await database_sync_to_async(facilitation.start_timer)(atelier.pk, minutes=3, label="Tour de table")

    state = atelier_state(await expect_event(on_phone, before + 1))
    ends_at = re.search(r'class="timer" data-ends-at="(\d+)"', state)
    assert ends_at, state
    expected = started + timedelta(minutes=3)
    assert abs(int(ends_at.group(1)) - expected.timestamp()) <= 2
    assert re.search(r'<span class="timer-clock" role="timer">(03:00|02:5\d)</span>', state), state
    assert "Tour de table" in state


async def test_putting_an_impossible_on_screen_reaches_phones(synced, atelier, alice, phone):
    statement = "Impossible de trouver un repreneur"
    impossible = await database_sync_to_async(post_impossible)(alice.participant, statement)
    on_phone, before = await synced(phone)

    await database_sync_to_async(facilitation.set_spotlight)(atelier.pk, impossible.pk)

    state = atelier_state(await expect_event(on_phone, before + 1))
    assert f'data-spotlight="{impossible.pk}"' in state
    assert f'<a href="#imp-{impossible.pk}">{statement}</a>' in state

    await database_sync_to_async(facilitation.set_spotlight)(atelier.pk, None)

    state = atelier_state(await expect_event(on_phone, before + 2))
    assert 'data-spotlight=""' in state
    assert statement not in state


# --- Moderation, pushed to phones ---------------------------------------------


async def test_hiding_an_impossible_deletes_its_card_on_phones(synced, atelier, alice, phone):
    kept = await database_sync_to_async(post_impossible)(alice.participant, "Impossible de recruter")
    hidden = await database_sync_to_async(post_impossible)(alice.participant, "Un message hors sujet")
    on_phone, before = await synced(phone)

    await database_sync_to_async(facilitation.set_impossible_hidden)(atelier.pk, hidden.pk, hidden=True)

    event = await expect_event(on_phone, before + 1)
    assert f'<div id="imp-{hidden.pk}" hx-swap-oob="delete"></div>' in event
    assert f"imp-{kept.pk}" not in ids(event)
    assert "Un message hors sujet" not in event
    assert re.search(r'<span class="num">1</span>\s*impossible\b', event), "the stats count one impossible left"


async def test_hiding_the_impossible_on_screen_clears_the_spotlight_on_phones(synced, atelier, alice, phone):
    hidden = await database_sync_to_async(post_impossible)(alice.participant, "Un message injurieux")
    await database_sync_to_async(facilitation.set_spotlight)(atelier.pk, hidden.pk)
    on_phone, before = await synced(phone)

    await database_sync_to_async(facilitation.set_impossible_hidden)(atelier.pk, hidden.pk, hidden=True)

    event = await expect_event(on_phone, before + 1)
    assert f'<div id="imp-{hidden.pk}" hx-swap-oob="delete"></div>' in event
    # Phones quote the spotlighted statement: it must go with the card.
    state = atelier_state(event)
    assert 'data-spotlight=""' in state
    assert "Un message injurieux" not in event


async def test_merging_deletes_the_duplicate_and_updates_the_kept_count(synced, atelier, alice, bob, charlie, phone):
    kept = await database_sync_to_async(post_impossible)(alice.participant, "Impossible de recruter des soudeurs")
    duplicate = await database_sync_to_async(post_impossible)(bob.participant, "Pas de soudeurs à recruter")
    for participant, impossible in [(charlie, duplicate), (alice, duplicate), (alice, kept)]:
        await database_sync_to_async(participation.set_me_too)(participant.participant, impossible.pk, on=True)
    on_phone, before = await synced(phone)

    await database_sync_to_async(facilitation.merge_impossibles)(atelier.pk, kept.pk, duplicate.pk)

    event = await expect_event(on_phone, before + 1)
    assert f'<div id="imp-{duplicate.pk}" hx-swap-oob="delete"></div>' in event
    # charlie's « moi aussi » moves over, alice (who said it on both) counts
    # once, bob (the duplicate's author) shares the kept one: 1 + 1 + 1.
    assert re.search(rf'id="imp-{kept.pk}-metoo" data-count="3" hx-swap-oob="true">3<', event), event
    assert re.search(r'<span class="num">3</span>\s*« moi aussi »', event), "the stats count 3 « moi aussi »"
    assert f'id="imp-{kept.pk}-offers"' in event
    assert re.search(r'<span class="num">1</span>\s*impossible\b', event)
    assert f'id="imp-{kept.pk}"' not in event, "the kept card stays where it is"


async def test_merging_the_impossible_on_screen_moves_the_spotlight_on_phones(synced, atelier, alice, bob, phone):
    kept = await database_sync_to_async(post_impossible)(alice.participant, "Impossible de recruter des soudeurs")
    duplicate = await database_sync_to_async(post_impossible)(bob.participant, "Pas de soudeurs à recruter")
    await database_sync_to_async(facilitation.set_spotlight)(atelier.pk, duplicate.pk)
    on_phone, before = await synced(phone)

    await database_sync_to_async(facilitation.merge_impossibles)(atelier.pk, kept.pk, duplicate.pk)

    event = await expect_event(on_phone, before + 1)
    assert f'<div id="imp-{duplicate.pk}" hx-swap-oob="delete"></div>' in event
    state = atelier_state(event)
    assert f'data-spotlight="{kept.pk}"' in state
    assert "Pas de soudeurs à recruter" not in state


async def test_editing_an_impossible_replaces_its_body_on_phones(synced, atelier, alice, phone):
    impossible = await database_sync_to_async(post_impossible)(alice.participant, "Impossible de recruter des soudeus")
    await database_sync_to_async(participation.set_me_too)(alice.participant, impossible.pk, on=True)
    on_phone, before = await synced(phone)

    await database_sync_to_async(facilitation.edit_impossible)(
        atelier.pk,
        impossible.pk,
        statement="Impossible de recruter des soudeurs",
        details="Trois postes ouverts depuis un an",
        category=Category.FUNDING,
    )

    event = await expect_event(on_phone, before + 1)
    body = re.search(rf'<div class="card-body" id="imp-{impossible.pk}-body" hx-swap-oob="true">.*?</div>', event, re.S)
    assert body, event
    assert "Impossible de recruter des soudeurs<" in body.group(0)
    assert "Trois postes ouverts depuis un an" in event
    assert "badge-financement" in body.group(0)
    assert f'id="imp-{impossible.pk}"' not in event, "votes and offers are not resent: the card stays"
    counts = await database_sync_to_async(
        lambda: Impossible.objects.values_list("me_too_count", flat=True).get(pk=impossible.pk)
    )()
    assert counts == 1


async def test_editing_the_impossible_on_screen_updates_the_quote_on_phones(synced, atelier, alice, phone):
    impossible = await database_sync_to_async(post_impossible)(alice.participant, "Impossible de finacer un four")
    await database_sync_to_async(facilitation.set_spotlight)(atelier.pk, impossible.pk)
    on_phone, before = await synced(phone)

    await database_sync_to_async(facilitation.edit_impossible)(
        atelier.pk, impossible.pk, statement="Impossible de financer un four", details="", category=Category.FUNDING
    )

    event = await expect_event(on_phone, before + 1)
    assert f"imp-{impossible.pk}-body" in ids(event)
    state = atelier_state(event)
    assert f'<a href="#imp-{impossible.pk}">Impossible de financer un four</a>' in state
    assert "finacer" not in event


# --- Closing sockets ----------------------------------------------------------


async def test_logging_out_closes_that_browsers_sockets_with_4401(synced, facilitator, co_facilitator, phone):
    console, _v = await synced(_cookie(facilitator))
    projector, _v = await synced(_cookie(facilitator), "/ws/a/TST234/?lang=en")
    other_console, current = await synced(_cookie(co_facilitator))
    on_phone, _v = await synced(phone)

    response = await sync_to_async(facilitator.post)("/accounts/logout/")

    assert response.status_code == 302
    await expect_closed(console, Close.SIGNED_OUT)
    await expect_closed(projector, Close.SIGNED_OUT)
    # Another facilitator and the phones stay connected and live.
    for still_open in (other_console, on_phone):
        assert await board_frames(still_open) == []
        await still_open.send_json_to({"type": "resync", "version": current - 1})
        assert live_version(await next_board_message(still_open)) == (current, "snapshot")


async def test_a_logged_out_browser_cannot_reconnect(sockets, facilitator):
    cookie = _cookie(facilitator)
    response = await sync_to_async(facilitator.post)("/accounts/logout/")
    assert response.status_code == 302

    communicator = await sockets(cookie)

    await expect_closed(communicator, Close.NOT_A_MEMBER)


async def test_leaving_the_team_closes_that_facilitators_sockets_with_4403(
    synced, sockets, atelier, facilitator, co_facilitator, phone
):
    console, _v = await synced(_cookie(co_facilitator))
    projector, _v = await synced(_cookie(co_facilitator), "/ws/a/TST234/?lang=en")
    own_console, current = await synced(_cookie(facilitator))
    on_phone, _v = await synced(phone)

    response = await sync_to_async(facilitator.post)("/a/TST234/console/team/", {"remove": co_facilitator.user.pk})

    assert response.status_code == 302
    await expect_closed(console, Close.NOT_A_MEMBER)
    await expect_closed(projector, Close.NOT_A_MEMBER)
    # Reopening is refused, as for anyone outside the team.
    await expect_closed(await sockets(_cookie(co_facilitator)), Close.NOT_A_MEMBER)
    # The one who stays and the phones stay connected and live.
    for still_open in (own_console, on_phone):
        assert await board_frames(still_open) == []
        await still_open.send_json_to({"type": "resync", "version": current - 1})
        assert live_version(await next_board_message(still_open)) == (current, "snapshot")


async def test_deleting_the_atelier_closes_its_sockets_with_4404(
    synced, atelier, other_atelier, facilitator, other_facilitator, phone
):
    console, _v = await synced(_cookie(facilitator))
    on_phone, _v = await synced(phone)
    elsewhere, current = await synced(_cookie(other_facilitator), f"/ws/a/{other_atelier.code}/")

    await database_sync_to_async(facilitation.delete_atelier)(atelier)

    await expect_closed(on_phone, Close.GONE)
    await expect_closed(console, Close.GONE)
    assert not await database_sync_to_async(Atelier.objects.filter(code="TST234").exists)()
    # Another atelier's sockets are untouched.
    assert await board_frames(elsewhere) == []
    await elsewhere.send_json_to({"type": "resync", "version": current - 1})
    assert live_version(await next_board_message(elsewhere)) == (current, "snapshot")
