"""Faults, for real: Redis, a daphne process, PostgreSQL and the Wi-Fi go away.

The promise: whatever happens to them, no impossible, « moi aussi », offer or
action that the app accepted is lost or counted twice, and every screen ends
up showing what a fresh load shows. The database is the truth; the WebSocket
only tells clients to catch up.

Each scenario writes over HTTP like people do (a refused or failed form is
sent again with the same submission key), keeps a ledger of what the app
accepted, and compares it with the rows at the end: one row per accepted
submission, the final « moi aussi » of each person, counters that match
their rows, and an atelier version that grew by exactly one per change.
Screens are followed by `Follower`s (a thread speaking the live protocol
like board.js does) and, where it matters, by Chromium.

Nothing here touches the services other tests share: the Redis scenarios
start their own redis-server on a free port, and PostgreSQL is cut through a
TCP proxy owned by the test, in front of the same test database. Those
scenarios need PostgreSQL and Redis (the suite's second run); the others run
on both. ORM calls go through `orm()`, in a thread of their own, because
Playwright's sync API keeps an event loop running in the test's thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from boards.services import participation
from tests import servers, test_browser
from tests.test_browser_reconnect import Phone

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = [pytest.mark.faults, pytest.mark.servers]

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier
visitors = servers.visitors
browser = test_browser.browser

REDIS_OUTAGE_SECONDS = 30
DATABASE_OUTAGE_SECONDS = 10
ASLEEP_SECONDS = 60
# Once Redis is back, every screen shows the current board within this.
REDIS_RECOVERY_SECONDS = 15
# How soon sockets must hear that live updates stopped (probe every 2 s).
LAYER_DOWN_SECONDS = 8
RECONNECT_SECONDS = 30
ACCEPTED = {302, 204}

VERSION_MARKER = servers.VERSION_MARKER
PING_REPLY = re.compile(r'^<div id="live-ping" data-version="(\d+)"')
LAYER_STATE = re.compile(r'^<div id="live-layer" data-state="(up|down)"')

# The board as anyone sees it, whoever they are: cards in order with what they
# say and count, the totals (not who is online), and the version.
BOARD_JS = """() => ({
    cards: Array.from(document.querySelectorAll('#impossible-list > .card')).map(card => [
        card.id, card.hidden, card.querySelector('.count') ? card.querySelector('.count').dataset.count : null,
        card.querySelector('.statement').innerText.trim(),
        (card.querySelector('.offers') || {innerText: ''}).innerText.replace(/\\s+/g, ' ').trim(),
    ]),
    stats: document.getElementById('stats').innerText.replace(/\\s+/g, ' ').trim(),
    version: document.getElementById('live-version').dataset.version,
})"""


# --- Where the scenarios may run ------------------------------------------------------


def postgres_and_redis() -> None:
    """Skip unless this run has PostgreSQL and Redis (and redis-server to start our own)."""
    from django.db import connection

    missing = []
    if connection.vendor != "postgresql":
        missing.append("DATABASE_URL is not PostgreSQL")
    if not os.environ.get("REDIS_URL", "").strip():
        missing.append("REDIS_URL is unset")
    if missing:
        pytest.skip(f"{' and '.join(missing)}: this fault scenario runs in the suite's PostgreSQL + Redis run")
    if shutil.which("redis-server") is None:
        message = "redis-server is missing (apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: the fault scenarios are required in CI")
        pytest.skip(message)


@pytest.fixture(autouse=True)
def quiet_http_log():
    """Hundreds of requests: log only httpx's warnings."""
    logger = logging.getLogger("httpx")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


