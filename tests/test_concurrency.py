"""The real room at once: hundreds of phones hitting one daphne process together.

Real HTTP requests from real clients, each with its own cookie jar, released
by a barrier so that they overlap on the server; the database, a fresh page
and the WebSocket must all agree afterwards. Runs on SQLite (one writer at a
time, the busy timeout queues the others) and on PostgreSQL (the atelier row
lock taken by `begin_write` orders the writes).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
from django.utils.html import escape

from boards import phases
from boards.models import Atelier, Impossible, MeToo
from boards.phases import Action, Phase
from tests import servers
from tests.servers import LiveSocket, Visitor

pytestmark = pytest.mark.servers

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier
visitors = servers.visitors

CROWD = 200
RETRIES = 3
POSTERS = 100
# Posts per poster while the atelier is open: under the per-participant rate
# limit on impossibles, so that every refusal here is the phase's.
POSTS_EACH = 5
# Requests queue on the server (one SQLite writer): give them time.
SLOW_HTTP = httpx.Timeout(90.0)
BARRIER_TIMEOUT = 60.0
ROLES = ("entrepreneur", "elu", "agent", "pair", "autre")
REFUSED = {409, 422}


def _join_crowd(server, code: str, count: int, visitors) -> list[Visitor]:
    """`count` phones joined through the real form, a few at a time."""

    def join(index: int) -> Visitor:
        visitor = visitors(server, code, f"Personne {index:03d}", ROLES[index % len(ROLES)])
        visitor.http.timeout = SLOW_HTTP
        return visitor

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(join, range(count)))


def _all_at_once(crowd: list, action) -> list:
    """Run `action(member)` for every member in its own thread, all released together."""
    barrier = threading.Barrier(len(crowd))

    def run(member):
        barrier.wait(timeout=BARRIER_TIMEOUT)
        return action(member)

    with ThreadPoolExecutor(len(crowd)) as pool:
        return list(pool.map(run, crowd))


def _form_post(visitor: Visitor, path: str, data: dict[str, str]) -> httpx.Response:
    token = visitor.http.cookies.get("csrftoken")
    assert token, "no csrftoken cookie: the visitor has not loaded a form"
    return visitor.http.post(visitor.url(path), data={"csrfmiddlewaretoken": token, **data})


def _metoo_count(html: str, impossible_id: int) -> int | None:
    found = re.findall(rf'id="imp-{impossible_id}-metoo" data-count="(\d+)"', html)
    return int(found[-1]) if found else None


@dataclass
class Board:
    """What board.js keeps from the pushes: apply the next version, drop
    duplicates, ask for a resync on a gap, always apply snapshots."""

    socket: LiveSocket
    impossible_id: int
    version: int
    count: int | None = None
    frames: int = 0

    def apply(self, text: str) -> None:
        self.frames += 1
        marker = servers.VERSION_MARKER.search(text)
        if marker is None:
            return  # presence counts carry no version
        version, kind = int(marker.group(1)), marker.group(2)
        if kind == "snapshot" or version == self.version + 1:
            self.version = version
            count = _metoo_count(text, self.impossible_id)
            self.count = self.count if count is None else count
        elif version > self.version + 1:
            self.socket.send_json({"type": "resync", "version": self.version})

    def settle(self, target: int, timeout: float = 30.0) -> None:
        """Read pushes until the board holds `target` (asking for a resync when
        the pushes stop short of it, as the client's ping does)."""
        deadline = time.monotonic() + timeout
        while self.version != target:
            assert time.monotonic() < deadline, f"the socket is stuck at v{self.version}, expected v{target}"
            try:
                text = self.socket.connection.recv(timeout=1.0)
            except TimeoutError:
                self.socket.send_json({"type": "resync", "version": self.version})
                continue
            self.apply(text if isinstance(text, str) else text.decode())


def _version(atelier: Atelier) -> int:
    return Atelier.objects.values_list("version", flat=True).get(pk=atelier.pk)


def test_two_hundred_people_say_moi_aussi_at_the_same_moment(daphne_server, live_atelier, visitors):
    code = live_atelier.code
    crowd = _join_crowd(daphne_server, code, CROWD, visitors)
    author = crowd[0]
    impossible_id = author.post_impossible("Impossible de recruter des soudeurs à moins de 50 km")
    start = _version(live_atelier)
    board = Board(author.socket(version=start), impossible_id, start)
    path = f"/a/{code}/impossibles/{impossible_id}/me-too/"

    responses = _all_at_once(crowd, lambda visitor: _form_post(visitor, path, {"state": "on"}))

    assert sorted({response.status_code for response in responses}) == [302], [
        (response.status_code, response.text[:300]) for response in responses if response.status_code != 302
    ]
    impossible = Impossible.objects.get(pk=impossible_id)
    assert MeToo.objects.filter(impossible=impossible).count() == CROWD
    assert MeToo.objects.filter(impossible=impossible).values("participant").distinct().count() == CROWD
    assert impossible.me_too_count == CROWD
    # One version per « moi aussi », none lost, none doubled.
    assert _version(live_atelier) == start + CROWD
    assert _metoo_count(author.get(f"/a/{code}/").text, impossible_id) == CROWD
    board.settle(start + CROWD)
    assert board.count == CROWD, f"the socket shows {board.count} after {board.frames} frames"

    for _retry in range(RETRIES):
        responses = _all_at_once(crowd, lambda visitor: _form_post(visitor, path, {"state": "on"}))
        assert {response.status_code for response in responses} == {302}

    impossible.refresh_from_db()
    assert MeToo.objects.filter(impossible=impossible).count() == CROWD
    assert impossible.me_too_count == CROWD
    assert _version(live_atelier) == start + CROWD, "a repeated « moi aussi » changed the board"
    assert _metoo_count(crowd[-1].get(f"/a/{code}/").text, impossible_id) == CROWD


@dataclass
class Attempt:
    statement: str
    started: float
    status: int
    body: str


def _facilitator(server, atelier: Atelier) -> httpx.Client:
    """A facilitator logged in through the real login page, console open."""
    account = servers.create_facilitator(atelier)
    client = httpx.Client(base_url=server.url, timeout=SLOW_HTTP, follow_redirects=False, trust_env=False)
    page = client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        data={
            "csrfmiddlewaretoken": servers.csrf_token_in(page.text),
            "username": account.username,
            "password": account.password,
        },
    )
    assert response.status_code == 302, response.text[:2000]
    assert client.get(f"/a/{atelier.code}/console/").status_code == 200
    return client


