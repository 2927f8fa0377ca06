"""Room affinity, for real: four daphne processes behind the shipped nginx site.

nginx (deploy/nginx/cerveau.conf) hashes each atelier's code to one process.
Eight ateliers of fifty phones each open their sockets and write through
nginx; each process's own access log (`cerveau.access`, one JSON line per
request and per WebSocket handshake) says which process served what. Then one
process is killed: its ateliers move to another process, whose phones
reconnect and resync, and the other ateliers see nothing but their pushes.

Timing is never asserted: only where things land and what every phone
receives. The ateliers are chosen (by asking nginx where a first request for
each lands) so that every process holds two: the result never depends on how
the random ports hash.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import ssl
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from boards import access
from boards.models import Atelier, Impossible, new_join_code
from boards.services import participation
from tests import nginx, servers

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.servers

PROCESSES = 4
ATELIERS_PER_PROCESS = 2
PHONES = 50
CSRF_SECRET = "k" * 32
# Sockets opening at once, all ateliers together: the test stays light on a shared machine.
OPENING_AT_ONCE = 25
TIMEOUT = 30.0


def _postgres_and_redis() -> None:
    from django.db import connection

    missing = []
    if connection.vendor != "postgresql":
        missing.append("DATABASE_URL is not PostgreSQL")
    if not os.environ.get("REDIS_URL", "").strip():
        missing.append("REDIS_URL is unset")
    if missing:
        pytest.skip(
            f"{' and '.join(missing)}: four processes share pushes through Redis and one database "
            "(scripts/test.sh runs this in its PostgreSQL + Redis run)"
        )


# --- Who served what: each process's access log -----------------------------------------------


@dataclass
class AccessLogs:
    """The `cerveau.access` lines of each process, read as they are written."""

    paths: list[Path]
    offsets: list[int] = field(default_factory=list)
    # Per process: (event, method, path) of every line read so far.
    lines: list[list[tuple[str, str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.offsets = [0] * len(self.paths)
        self.lines = [[] for _ in self.paths]

    def read(self) -> None:
        for index, path in enumerate(self.paths):
            with path.open("rb") as log:
                log.seek(self.offsets[index])
                chunk = log.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self.offsets[index] += len(complete)
            for raw in complete.splitlines():
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue  # daphne's own lines
                if isinstance(record, dict) and record.get("logger") == "cerveau.access":
                    if record.get("event") == "ws.handshake" and not record.get("accepted"):
                        continue
                    self.lines[index].append((record["event"], record.get("method", ""), record["path"]))

    def count(self, event: str, path: str, method: str = "") -> list[int]:
        """How many such lines each process wrote (reads what is new first)."""
        self.read()
        return [
            sum(1 for line in lines if line[0] == event and line[2] == path and (not method or line[1] == method))
            for lines in self.lines
        ]

    def wait_for(self, event: str, path: str, total: int, method: str = "") -> list[int]:
        """Per process, once `total` such lines are written (a line follows its answer by a moment)."""
        deadline = time.monotonic() + TIMEOUT
        while sum(counts := self.count(event, path, method)) < total:
            assert time.monotonic() < deadline, f"{sum(counts)} of {total} {event} lines for {path} ({counts})"
            time.sleep(0.05)
        assert sum(counts) == total, f"{counts} {event} lines for {path}, expected {total} in all"
        return counts

    async def await_lines(self, event: str, path: str, total: int, method: str = "") -> list[int]:
        return await asyncio.to_thread(self.wait_for, event, path, total, method)


def owner(counts: list[int]) -> int:
    """The one process that wrote every line; fails if several did."""
    serving = [index for index, count in enumerate(counts) if count]
    assert len(serving) == 1, f"served by processes {serving} ({counts})"
    return serving[0]


# --- Phones -----------------------------------------------------------------------------------


@dataclass
class Phone:
    code: str
    session: str
    version: int
    connection: ClientConnection | None = None
    # Every connection's close, in order: None while it is open.
    closed: list[Any] = field(default_factory=list)


@cache
def _tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def open_socket(site: nginx.Site, phone: Phone, limit: asyncio.Semaphore) -> None:
    async with limit:
        phone.connection = await connect(
            f"{site.wss_url}/ws/a/{phone.code}/?lang=fr&v={phone.version}",
            ssl=_tls(),
            origin=site.https_url,
            additional_headers={"Cookie": f"sessionid={phone.session}"},
            open_timeout=TIMEOUT,
            ping_interval=None,
            compression=None,
            proxy=None,
        )


async def next_versioned(phone: Phone) -> tuple[int, str, str]:
    """(version, kind, text) of the next board push, skipping presence counts."""
    assert phone.connection is not None
    async with asyncio.timeout(TIMEOUT):
        while True:
            text = await phone.connection.recv()
            match = servers.VERSION_MARKER.search(text)
            if match:
                return int(match.group(1)), match.group(2), text


async def expect(phones: list[Phone], version: int, kind: str, needle: str) -> None:
    """Every phone's next push is `kind` at `version` and shows `needle`."""

    async def one(phone: Phone) -> None:
        got, got_kind, text = await next_versioned(phone)
        assert (got, got_kind) == (version, kind), f"{phone.code}: got v{got} {got_kind}, expected v{version} {kind}"
        assert needle in text, f"{phone.code}: the push does not show {needle!r}"
        phone.version = got

    await asyncio.gather(*(one(phone) for phone in phones))