def orm(function: Callable[..., Any], *args: Any) -> Any:
    """Run ORM code in a thread of its own (Playwright's sync API keeps an
    event loop running in the test's thread, where Django refuses the ORM)."""
    from django.db import connections

    def run() -> Any:
        try:
            return function(*args)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def wait_until(condition: Callable[[], Any], what: str, timeout: float, poll: float = 0.1) -> float:
    """Poll `condition` until it is true; return how long it took, or fail after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(poll)
    return time.monotonic() - started


# --- Services the tests own ------------------------------------------------------------


class RedisServer:
    """A redis-server of our own, without persistence: started again, it is empty."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.port = servers.free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until(self.answers, f"redis-server on port {self.port} answering", timeout, poll=0.05)

    def command(self, *words: str) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(f"{' '.join(words)}\r\n".encode())
            return sock.recv(65536)

    def answers(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log_path.read_text()[-2000:]
        try:
            return self.command("PING").startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Gone at once, as a crash would have it (SIGKILL)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    postgres_and_redis()
    redis = RedisServer(tmp_path / "redis.log")
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to `target`. `cut()` drops every connection
    and refuses new ones, as a lost database server would; `restore()`
    listens again on the same port. `pause()` holds every byte, both ways,
    without closing anything, as a Wi-Fi gone silent does; `resume()` lets
    them through, in order, as TCP would once the link is back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = servers.free_port()
        self.listener: socket.socket | None = None
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.flowing = threading.Event()
        self.flowing.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self.flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self.flowing.wait()  # a silent link does not carry the close either
            self._drop(source, sink)

    def _drop(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
            with self.lock:
                self.sockets.discard(sock)

    def pause(self) -> None:
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def cut(self) -> None:
        self.flowing.set()
        if self.listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            self._drop(self.listener)
            self.listener = None
        with self.lock:
            connected = list(self.sockets)
        self._drop(*connected)

    def restore(self) -> None:
        self.start()


@pytest.fixture
def database_proxy(transactional_db) -> Iterator[TcpProxy]:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("DATABASE_URL is not PostgreSQL: the database blip runs in the suite's PostgreSQL + Redis run")
    settings = connection.settings_dict
    proxy = TcpProxy((settings.get("HOST") or "127.0.0.1", int(settings.get("PORT") or 5432)))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.cut()


# --- People writing, and what the app accepted ----------------------------------------


@dataclass
class Ledger:
    """What the app said yes to (302/204), and everything else it answered."""

    impossibles: Counter = field(default_factory=Counter)  # submission key -> accepted answers
    offers: Counter = field(default_factory=Counter)
    actions: Counter = field(default_factory=Counter)
    me_too: dict[tuple[str, int], bool] = field(default_factory=dict)  # (name, impossible) -> last accepted
    changes: Counter = field(default_factory=Counter)  # atelier code -> accepted changes
    answers: Counter = field(default_factory=Counter)  # status code or error name -> count
    unexpected: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    accepted_at: list[float] = field(default_factory=list)  # when each accepted request was sent
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, answer: int | str, latency: float, detail: str = "") -> None:
        with self.lock:
            self.answers[answer] += 1
            self.latencies.append(latency)
            if answer in ACCEPTED:
                self.accepted_at.append(time.monotonic() - latency)
            if detail:
                self.unexpected.append(detail)

    def failures(self, allowed: set[int | str] = frozenset()) -> dict[int | str, int]:
        return {answer: n for answer, n in self.answers.items() if answer not in ACCEPTED and answer not in allowed}


class Writer:
    """One person on their phone, without JavaScript: posts forms, and when a
    form fails, sends the same one again (same submission key) a moment later,
    through the next server if there are several, until it is accepted."""

    def __init__(
        self,
        visitor: servers.Visitor,
        name: str,
        ledger: Ledger,
        server_list: list[servers.DaphneServer],
        *,
        retry_for: float = 0.0,
        retry_on: frozenset = frozenset({503, "ConnectError", "ReadError", "RemoteProtocolError", "ReadTimeout"}),
    ) -> None:
        self.visitor = visitor
        self.name = name
        self.ledger = ledger
        self.servers = server_list
        self.retry_for = retry_for
        self.retry_on = retry_on
        self.mine: dict[int, bool] = {}
        self.keys: list[str] = []  # of the impossibles this person posted
        self.posted = 0
        self.offered = 0
        self.turn = random.randrange(len(server_list))

    def submit(self, path: str, data: dict[str, str]) -> httpx.Response | None:
        give_up = time.monotonic() + self.retry_for
        while True:
            server = self.servers[self.turn % len(self.servers)]
            self.turn += 1
            token = self.visitor.http.cookies.get("csrftoken")
            started = time.monotonic()
            try:
                response = self.visitor.http.post(server.url + path, data={"csrfmiddlewaretoken": token, **data})
            except httpx.HTTPError as error:
                answer: int | str = type(error).__name__
                self.ledger.note(answer, time.monotonic() - started, f"{self.name}: POST {path}: {error!r}")
            else:
                answer = response.status_code
                accepted = answer in ACCEPTED
                detail = "" if accepted or answer == 503 else f"{self.name}: POST {path} → {answer}"
                self.ledger.note(answer, time.monotonic() - started, detail)
                if accepted:
                    return response
                if answer == 503:
                    assert "Traceback" not in response.text and response.headers.get("Retry-After"), response.text
            if answer not in self.retry_on or time.monotonic() > give_up:
                if answer in self.retry_on:
                    self.ledger.note("gave up", 0.0, f"{self.name}: gave up POST {path}")
                return None
            time.sleep(0.5)

    def post_impossible(self, code: str, statement: str) -> int | None:
        key = secrets.token_hex(8)
        data = {"statement": statement, "category": "recrutement", "details": "", "submission_key": key}
        data["decision"] = "publish"  # past « Ça ressemble à… »: posted whatever it looks like
        response = self.submit(f"/a/{code}/impossibles/", data)
        if response is None:
            return None
        with self.ledger.lock:
            self.ledger.impossibles[key] += 1
            self.ledger.changes[code] += 1
        self.posted += 1
        self.keys.append(key)
        return int(re.search(r"#imp-(\d+)$", response.headers["location"]).group(1))

    def toggle_me_too(self, code: str, impossible: int) -> None:
        on = not self.mine.get(impossible, False)
        data = {"state": "on" if on else "off"}
        if self.submit(f"/a/{code}/impossibles/{impossible}/me-too/", data) is None:
            return
        self.mine[impossible] = on
        with self.ledger.lock:
            self.ledger.me_too[(self.name, impossible)] = on
            self.ledger.changes[code] += 1

    def offer_help(self, code: str, impossible: int) -> None:
        key = secrets.token_hex(8)
        data = {"kind": "expertise", "message": f"{self.name} peut aider", "contact": "", "submission_key": key}
        if self.submit(f"/a/{code}/impossibles/{impossible}/offers/", data) is None:
            return
        with self.ledger.lock:
            self.ledger.offers[key] += 1
            self.ledger.changes[code] += 1
        self.offered += 1

    def create_action(self, code: str, impossible: int) -> None:
        key = secrets.token_hex(8)
        data = {
            "title": f"Action de {self.name} {key[:4]}",
            "pilot_participant": "",
            "pilot_name": "Paule Pilote",
            "pilot_organisation": "Mairie",
            "next_step": "",
            "due_on": "",
            "status": "a_lancer",
            "submission_key": key,
        }
        if self.submit(f"/a/{code}/console/impossibles/{impossible}/actions/new/", data) is None:
            return
        with self.ledger.lock:
            self.ledger.actions[key] += 1
            self.ledger.changes[code] += 1

    def resubmit_impossible(self, code: str) -> None:
        """A double tap after the fact: this person's first form again. Accepted, nothing new."""
        data = {"statement": "Encore", "category": "recrutement", "details": "", "submission_key": self.keys[0]}
        assert self.submit(f"/a/{code}/impossibles/", data) is not None


# Per participant and ten minutes, the app takes 10 impossibles and 20 offers
# (boards/ratelimit.py): each writer stays under that.
MAX_POSTS = 8
MAX_OFFERS = 16
# Writers toggle « moi aussi » as fast as they can: a load, not the person
# the token bucket is for (tests/test_rate_limits.py, tests/test_floods_live.py).
LOAD_LIMITS = {"CERVEAU_RATE_LIMITS": "me_too=1000000/1"}


class Room:
    """Writers taking turns at random until they stop; the impossibles they share."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.impossibles: dict[str, list[int]] = {}
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def seed(self, code: str, writer: Writer, count: int) -> None:
        self.impossibles.setdefault(code, [])
        for n in range(count):
            impossible = writer.post_impossible(code, f"Impossible de départ n°{n + 1} de {writer.name}")
            assert impossible is not None, self.ledger.unexpected
            self.impossibles[code].append(impossible)

    def participant_turn(self, writer: Writer, code: str) -> None:
        targets = self.impossibles[code]
        roll = random.random()
        if roll < 0.2 and writer.posted < MAX_POSTS:
            impossible = writer.post_impossible(code, f"Impossible n°{writer.posted + 1} de {writer.name}")
            if impossible is not None:
                targets.append(impossible)
        elif roll < 0.4 and writer.offered < MAX_OFFERS:
            writer.offer_help(code, random.choice(targets))
        else:
            writer.toggle_me_too(code, random.choice(targets))

    def helper_turn(self, writer: Writer, code: str) -> None:
        if writer.offered < MAX_OFFERS:
            writer.offer_help(code, random.choice(self.impossibles[code]))

    def run(self, writer: Writer, turn: Callable[[Writer], None], pace: float = 0.25) -> None:
        def loop() -> None:
            while not self.stop.is_set():
                turn(writer)
                time.sleep(random.uniform(0, 2 * pace))

        thread = threading.Thread(target=loop, name=writer.name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), f"writer {thread.name} is stuck"

    def __enter__(self) -> Room:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def ledger_problems(ledger: Ledger, versions_before: dict[str, int]) -> list[str]:
    """What the database says against what the app accepted. Empty: nothing lost, nothing twice."""
    from django.db.models import Count, Q

    from boards.models import Atelier, HelpOffer, Impossible, MeToo, PlanAction

    codes = list(versions_before)
    problems = []

    def compare(kind: str, accepted: Counter, rows: Counter) -> None:
        lost = set(accepted) - set(rows)
        twice = {key: n for key, n in rows.items() if n > 1}
        unknown = set(rows) - set(accepted)
        if lost or twice or unknown:
            problems.append(f"{kind}: lost {sorted(lost)}, twice {twice}, never accepted {sorted(unknown)}")

    compare(
        "impossibles",
        ledger.impossibles,
        Counter(Impossible.objects.filter(atelier__code__in=codes).values_list("submission_key", flat=True)),
    )
    compare(
        "offers",
        ledger.offers,
        Counter(HelpOffer.objects.filter(impossible__atelier__code__in=codes).values_list("submission_key", flat=True)),
    )
    compare(
        "actions",
        ledger.actions,
        Counter(PlanAction.objects.filter(atelier__code__in=codes).values_list("submission_key", flat=True)),
    )
    wanted = {key for key, on in ledger.me_too.items() if on}
    rows = set(MeToo.objects.filter(impossible__atelier__code__in=codes).values_list("participant__name", "impossible"))
    if rows != wanted:
        problems.append(f"« moi aussi »: lost {sorted(wanted - rows)}, never accepted {sorted(rows - wanted)}")
    counted = Impossible.objects.filter(atelier__code__in=codes).annotate(
        me_too_rows=Count("me_toos", distinct=True),
        offer_rows=Count("offers", filter=Q(offers__hidden=False), distinct=True),
    )
    for impossible in counted:
        if (impossible.me_too_count, impossible.offer_count) != (impossible.me_too_rows, impossible.offer_rows):
            problems.append(
                f"impossible {impossible.pk} counts {impossible.me_too_count} « moi aussi » and "
                f"{impossible.offer_count} offers, its rows say {impossible.me_too_rows} and {impossible.offer_rows}"
            )
    for code, before in versions_before.items():
        version = Atelier.objects.values_list("version", flat=True).get(code=code)
        if version != before + ledger.changes[code]:
            problems.append(
                f"atelier {code} is at version {version}, {before} + {ledger.changes[code]} accepted changes"
            )
    return problems


def versions(*codes: str) -> dict[str, int]:
    from boards.models import Atelier

    return dict(Atelier.objects.filter(code__in=codes).values_list("code", "version"))


def log_in(server: servers.DaphneServer, account: servers.Account) -> servers.Visitor:
    """A facilitator's browser without JavaScript, logged in through the real form."""
    person = servers.Visitor(server=server, code="")
    page = person.get("/accounts/login/")
    data = {"csrfmiddlewaretoken": servers.csrf_token_in(page.text), "username": account.username}
    response = person.http.post(server.url + "/accounts/login/", data={**data, "password": account.password})
    assert response.status_code == 302, response.text[:2000]
    return person


# --- Screens without a browser -------------------------------------------------------


class Follower(threading.Thread):
    """A phone's live socket, as board.js runs it: versions applied in order, a
    gap or « live updates are back » answered with a resync, a ping every
    `ping_every` seconds (more often while updates are interrupted) with a
    resync if the page is still behind 3 s after the reply, and reconnection
    with jittered exponential back-off, to the next server after a refusal."""

    CATCH_UP = 3.0
    INTERRUPTED_PING = 10.0

    def __init__(
        self, label: str, server_list: list[servers.DaphneServer], code: str, session_id: str, version: int
    ) -> None:
        super().__init__(name=label, daemon=True)
        self.label = label
        self.servers = server_list
        self.code = code
        self.session_id = session_id
        self.version = version
        self.ping_every = 25.0
        self.state = "connecting"
        self.server_index = 0
        self.opens = 0
        self.closes: list[int | None] = []
        self.refusals: list[str] = []
        self.layer: list[tuple[float, str]] = []
        self.events = 0
        self.snapshots = 0
        self.arrivals: dict[int, float] = {}  # version -> when it arrived
        self.stopping = threading.Event()

    @property
    def server(self) -> servers.DaphneServer:
        return self.servers[self.server_index % len(self.servers)]

    def run(self) -> None:
        attempt = 0
        while not self.stopping.is_set():
            server = self.server
            url = f"{server.ws_url}/ws/a/{self.code}/?lang=fr&v={self.version}"
            try:
                connection = connect(
                    url,
                    origin=server.origin,
                    additional_headers={"Cookie": f"sessionid={self.session_id}"},
                    open_timeout=5,
                    close_timeout=1,
                    proxy=None,
                    max_size=None,
                )
            except Exception as error:  # refused, reset, timed out: all the same to a phone
                self.refusals.append(f"{server.port}: {error!r}")
                self.server_index += 1
                attempt += 1
                self.stopping.wait(random.uniform(0, min(8.0, 0.5 * 2**attempt)))
                continue
            self.opens += 1
            self.state = "online"
            attempt = 0
            code: int | None = None
            try:
                with connection:
                    self._follow(connection)
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
            if self.stopping.is_set():
                return
            self.closes.append(code)
            self.state = "offline"
            if code is not None and 4000 <= code < 5000:
                return
            attempt += 1
            self.stopping.wait(random.uniform(0, min(8.0, 0.5 * 2**attempt)))

    def _follow(self, connection) -> None:
        next_ping = time.monotonic() + self.ping_every
        catch_up: tuple[float, int] | None = None
        while not self.stopping.is_set():
            try:
                text = connection.recv(timeout=0.2)
            except TimeoutError:
                text = None
            now = time.monotonic()
            if isinstance(text, str):
                catch_up = self._handle(connection, text, now) or catch_up
                if self.state == "interrupted":
                    next_ping = min(next_ping, now + self.INTERRUPTED_PING)
            if now >= next_ping:
                connection.send(f'{{"type": "ping", "version": {self.version}}}')
                next_ping = now + (self.INTERRUPTED_PING if self.state == "interrupted" else self.ping_every)
            if catch_up and now >= catch_up[0]:
                if self.version < catch_up[1]:
                    self.resync(connection)
                catch_up = None

    def _handle(self, connection, text: str, now: float) -> tuple[float, int] | None:
        if layer := LAYER_STATE.match(text):
            self.layer.append((time.monotonic(), layer.group(1)))
            if layer.group(1) == "down":
                self.state = "interrupted"
            else:
                self.state = "online"
                self.resync(connection)
            return None
        if reply := PING_REPLY.match(text):
            return (now + self.CATCH_UP, int(reply.group(1))) if self.version < int(reply.group(1)) else None
        marker = VERSION_MARKER.search(text[:200])
        if marker is None:
            return None  # presence
        version, kind = int(marker.group(1)), marker.group(2)
        if kind == "snapshot":
            self.snapshots += 1
            self.version = version
        elif version == self.version + 1:
            self.events += 1
            self.version = version
            self.arrivals[version] = now
        elif version > self.version + 1:
            self.resync(connection)
        return None

    def resync(self, connection) -> None:
        connection.send(f'{{"type": "resync", "version": {self.version}}}')

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)

    def __str__(self) -> str:
        return (
            f"{self.label}: v{self.version} {self.state} on {self.server.port}, {self.opens} opens, closes "
            f"{self.closes}, {len(self.refusals)} refused, layer {[state for _t, state in self.layer]}, "
            f"{self.events} events, {self.snapshots} snapshots"
        )