def test_no_post_gets_in_after_the_atelier_closes(daphne_server, live_atelier, visitors):
    code = live_atelier.code
    facilitator = _facilitator(daphne_server, live_atelier)
    posters = _join_crowd(daphne_server, code, POSTERS, visitors)
    for poster in posters:
        poster.get(f"/a/{code}/")  # the board and its form, as a phone has it open
    start = _version(live_atelier)
    # A phone watching the board: the pushes say in which order the writes committed.
    live = posters[0].socket(version=start)
    pushes: list[str] = []
    listening = threading.Event()
    listening.set()

    def listen() -> None:
        while listening.is_set():
            try:
                text = live.connection.recv(timeout=0.5)
            except TimeoutError:
                continue
            pushes.append(text if isinstance(text, str) else text.decode())

    accepted_enough = threading.Event()
    accepted = []
    closed_at: list[float] = []
    closed = threading.Event()

    def post(poster: Visitor, number: int) -> Attempt:
        statement = f"Impossible n°{number} de {poster.session_id[:8]} {secrets.token_hex(4)}"
        data = {"statement": statement, "category": "recrutement", "submission_key": secrets.token_hex(8)}
        started = time.monotonic()
        response = _form_post(poster, f"/a/{code}/impossibles/", data)
        if response.status_code == 302:
            accepted.append(statement)
            if len(accepted) >= POSTERS // 2:
                accepted_enough.set()
        return Attempt(statement, started, response.status_code, response.text)

    def keep_posting(poster: Visitor) -> list[Attempt]:
        """Post while the atelier is open, then once more after the phase
        change has answered."""
        attempts = []
        for number in range(POSTS_EACH):
            attempts.append(post(poster, number))
            if closed_at and attempts[-1].started > closed_at[0]:
                return attempts
            if attempts[-1].status != 302:
                break
        assert closed.wait(timeout=BARRIER_TIMEOUT), "the phase change never answered"
        attempts.append(post(poster, POSTS_EACH))
        return attempts

    def close_the_atelier() -> None:
        assert accepted_enough.wait(timeout=BARRIER_TIMEOUT), "the posts never got going"
        token = facilitator.cookies.get("csrftoken")
        response = facilitator.post(
            f"/a/{code}/console/phase/", data={"csrfmiddlewaretoken": token, "phase": Phase.CLOSED}
        )
        closed_at.append(time.monotonic())
        closed.set()
        assert response.status_code == 302, response.text[:2000]

    with ThreadPoolExecutor(2) as helpers:
        listener = helpers.submit(listen)
        closing = helpers.submit(close_the_atelier)
        results = _all_at_once(posters, keep_posting)
        closing.result()
        time.sleep(1.0)  # the last pushes in flight
        listening.clear()
        listener.result()
    facilitator.close()

    assert Atelier.objects.get(pk=live_atelier.pk).phase == Phase.CLOSED
    changed = closed_at[0]
    attempts = [attempt for attempts in results for attempt in attempts]
    unexpected = [(a.status, a.body[:300]) for a in attempts if a.status != 302 and a.status not in REFUSED]
    assert not unexpected, unexpected
    message = escape(phases.refusal(False, Action.POST))
    late = [a for a in attempts if a.started > changed]
    assert late, "no post started after the phase changed: the test did not overlap"
    assert all(a.status in REFUSED and message in a.body for a in late), [
        (a.status, a.statement) for a in late if a.status == 302
    ]
    refused = [a for a in attempts if a.status in REFUSED]
    assert all(message in a.body for a in refused)
    stored = list(Impossible.objects.filter(atelier=live_atelier).values_list("statement", flat=True))
    ok = [a.statement for a in attempts if a.status == 302]
    assert len(ok) >= POSTERS // 2
    assert sorted(stored) == sorted(ok), "the database and the accepted posts differ"
    assert len(set(stored)) == len(stored)
    assert not {a.statement for a in refused} & set(stored)
    # One version per accepted post and one for the phase: nothing else was written.
    assert _version(live_atelier) == start + len(ok) + 1

    # Every post the socket heard of committed before the atelier closed.
    events = []
    for text in pushes:
        marker = servers.VERSION_MARKER.search(text)
        if marker and marker.group(2) == "event":
            events.append((int(marker.group(1)), text))
    closing_versions = [version for version, text in events if 'data-phase="clos"' in text]
    posted_versions = [version for version, text in events if "afterbegin:#impossible-list" in text]
    assert posted_versions, "the socket heard no post"
    if closing_versions:  # pushes are at most once: the closing one may have been dropped
        assert max(posted_versions) < closing_versions[0], (closing_versions, sorted(posted_versions)[-5:])
