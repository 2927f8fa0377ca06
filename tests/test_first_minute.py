"""The first minute of an evening: the room joins at once, and no phone's
socket is refused or dropped because others are joining.

A daphne process runs every request's and every socket's database work on
one thread. A hundred joins in flight (join page, join form, board page,
each through the real forms) fill that queue while a hundred phones that
joined a moment earlier open their sockets: each socket must open at its
first try and then get its board, and so must the newcomers' own sockets.
Nothing here measures time; the sockets would be dropped, not slow, if their
handshake waited behind the joins (daphne's connect timeout, 5 s).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from django.contrib.sessions.backends.db import SessionStore
from websockets.asyncio.client import connect

from boards import access
from boards.services import participation
from tests import servers

pytestmark = pytest.mark.servers

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier

JOINING = 100
RECONNECTING = 100
TIMEOUT = 60.0


def _joined_sessions(atelier, count: int) -> list[str]:
    """Phones that joined a moment ago (the join form is exercised by the others)."""
    sessions = []
    for n in range(count):
        participant = participation.join_atelier(atelier, name=f"Déjà là {n}", organisation="", role="entrepreneur")
        store = SessionStore()
        store[access.session_key(atelier.pk)] = participant.pk
        store.create()
        sessions.append(store.session_key)
    return sessions


async def _open_and_get_the_board(server: servers.DaphneServer, code: str, session: str) -> str:
    """Open the board's socket once (no retry) and return the first board push's kind."""
    async with connect(
        f"{server.ws_url}/ws/a/{code}/?lang=fr&v=",
        origin=server.origin,
        additional_headers={"Cookie": f"sessionid={session}"},
        open_timeout=TIMEOUT,
        ping_interval=None,
        compression=None,
        proxy=None,
    ) as socket:
        async with asyncio.timeout(TIMEOUT):
            while True:
                match = servers.VERSION_MARKER.search(await socket.recv())
                if match:
                    return match.group(2)


async def _join(server: servers.DaphneServer, code: str, n: int) -> str:
    """Join through the real forms, load the board, return the session."""
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT, trust_env=False) as http:
        page = await http.get(f"/a/{code}/join/")
        assert page.status_code == 200, page.text[:500]
        joined = await http.post(
            f"/a/{code}/join/",
            data={
                "csrfmiddlewaretoken": servers.csrf_token_in(page.text),
                "name": f"Nouvelle {n}",
                "organisation": "",
                "role": "entrepreneur",
            },
        )
        assert joined.status_code == 302, joined.text[:500]
        board = await http.get(f"/a/{code}/")
        assert board.status_code == 200, board.text[:500]
        return http.cookies["sessionid"]


def test_sockets_open_at_the_first_try_while_the_room_joins(daphne_server, live_atelier):
    code = live_atelier.code
    already_there = _joined_sessions(live_atelier, RECONNECTING)

    async def evening() -> tuple[list, list]:
        joins = [asyncio.create_task(_join(daphne_server, code, n)) for n in range(JOINING)]
        sockets = [_open_and_get_the_board(daphne_server, code, session) for session in already_there]
        first = await asyncio.gather(*sockets, return_exceptions=True)
        newcomers = await asyncio.gather(*joins)
        # Then the newcomers' own sockets, together.
        second = await asyncio.gather(
            *(_open_and_get_the_board(daphne_server, code, session) for session in newcomers),
            return_exceptions=True,
        )
        return first, second

    first, second = asyncio.run(evening())
    for label, outcomes in (("already joined", first), ("newcomers", second)):
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        assert not failures, (
            f"{len(failures)} of {len(outcomes)} sockets ({label}) failed at their first try, e.g. {failures[0]!r}"
            f"\n{daphne_server.log_tail(3000)}"
        )
        assert outcomes == ["snapshot"] * len(outcomes), outcomes