@contextlib.contextmanager
def following(*followers: Follower) -> Iterator[list[Follower]]:
    """Start the followers; the list yielded takes more (`.append` starts them); all stop on exit."""

    class Started(list):
        def append(self, follower: Follower) -> None:
            follower.start()
            super().append(follower)

    started = Started()
    try:
        for follower in followers:
            started.append(follower)
        yield started
    finally:
        for follower in started:
            follower.stop()


def all_current(followers: list[Follower], code_versions: Callable[[], dict[str, int]]) -> bool:
    current = code_versions()
    return all(follower.state == "online" and follower.version == current[follower.code] for follower in followers)


def wait_all_current(followers: list[Follower], codes: list[str], timeout: float, what: str) -> float:
    try:
        return wait_until(lambda: all_current(followers, lambda: orm(versions, *codes)), what, timeout, poll=0.25)
    except AssertionError as error:
        current = orm(versions, *codes)
        raise AssertionError(f"{error}\nboard versions {current}\n" + "\n".join(map(str, followers))) from None


# --- Browser phones ----------------------------------------------------------------------


class FaultPhone(Phone):
    """test_browser_reconnect's phone, reading the board as anyone sees it."""

    def board(self) -> dict:
        return self.page.evaluate(BOARD_JS)

    def status(self):
        return self.page.locator("#live-status")