async def wait_dropped(phone: Phone) -> None:
    assert phone.connection is not None
    async with asyncio.timeout(TIMEOUT):
        try:
            while True:
                await phone.connection.recv()
        except ConnectionClosed as closed:
            phone.closed.append(closed)


def still_open(phone: Phone) -> bool:
    return phone.connection is not None and phone.connection.close_code is None


# --- The test ---------------------------------------------------------------------------------


class Room:
    """Writes into one atelier through nginx, as its first participant."""

    def __init__(self, site: nginx.Site, atelier: Atelier, writer_session: str) -> None:
        self.code = atelier.code
        self.http = httpx.Client(base_url=site.https_url, verify=False, timeout=TIMEOUT, trust_env=False)
        self.http.cookies.set("sessionid", writer_session)
        self.http.cookies.set("csrftoken", CSRF_SECRET)
        self.origin = site.https_url

    def post_impossible(self, statement: str) -> None:
        response = self.http.post(
            f"/a/{self.code}/impossibles/",
            headers={"Origin": self.origin},
            data={
                "csrfmiddlewaretoken": CSRF_SECRET,
                "statement": statement,
                "category": "recrutement",
                "details": "",
                "submission_key": secrets.token_hex(8),
            },
        )
        assert response.status_code == 302, f"POST answered {response.status_code}\n{response.text[:2000]}"


def _session(atelier: Atelier, participant_id: int) -> str:
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store[access.session_key(atelier.pk)] = participant_id
    store.create()
    return store.session_key


def _phones_of(atelier: Atelier) -> list[Phone]:
    """PHONES participants who joined earlier (the join form is tested elsewhere)."""
    sessions = []
    for n in range(PHONES):
        participant = participation.join_atelier(atelier, name=f"Personne {n}", organisation="", role="entrepreneur")
        sessions.append(_session(atelier, participant.pk))
    return [Phone(code=atelier.code, session=session, version=atelier.version) for session in sessions]


def _new_atelier(n: int) -> Atelier:
    code = new_join_code()
    while Atelier.objects.filter(code=code).exists():
        code = new_join_code()
    return Atelier.objects.create(title=f"Atelier de l'impossible n° {n}", territory="Charente", code=code)


def _ateliers_two_per_process(site: nginx.Site, logs: AccessLogs) -> dict[int, list[Atelier]]:
    """Ateliers chosen so that each process holds ATELIERS_PER_PROCESS: nginx
    says where each new one lands (its first request); one that lands on a
    full process is deleted."""
    held: dict[int, list[Atelier]] = defaultdict(list)
    with httpx.Client(base_url=site.https_url, verify=False, timeout=TIMEOUT, trust_env=False) as http:
        for n in range(200):
            atelier = _new_atelier(n)
            assert http.get(f"/a/{atelier.code}/").status_code == 302  # to the join page
            process = owner(logs.wait_for("http.request", f"/a/{atelier.code}/", 1))
            if len(held[process]) < ATELIERS_PER_PROCESS:
                held[process].append(atelier)
            else:
                atelier.delete()
            if sum(len(ateliers) for ateliers in held.values()) == PROCESSES * ATELIERS_PER_PROCESS:
                return held
    raise AssertionError(f"nginx sent 200 new ateliers to {sorted(held)} only")


def test_each_atelier_lives_on_one_process_and_a_dead_process_moves_only_its_own(transactional_db, tmp_path):
    _postgres_and_redis()
    https_port = servers.free_port()
    env = {
        **servers.server_environment(),
        "CERVEAU_LOG_FORMAT": "json",
        "CERVEAU_LOG_LEVEL": "INFO",
        # nginx's Host header has no port ($host): the page's origin is trusted by name.
        "DJANGO_CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{https_port}",
        # Four processes and the rest of the suite share PostgreSQL.
        "CERVEAU_DB_POOL_SIZE": "4",
    }
    (tmp_path / "nginx").mkdir()
    # As the systemd unit runs them: the scheme and the client from nginx's headers.
    with (
        servers.running_servers(PROCESSES, tmp_path, env=env, args=("--proxy-headers",)) as processes,
        nginx.running_site(tmp_path / "nginx", [p.port for p in processes], https_port=https_port) as site,
    ):
        logs = AccessLogs([p.log_path for p in processes])
        held = _ateliers_two_per_process(site, logs)
        ateliers = [atelier for process in sorted(held) for atelier in held[process]]
        home = {atelier.code: process for process in sorted(held) for atelier in held[process]}
        phones = {atelier.code: _phones_of(atelier) for atelier in ateliers}
        rooms = {atelier.code: Room(site, atelier, phones[atelier.code][0].session) for atelier in ateliers}
        try:
            asyncio.run(Evening(site, logs, processes, home, phones, rooms).run())
        finally:
            for room in rooms.values():
                room.http.close()

    for atelier in ateliers:
        assert Impossible.objects.filter(atelier=atelier).count() == 3