def fresh_board(observer: test_browser.Phone) -> dict:
    """What a fresh load shows: another person's page, in another browser context, reloaded."""
    response = observer.page.reload()
    assert response is not None and response.status == 200, response
    return observer.page.evaluate(BOARD_JS)


def shows_a_fresh_load(phones: list[FaultPhone], observer: test_browser.Phone, timeout: float) -> dict[str, float]:
    """Wait until every phone shows what a fresh load shows; return how long each took."""
    started = time.monotonic()
    took: dict[str, float] = {}
    while True:
        fresh = fresh_board(observer)
        for phone in phones:
            if phone.label not in took and phone.board() == fresh:
                took[phone.label] = time.monotonic() - started
        if len(took) == len(phones):
            return took
        if time.monotonic() - started > timeout:
            differ = "\n".join(f"phone {p.label} {p.board()}" for p in phones if p.label not in took)
            raise AssertionError(f"boards differ from a fresh load after {timeout:.0f} s:\n{differ}\nfresh {fresh}")
        time.sleep(0.5)


@contextlib.contextmanager
def phones(request, browser, server, code: str, count: int = 1, observer_server=None):
    """`count` phones under test (A, B…) on `server` (a daphne server, or
    anything with its url) and an observer, in a browser context of its own,
    whose reloads are the fresh loads."""
    people = [("A", "Alice", "entrepreneur"), ("B", "Bruno", "elu")][:count]
    under_test = [FaultPhone(browser, server, label, {"width": 360, "height": 740}) for label, _n, _r in people]
    observer = test_browser.Phone(browser, observer_server or server, "O", {"width": 412, "height": 915})
    try:
        for phone, (_label, name, role) in zip(under_test, people, strict=True):
            phone.join(code, name, role)
        observer.join(code, "Olivier", "pair")
        yield under_test, observer
    finally:
        for each in [*under_test, observer]:
            try:
                each.screenshot(request.node.name)
            finally:
                if each.errors:
                    print(f"phone {each.label} errors:", *each.errors, sep="\n  ")
                each.close()


# --- 1. Redis goes away ------------------------------------------------------------------


@pytest.fixture
def plan_atelier(live_atelier):
    """A second atelier, in the « Plan d'action » phase with two impossibles, and
    a facilitator who turns them into actions (committed before any browser starts)."""
    from boards.models import Atelier, new_join_code
    from boards.phases import Phase
    from boards.services import facilitation

    atelier = Atelier.objects.create(title="Atelier du plan", territory="Charente", code=new_join_code())
    author = participation.join_atelier(atelier, name="Aurore", organisation="Aurore SARL", role="entrepreneur")
    impossibles = [
        participation.post_impossible(
            author, statement=statement, category="foncier", submission_key=secrets.token_hex(8)
        )
        for statement in ("Impossible de trouver un local", "Impossible de loger les apprentis")
    ]
    facilitation.set_phase(atelier.pk, Phase.PLAN)
    account = servers.create_facilitator(atelier)
    return atelier, {impossible.pk: impossible.submission_key for impossible in impossibles}, account


@pytest.mark.browser
def test_redis_going_away_loses_no_write_and_every_screen_catches_up(
    request, tmp_path, own_redis, live_atelier, plan_atelier, visitors, browser
):
    from playwright.sync_api import expect

    plan, plan_impossibles, account = plan_atelier
    code, plan_code = live_atelier.code, plan.code
    environment = {**servers.server_environment(redis_url=own_redis.url), **LOAD_LIMITS}
    ledger = Ledger()
    with (
        servers.running_servers(2, tmp_path, env=environment) as (one, two),
        Room(ledger) as room,
        phones(request, browser, one, code, observer_server=two) as ([phone], observer),
    ):
        ledger.impossibles.update(plan_impossibles.values())
        before = orm(versions, code, plan_code)
        plan_impossibles = list(plan_impossibles)
        both = [one, two]
        writers = [
            Writer(visitors(both[n % 2], code, f"Écrivaine {n}"), f"Écrivaine {n}", ledger, both) for n in range(4)
        ]
        helpers = [
            Writer(visitors(both[n % 2], plan_code, f"Aidant {n}", "pair"), f"Aidant {n}", ledger, both)
            for n in range(2)
        ]
        facilitator = Writer(log_in(one, account), "Animatrice", ledger, both)
        room.seed(code, writers[0], 3)
        room.impossibles[plan_code] = plan_impossibles
        start = orm(versions, code, plan_code)
        followers = [
            Follower(f"suiveur {w.name}", [both[n % 2]], w.visitor.code, w.visitor.session_id, start[w.visitor.code])
            for n, w in enumerate(writers + helpers)
        ]
        with following(*followers) as followers:
            wait_all_current(followers, [code, plan_code], servers.LIVE_TIMEOUT, "every socket opened and current")
            expect(phone.status()).to_have_attribute("data-state", "online")
            for writer in writers:
                room.run(writer, lambda w: room.participant_turn(w, code))
            for helper in helpers:
                room.run(helper, lambda w: room.helper_turn(w, plan_code), pace=0.5)
            room.run(facilitator, lambda w: w.create_action(plan_code, random.choice(plan_impossibles)), pace=1.0)
            wait_until(lambda: sum(ledger.changes.values()) >= 20, "writes accepted before the outage", 30)

            own_redis.stop()
            down_at = time.monotonic()
            accepted_before = sum(ledger.changes.values())
            told = wait_until(
                lambda: all(f.state == "interrupted" for f in followers),
                "every socket told that live updates stopped",
                LAYER_DOWN_SECONDS,
            )
            expect(phone.status()).to_have_attribute("data-state", "offline", timeout=LAYER_DOWN_SECONDS * 1000)
            expect(phone.status()).to_have_text("Mise à jour en direct interrompue…")
            phone.assert_not_reloaded()
            phone.screenshot("redis-down")
            # Someone arriving now joins, sees the board, and is told to retry the socket later.
            late = visitors(two, code, "Retardataire", "agent")
            assert late.board_version(server=one) >= start[code]
            put_off = servers.open_socket(one, code, session_id=late.session_id)
            assert LAYER_STATE.match(put_off.recv().text).group(1) == "down"
            assert put_off.wait_closed() == 1011  # a few seconds later: the page retries then
            followers.append(Follower("suiveur retardataire", [one], code, late.session_id, start[code]))

            time.sleep(max(0.0, down_at + REDIS_OUTAGE_SECONDS - time.monotonic()))
            room.finish()
            # Meanwhile the phone caught up from the database, through its pings.
            phone_in_outage, board_in_outage = int(phone.board()["version"]), orm(versions, code)[code]
            accepted_during = sum(ledger.changes.values()) - accepted_before
            own_redis.start()
            up_at = time.monotonic()
            assert own_redis.command("DBSIZE").startswith(b":0"), "Redis came back with data"

            recovered = wait_all_current(
                followers, [code, plan_code], REDIS_RECOVERY_SECONDS, "every socket current once Redis is back"
            )
            expect(phone.status()).to_have_attribute(
                "data-state", "online", timeout=(REDIS_RECOVERY_SECONDS - (time.monotonic() - up_at)) * 1000
            )
            shows_a_fresh_load([phone], observer, REDIS_RECOVERY_SECONDS - (time.monotonic() - up_at))
            phone_recovered = time.monotonic() - up_at
            assert phone_recovered <= REDIS_RECOVERY_SECONDS
            phone.assert_not_reloaded()

            # Pushes cross processes again, through the empty Redis.
            events = {follower.label: follower.events for follower in followers}
            writers[1].toggle_me_too(code, room.impossibles[code][0])
            helpers[0].offer_help(plan_code, plan_impossibles[0])
            wait_all_current(followers, [code, plan_code], servers.LIVE_TIMEOUT, "pushes after Redis came back")
            assert all(follower.events > events[follower.label] for follower in followers), "\n".join(
                map(str, followers)
            )

        assert not ledger.failures(), f"requests failed while Redis was away: {ledger.failures()}\n{ledger.unexpected}"
        assert accepted_during > 0
        assert not orm(ledger_problems, ledger, before)
        for server in both:
            assert "Internal Server Error" not in server.log_path.read_text(), server.log_tail()
        test_browser.assert_no_errors(phone)
        print(
            f"\nRedis away {REDIS_OUTAGE_SECONDS} s: {accepted_during} writes accepted meanwhile "
            f"({dict(ledger.answers)}, slowest {max(ledger.latencies):.2f} s); sockets told in {told:.1f} s; "
            f"the phone showed v{phone_in_outage} of v{board_in_outage} at its end; back: sockets current in "
            f"{recovered:.1f} s, phone equal to a fresh load in {phone_recovered:.1f} s"
        )