@dataclass
class Evening:
    site: nginx.Site
    logs: AccessLogs
    processes: list[servers.DaphneServer]
    # Each atelier's code and the index of the process nginx sends it to.
    home: dict[str, int]
    phones: dict[str, list[Phone]]
    rooms: dict[str, Room]

    async def run(self) -> None:
        everyone = [phone for room in self.phones.values() for phone in room]
        try:
            await self.steps(everyone, asyncio.Semaphore(OPENING_AT_ONCE))
        finally:
            await asyncio.gather(
                *(phone.connection.close() for phone in everyone if phone.connection is not None),
                return_exceptions=True,
            )

    async def steps(self, everyone: list[Phone], limit: asyncio.Semaphore) -> None:
        site, logs, processes, home, phones, rooms = (
            self.site,
            self.logs,
            self.processes,
            self.home,
            self.phones,
            self.rooms,
        )
        # 1. Every phone of an atelier opens its socket on the atelier's process.
        await asyncio.gather(*(open_socket(site, phone, limit) for phone in everyone))
        for code, process in home.items():
            counts = await logs.await_lines("ws.handshake", f"/ws/a/{code}/", PHONES)
            assert owner(counts) == process, f"{code}'s sockets are on process {owner(counts)}, its page on {process}"

        # 2. A write lands there too, and its push reaches every phone of the atelier, and only them.
        for code, room in rooms.items():
            await asyncio.to_thread(room.post_impossible, f"Impossible n° 1 à {code}")
        for code, room_phones in phones.items():
            await expect(room_phones, room_phones[0].version + 1, "event", f"Impossible n° 1 à {code}")
            counts = await logs.await_lines("http.request", f"/a/{code}/impossibles/", 1, method="POST")
            assert owner(counts) == home[code]

        # 3. The process holding the first atelier dies: its phones drop, nobody else's.
        dead = home[next(iter(home))]
        processes[dead].stopping = True
        processes[dead].process.kill()
        processes[dead].process.wait(timeout=10)
        moved = {code for code, process in home.items() if process == dead}
        assert len(moved) == 2 and len(home) - len(moved) == 6
        await asyncio.gather(*(wait_dropped(phone) for code in moved for phone in phones[code]))
        untouched = [phone for code in home if code not in moved for phone in phones[code]]
        assert all(still_open(phone) for phone in untouched)

        # 4. Meanwhile every atelier changes; nginx takes the moved ateliers' writes elsewhere.
        for code, room in rooms.items():
            await asyncio.to_thread(room.post_impossible, f"Impossible n° 2 à {code}")
        for code in home:
            if code not in moved:
                await expect(phones[code], phones[code][0].version + 1, "event", f"Impossible n° 2 à {code}")
        new_home = {}
        for code in moved:
            counts = await logs.await_lines("http.request", f"/a/{code}/impossibles/", 2, method="POST")
            counts[dead] -= 1  # the first write, before the death
            new_home[code] = owner(counts)
            assert new_home[code] != dead

        # 5. The moved phones reconnect through nginx with the version they hold,
        # all on their atelier's new process, and get a snapshot with what they missed.
        movers = [phone for code in moved for phone in phones[code]]
        await asyncio.gather(*(open_socket(site, phone, limit) for phone in movers))
        for code in moved:
            counts = await logs.await_lines("ws.handshake", f"/ws/a/{code}/", 2 * PHONES)
            counts[dead] -= PHONES
            assert owner(counts) == new_home[code]
            await expect(phones[code], phones[code][0].version + 1, "snapshot", f"Impossible n° 2 à {code}")

        # 6. The other ateliers never left their process: no new socket anywhere,
        # and every phone, moved or not, gets the next push.
        for code, process in home.items():
            if code not in moved:
                assert logs.count("ws.handshake", f"/ws/a/{code}/") == [
                    PHONES if index == process else 0 for index in range(len(processes))
                ]
        for code, room in rooms.items():
            await asyncio.to_thread(room.post_impossible, f"Impossible n° 3 à {code}")
        for code, room_phones in phones.items():
            await expect(room_phones, room_phones[0].version + 1, "event", f"Impossible n° 3 à {code}")
        assert all(still_open(phone) for phone in everyone)
        assert not any(phone.closed for phone in untouched)
        assert Counter(len(phone.closed) for phone in movers) == {1: len(movers)}