# --- 2. A daphne process dies ---------------------------------------------------------


@pytest.mark.browser
def test_a_killed_server_process_loses_no_write_and_its_screens_come_back(
    request, tmp_path, own_redis, live_atelier, visitors, browser
):
    from playwright.sync_api import expect

    code = live_atelier.code
    environment = {**servers.server_environment(redis_url=own_redis.url), **LOAD_LIMITS}
    ledger = Ledger()
    with (
        servers.running_servers(2, tmp_path, env=environment) as (one, two),
        Room(ledger) as room,
        phones(request, browser, one, code, observer_server=two) as ([phone], observer),
    ):
        before = orm(versions, code)
        both = [one, two]
        # A form that fails because its server died is sent again, through the other one.
        writers = [
            Writer(visitors(both[n % 2], code, f"Écrivain {n}"), f"Écrivain {n}", ledger, both, retry_for=20)
            for n in range(4)
        ]
        room.seed(code, writers[0], 3)
        start = orm(versions, code)[code]
        followers = [
            Follower(f"suiveur {n}", [both[n % 3 == 2], both[n % 3 != 2]], code, w.visitor.session_id, start)
            for n, w in enumerate(writers * 2)
        ]
        on_one = [f for f in followers if f.server is one]
        with following(*followers):
            wait_all_current(followers, [code], servers.LIVE_TIMEOUT, "every socket opened and current")
            for writer in writers:
                room.run(writer, lambda w: room.participant_turn(w, code))
            wait_until(lambda: sum(ledger.changes.values()) >= 20, "writes accepted before the crash", 30)

            phone.outage = True
            one.stopping = True
            one.process.kill()
            one.process.wait(timeout=10)
            killed_at = time.monotonic()
            accepted_before = sum(ledger.changes.values())
            expect(phone.status()).to_have_attribute("data-state", "offline")
            wait_until(
                lambda: all(f.opens >= 2 for f in on_one), "the killed process's sockets reconnect elsewhere", 30
            )
            moved = time.monotonic() - killed_at
            one.restart()
            restarted_at = time.monotonic()
            wait_until(lambda: sum(ledger.changes.values()) >= accepted_before + 40, "writes after the restart", 30)
            room.finish()

            settled = wait_all_current(followers, [code], servers.LIVE_TIMEOUT, "every socket current")
            expect(phone.status()).to_have_attribute("data-state", "online", timeout=RECONNECT_SECONDS * 1000)
            phone_back = time.monotonic() - restarted_at
            shows_a_fresh_load([phone], observer, servers.LIVE_TIMEOUT)
            phone.outage = False
            phone.assert_not_reloaded()

        failed = ledger.failures(allowed={"ConnectError", "ReadError", "RemoteProtocolError"})
        assert not failed, f"{failed}\n{ledger.unexpected}"
        assert "gave up" not in " ".join(ledger.unexpected)
        assert not orm(ledger_problems, ledger, before)
        test_browser.assert_no_errors(phone)
        print(
            f"\nkilled a process: {sum(ledger.changes.values()) - accepted_before} writes accepted since, "
            f"{sum(n for a, n in ledger.answers.items() if a not in ACCEPTED)} retried ({dict(ledger.answers)}); "
            f"its sockets moved to the other process within {moved:.1f} s; all current {settled:.1f} s after the "
            f"writes stopped; the phone back online {phone_back:.1f} s after the restart"
        )


# --- 3. The database blips ----------------------------------------------------------------

UNAVAILABLE = "Le service est momentanément indisponible, réessayez dans un instant."


def test_a_database_blip_answers_503_then_recovers_by_itself_without_duplicates(
    tmp_path, database_proxy, live_atelier, visitors
):
    import json

    code = live_atelier.code
    environment = {**servers.server_environment(database_address=("127.0.0.1", database_proxy.port)), **LOAD_LIMITS}
    # Give up on a pooled connection sooner than the clients' 10 s timeout.
    environment["CERVEAU_DB_POOL_TIMEOUT"] = "5"
    ledger = Ledger()
    with servers.running_servers(1, tmp_path, env=environment) as (server,), Room(ledger) as room:
        pid = server.process.pid
        before = orm(versions, code)
        # People tap again a moment after « réessayez dans un instant », with the same form.
        writers = [
            Writer(visitors(server, code, f"Patiente {n}"), f"Patiente {n}", ledger, [server], retry_for=60)
            for n in range(3)
        ]
        room.seed(code, writers[0], 3)
        start = orm(versions, code)[code]
        followers = [Follower(f"suiveur {w.name}", [server], code, w.visitor.session_id, start) for w in writers]
        for follower in followers:
            follower.ping_every = 2.0  # so that sockets meet the blip too
        with following(*followers):
            wait_all_current(followers, [code], servers.LIVE_TIMEOUT, "every socket opened and current")
            for writer in writers:
                room.run(writer, lambda w: room.participant_turn(w, code))
            wait_until(lambda: sum(ledger.changes.values()) >= 15, "writes accepted before the blip", 30)

            database_proxy.cut()
            cut_at = time.monotonic()
            accepted_before = sum(ledger.changes.values())
            http = writers[0].visitor.http
            page = http.get(f"{server.url}/a/{code}/")
            assert page.status_code == 503, page.text[:2000]
            assert UNAVAILABLE in page.text and "Traceback" not in page.text
            assert int(page.headers["Retry-After"]) > 0
            token = http.cookies.get("csrftoken")
            htmx = http.post(
                f"{server.url}/a/{code}/impossibles/{room.impossibles[code][0]}/me-too/",
                data={"csrfmiddlewaretoken": token, "state": "on"},
                headers={"HX-Request": "true"},
            )
            assert htmx.status_code == 503, htmx.text[:2000]
            assert json.loads(htmx.headers["HX-Trigger"]) == {"cerveau:refused": {"message": UNAVAILABLE}}
            assert htmx.headers["Retry-After"]
            # Each socket closes at its next ping that needs the database; on a
            # busy machine that can take longer than the outage's nominal length,
            # which then lasts until they have (it is at least that long anyway).
            wait_until(
                lambda: all(f.closes for f in followers), "sockets closed by the blip", 3 * DATABASE_OUTAGE_SECONDS
            )
            assert {code for f in followers for code in f.closes} <= {1011}, "\n".join(map(str, followers))
            time.sleep(max(0.0, cut_at + DATABASE_OUTAGE_SECONDS - time.monotonic()))
            refused_during = ledger.answers[503]
            assert server.alive, server.log_tail()

            database_proxy.restore()
            restored_at = time.monotonic()
            # A request sent just before the cut may still have committed; none sent after it did.
            assert not [t for t in ledger.accepted_at if cut_at + 0.5 < t < restored_at], "accepted without a database"
            recovered = wait_until(
                lambda: http.get(f"{server.url}/a/{code}/").status_code == 200, "pages again", 30, poll=0.2
            )
            wait_until(
                lambda: sum(ledger.changes.values()) >= accepted_before + 15, "writes accepted after the blip", 30
            )
            room.finish()
            # A form sent again after the fact (same submission key) adds nothing.
            writers[0].resubmit_impossible(code)
            settled = wait_all_current(followers, [code], RECONNECT_SECONDS, "every socket current after the blip")

        assert server.process.pid == pid and server.alive, "the server was restarted or died"
        failed = ledger.failures(allowed={503})
        assert not failed, f"{failed}\n{ledger.unexpected}"
        assert refused_during > 0
        assert not orm(ledger_problems, ledger, before)
        log = server.log_path.read_text()
        assert "Internal Server Error" not in log, server.log_tail()
        print(
            f"\ndatabase away {DATABASE_OUTAGE_SECONDS} s: {refused_during} writes answered 503 and sent again "
            f"({dict(ledger.answers)}, slowest {max(ledger.latencies):.2f} s); pages again {recovered:.1f} s after "
            f"it came back, sockets current {time.monotonic() - restored_at:.1f} s after (closes "
            f"{[f.closes for f in followers]}, {sum(len(f.refusals) for f in followers)} refused reconnections, "
            f"settled in {settled:.1f} s)"
        )


# --- 4. A phone goes to sleep, or its Wi-Fi drops ----------------------------------------


@dataclass
class Via:
    """A server as the phones reach it, through a proxy."""

    url: str


@pytest.mark.browser
def test_phones_asleep_or_offline_for_a_minute_come_back_to_exactly_the_current_board(
    request, daphne_server, live_atelier, visitors, browser
):
    from playwright.sync_api import expect

    code = live_atelier.code
    # The phones' Wi-Fi: between them and the server, so their open sockets can go silent.
    wifi = TcpProxy(("127.0.0.1", daphne_server.port))
    wifi.start()
    ledger = Ledger()
    with (
        Room(ledger) as room,
        phones(request, browser, Via(wifi.url), code, count=2, observer_server=daphne_server) as (
            [asleep, offline],
            observer,
        ),
    ):
        before = orm(versions, code)
        writers = [
            Writer(visitors(daphne_server, code, f"Voisine {n}"), f"Voisine {n}", ledger, [daphne_server])
            for n in range(5)
        ]
        room.seed(code, writers[0], 3)
        for phone in (asleep, offline):
            expect(phone.page.locator("#live-version")).to_have_attribute("data-version", str(before[code] + 3))
            phone.outage = True
        # Both lose the network: nothing new gets out, and their open sockets
        # hear nothing (without knowing it). One phone is asleep too: its
        # page's timers and tasks are frozen; the other one's keep running.
        wifi.pause()
        for phone in (asleep, offline):
            phone.context.set_offline(True)
        lifecycle = asleep.context.new_cdp_session(asleep.page)
        lifecycle.send("Page.setWebLifecycleState", {"state": "frozen"})
        gone_at = time.monotonic()
        for change in range(100):
            # 30 impossibles, 20 offers and 50 « moi aussi », every half second.
            writer = writers[change % len(writers)]
            if change % 10 < 3:
                writer = min(writers, key=lambda w: w.posted + (w is writers[0]) * 3)
                room.impossibles[code].append(writer.post_impossible(code, f"Impossible pendant la sieste n°{change}"))
            elif change % 10 < 5:
                writer.offer_help(code, random.choice(room.impossibles[code]))
            else:
                writer.toggle_me_too(code, random.choice(room.impossibles[code]))
            time.sleep(max(0.0, gone_at + (change + 1) * 0.5 - time.monotonic()))
        assert sum(ledger.changes.values()) == 3 + 100, ledger.unexpected
        # The page that kept running noticed its ping went unanswered.
        expect(offline.status()).to_have_attribute("data-state", "offline")
        assert int(offline.board()["version"]) < before[code] + 103
        time.sleep(max(0.0, gone_at + ASLEEP_SECONDS - time.monotonic()))

        wifi.resume()
        for phone in (asleep, offline):
            phone.context.set_offline(False)
        lifecycle.send("Page.setWebLifecycleState", {"state": "active"})
        took = shows_a_fresh_load([asleep, offline], observer, RECONNECT_SECONDS)
        for phone in (asleep, offline):
            expect(phone.status()).to_have_attribute("data-state", "online")
            phone.outage = False
            phone.assert_not_reloaded()
        assert not ledger.failures(), ledger.unexpected
        assert not orm(ledger_problems, ledger, before)
        test_browser.assert_no_errors(asleep, offline)
        print(
            f"\n{ASLEEP_SECONDS} s away during 100 changes: the phone asleep shows a fresh load's board "
            f"{took['A']:.1f} s after waking, the one offline {took['B']:.1f} s after the Wi-Fi came back"
        )
    wifi.cut()


# --- 5. A slow client ----------------------------------------------------------------------


class StalledSocket:
    """A phone whose socket opened, then stopped reading: the handshake
    completes and nothing is ever read again (a tiny receive buffer, full at once)."""

    def __init__(self, server: servers.DaphneServer, code: str, session_id: str, version: int) -> None:
        import base64

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", server.port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /ws/a/{code}/?lang=fr&v={version} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nOrigin: {server.origin}\r\nCookie: sessionid={session_id}\r\n\r\n"
            ).encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += self.sock.recv(1)
        assert answer.startswith(b"HTTP/1.1 101"), answer
        self.port = self.sock.getsockname()[1]

    def connected(self, server: servers.DaphneServer) -> bool:
        """Whether the server still holds this connection."""
        return any(
            connection.raddr and connection.raddr.port == self.port
            for connection in psutil.Process(server.process.pid).net_connections(kind="tcp")
        )

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class MemoryWatch(threading.Thread):
    """Samples a process's resident memory every 100 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.samples: list[tuple[float, int]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.1):
            self.samples.append((time.monotonic(), self.process.memory_info().rss))

    def peak(self, since: float = 0.0, until: float = float("inf")) -> int:
        return max(rss for t, rss in self.samples if since <= t <= until)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# daphne pings an idle socket after 2 s and drops it if no pong came 4 s later.
PING_ARGS = ("--ping-interval", "2", "--ping-timeout", "4")
STALLED = 10
MB = 1024 * 1024


def test_sockets_that_stop_reading_neither_slow_the_room_nor_grow_the_server(tmp_path, live_atelier, visitors):
    code = live_atelier.code
    environment = {**servers.server_environment(), **LOAD_LIMITS}
    with servers.running_servers(1, tmp_path, env=environment, args=PING_ARGS) as (server,):
        ledger = Ledger()
        before = orm(versions, code)
        writer = Writer(visitors(server, code, "Rapide"), "Rapide", ledger, [server])
        Room(ledger).seed(code, writer, 3)
        watchers = [visitors(server, code, f"Lectrice {n}") for n in range(3)]
        stalled_people = [visitors(server, code, f"Endormi {n}") for n in range(STALLED)]
        start = orm(versions, code)[code]
        impossibles = [int(n) for n in re.findall(r'id="imp-(\d+)"', writer.visitor.get(f"/a/{code}/").text)]

        def push(seconds: float = 60.0, until: Callable[[], bool] = lambda: False) -> list[float]:
            """« moi aussi » on and off, one after the other, for `seconds` or `until`; the push delay of each."""
            sent: list[tuple[int, float]] = []
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not until():
                started = time.monotonic()
                writer.toggle_me_too(code, random.choice(impossibles))
                sent.append((start + sum(ledger.changes.values()) - 3, started))
            wait_all_current(followers, [code], servers.LIVE_TIMEOUT, "the readers current")
            return [f.arrivals[version] - started for version, started in sent for f in followers]

        followers = [Follower(f"lectrice {n}", [server], code, p.session_id, start) for n, p in enumerate(watchers)]
        memory = MemoryWatch(server.process.pid)
        memory.start()
        with following(*followers):
            wait_all_current(followers, [code], servers.LIVE_TIMEOUT, "the readers connected")
            calm = push(4)
            baseline = memory.peak()

            stalled = [StalledSocket(server, code, p.session_id, start) for p in stalled_people]
            stalled_at = time.monotonic()
            # Pushes go on until the server has dropped every stalled socket.
            stuck = push(20, until=lambda: not any(s.connected(server) for s in stalled))
            dropped = time.monotonic() - stalled_at
            assert not any(s.connected(server) for s in stalled), f"stalled sockets still held after {dropped:.0f} s"
            stuck_rss = memory.peak(since=stalled_at)
            after = push(2)
            # The person comes back (the phone wakes): a fresh socket with their old version.
            returning = Follower("revenant", [server], code, stalled_people[0].session_id, start)
            followers.append(returning)
            returning.start()
            wait_all_current(followers, [code], servers.LIVE_TIMEOUT, "the returning phone resynced")
            assert returning.snapshots == 1
        memory.stopping.set()
        for s in stalled:
            s.close()
        assert server.alive
        assert not ledger.failures(), ledger.unexpected
        assert not orm(ledger_problems, ledger, before)
        grown = (stuck_rss - baseline) / MB
        print(
            f"\n{STALLED} sockets stopped reading during {len(stuck) // len(followers)} pushes: readers' push "
            f"delay p50/p95/max {percentile(stuck, 0.5) * 1000:.0f}/{percentile(stuck, 0.95) * 1000:.0f}/"
            f"{max(stuck) * 1000:.0f} ms (calm {percentile(calm, 0.5) * 1000:.0f}/"
            f"{percentile(calm, 0.95) * 1000:.0f}/{max(calm) * 1000:.0f} ms, after "
            f"{percentile(after, 0.95) * 1000:.0f} ms p95); stalled sockets dropped after {dropped:.1f} s; "
            f"daphne RSS {baseline / MB:.0f} MB, +{grown:.1f} MB at most while they were stuck"
        )
        assert percentile(stuck, 0.95) < max(1.0, 3 * percentile(calm, 0.95))
        assert grown < 50


# --- Back-off and the database refusal, without breaking anything -----------------------------


@pytest.mark.browser
def test_reconnecting_after_a_clean_close_backs_off_exponentially_with_full_jitter(
    request, daphne_server, live_atelier, browser
):
    with phones(request, browser, daphne_server, live_atelier.code) as ([phone], _observer):
        samples = phone.page.evaluate(
            "() => [0, 1, 2, 3, 4, 5, 8].map("
            "    n => [n, Array.from({length: 400}, () => window.cerveauLive.reconnectDelay(n))])"
        )
    for attempt, delays in samples:
        ceiling = min(30_000, 2_000 * 2**attempt)
        assert all(500 <= delay <= 500 + ceiling for delay in delays), (attempt, min(delays), max(delays))
        # Spread over the whole window: a room does not come back at once.
        assert max(delays) - min(delays) > 0.8 * ceiling, (attempt, min(delays), max(delays))
    assert max(max(delays) for _attempt, delays in samples) <= 30_500


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_a_lost_database_answers_503_with_a_message_to_try_again(alice, atelier, monkeypatch, htmx):
    import json

    from django.db import OperationalError

    from boards.models import Impossible

    impossible = Impossible.objects.create(atelier=atelier, author=alice.participant, statement="x", category="autre")

    def lost(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(participation, "set_me_too", lost)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = alice.post(f"/a/{atelier.code}/impossibles/{impossible.pk}/me-too/", {"state": "on"}, **headers)
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    text = response.content.decode()
    assert UNAVAILABLE in text and "Traceback" not in text and "OperationalError" not in text
    if htmx:
        assert json.loads(response["HX-Trigger"]) == {"cerveau:refused": {"message": UNAVAILABLE}}
