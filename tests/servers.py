"""Real daphne processes for end-to-end tests, and clients that talk to them.

A test module takes the fixtures by naming them (pytest finds fixtures among
a module's attributes; ``pytest_plugins`` would clash with importing the helpers)::

    from tests import servers

    daphne_server = servers.daphne_server

The servers run ``python -m daphne cerveau.asgi:application`` as subprocesses
with debug off, against the database the test run uses (the SQLite test file
or the PostgreSQL test database) and the same Redis, if any. Tests that use
them must commit their data: take ``live_atelier`` (or ``transactional_db``),
never ``db``, whose transaction the servers cannot see.

Fixtures:
    daphne_server   one process (module scope)
    daphne_pair     two processes sharing the channel layer (skipped without Redis)
    live_atelier    a committed atelier with a fresh code
    visitors        joins visitors like join_atelier() and closes them after the test

``create_facilitator(atelier)`` adds a committed account with a password to the
atelier's facilitators (before any browser starts: it uses the ORM).

``DaphneServer.restart()`` stops a process and starts another on the same port,
as a redeploy would: the browsers' sockets drop, then reconnect to the same URL.

Clients:
    join_atelier()  a phone without JavaScript: httpx with its own cookie jar,
                    joined through the real form (CSRF included)
    open_socket()   the board's WebSocket with the session cookie and an Origin
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from boards.live import protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from websockets.sync.client import ClientConnection

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
# How long a live update may take to arrive before a test gives up.
LIVE_TIMEOUT = 10.0
HTTP_TIMEOUT = 10.0

VERSION_MARKER = protocol.VERSION_MARKER
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
DEFAULT_ORIGIN = object()


# --- Server processes ---------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_environment(settings_dict: dict[str, Any], address: tuple[str, int] | None = None) -> dict[str, str]:
    """Environment variables that point cerveau.settings at this database
    (PostgreSQL: reached at `address`, host and port, when one is given)."""
    engine = settings_dict["ENGINE"]
    name = str(settings_dict["NAME"])
    if engine.endswith("sqlite3"):
        if name == ":memory:" or name.startswith("file:") or "mode=memory" in name:
            raise RuntimeError(f"an in-memory SQLite database ({name!r}) cannot be shared with a server process")
        return {"CERVEAU_SQLITE_PATH": name}
    if "postgresql" in engine:
        user = quote(settings_dict.get("USER") or "", safe="")
        password = quote(str(settings_dict.get("PASSWORD") or ""), safe="")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = quote(address[0] if address else settings_dict.get("HOST") or "localhost", safe="")
        port = address[1] if address else settings_dict.get("PORT")
        port = f":{port}" if port else ""
        options = {key: value for key, value in (settings_dict.get("OPTIONS") or {}).items() if isinstance(value, str)}
        query = f"?{urlencode(options)}" if options else ""
        return {"DATABASE_URL": f"postgres://{credentials}{host}{port}/{quote(name, safe='')}{query}"}
    raise RuntimeError(f"no server environment for database engine {engine!r}")


def server_environment(*, redis_url: str = "", database_address: tuple[str, int] | None = None) -> dict[str, str]:
    """The test run's database and channel layer, with debug off. `redis_url`
    and `database_address` (PostgreSQL's host and port) point the servers at
    another Redis, or at the same database through another address."""
    from django.db import connection

    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CERVEAU_SQLITE_PATH", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="cerveau.settings",
        DJANGO_DEBUG="0",
        CERVEAU_INSECURE_DEFAULTS="1",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    env.update(database_environment(connection.settings_dict, database_address))
    if env_redis := redis_url or os.environ.get("REDIS_URL", "").strip():
        env["REDIS_URL"] = env_redis
    return env


def shared_channel_layer() -> bool:
    """Whether pushes cross process boundaries (the in-memory layer does not)."""
    from django.conf import settings

    return "InMemory" not in settings.CHANNEL_LAYERS["default"]["BACKEND"]


class ServerDied(AssertionError):
    pass


@dataclass
class DaphneServer:
    """One ``daphne`` subprocess; stderr and stdout go to ``log_path``."""

    log_path: Path
    env: dict[str, str]
    # More daphne options, e.g. ("--ping-interval", "2").
    args: tuple[str, ...] = ()
    port: int = 0
    process: subprocess.Popen | None = None
    stopping: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return self.url

    def start(self, port: int | None = None) -> None:
        """Start the process on `port`, or on a free port when none is given."""
        self.port = port or free_port()
        self.stopping = False
        log = self.log_path.open("ab")
        log.write(f"--- daphne on port {self.port}\n".encode())
        log.flush()
        daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), *self.args]
        self.process = subprocess.Popen(
            [*daphne, "cerveau.asgi:application"],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Poll until the port accepts connections; fail with the log if the process exits."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive("while starting")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise ServerDied(
                        f"daphne did not listen on port {self.port} within {timeout:.0f} s.\n{self.log_tail()}"
                    ) from None
                time.sleep(0.05)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self, when: str = "") -> None:
        if self.process is not None and self.process.poll() is not None and not self.stopping:
            raise ServerDied(
                f"daphne on port {self.port} exited with code {self.process.returncode}"
                f"{' ' + when if when else ''}.\n{self.log_tail()}"
            )

    def log_tail(self, chars: int = 6000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return f"--- server log {self.log_path} (last {chars} chars) ---\n{text[-chars:]}"

    def stop(self) -> None:
        if self.process is None:
            return
        self.stopping = self.process.poll() is None
        if self.stopping:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def restart(self) -> None:
        """Stop the process and start a new one on the same port (clients reconnect
        to the same URL); return once it answers HTTP."""
        port = self.port
        self.stop()
        for attempt in range(3):
            self.start(port)
            try:
                self.wait_ready()
                break
            except ServerDied:
                # The old socket may linger for a moment: try the same port again.
                if attempt == 2 or "Address already in use" not in self.log_tail(500):
                    raise
                self.stop()
                time.sleep(0.5)
        check_home_page(self)


@contextlib.contextmanager
def running_servers(
    count: int, log_dir: Path, *, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[list[DaphneServer]]:
    """Start `count` daphne processes at once, yield them when all listen,
    stop them on exit. A process that died meanwhile fails the teardown with its log.
    `env` replaces `server_environment()`; `args` are more daphne options."""
    env = env or server_environment()
    servers = [DaphneServer(log_path=log_dir / f"daphne-{index + 1}.log", env=env, args=args) for index in range(count)]
    try:
        for server in servers:
            server.start()
        for server in servers:
            for attempt in range(3):
                try:
                    server.wait_ready()
                    break
                except ServerDied:
                    # Another program may have taken the free port in between: retry on a new one.
                    if attempt == 2 or "Address already in use" not in server.log_tail():
                        raise
                    server.stop()
                    server.start()
            check_home_page(server)
        yield servers
        for server in servers:
            server.check_alive("during the tests")
    finally:
        for server in servers:
            server.stop()


def check_home_page(server: DaphneServer) -> None:
    try:
        response = httpx.get(server.url + "/", timeout=HTTP_TIMEOUT, trust_env=False)
    except httpx.HTTPError as error:
        raise ServerDied(f"daphne on port {server.port} does not answer HTTP: {error!r}\n{server.log_tail()}") from None
    if response.status_code != 200:
        raise ServerDied(f"GET / answered {response.status_code}.\n{response.text[:2000]}\n{server.log_tail()}")


@pytest.fixture(scope="module")
def daphne_server(django_db_setup, tmp_path_factory) -> Iterator[DaphneServer]:
    """One daphne process serving the test database."""
    with running_servers(1, tmp_path_factory.mktemp("daphne")) as (server,):
        yield server


@pytest.fixture(scope="module")
def daphne_pair(daphne_server, tmp_path_factory) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    """Two daphne processes (the module's `daphne_server` and one more) sharing Redis."""
    if not shared_channel_layer():
        pytest.skip(
            "REDIS_URL is unset: the in-memory channel layer lives inside one process, so two daphne "
            "processes cannot share pushes (scripts/test.sh runs this with Redis)"
        )
    with running_servers(1, tmp_path_factory.mktemp("daphne")) as (second,):
        yield daphne_server, second


@pytest.fixture
def live_atelier(transactional_db):
    """A committed atelier (the servers see only committed rows) with a fresh code."""
    from boards.models import Atelier, new_join_code

    code = new_join_code()
    while Atelier.objects.filter(code=code).exists():
        code = new_join_code()
    return Atelier.objects.create(title="Atelier de l'impossible — Bout en bout", territory="Charente", code=code)


@dataclass(frozen=True)
class Account:
    username: str
    password: str


def create_facilitator(atelier: Any, username: str = "") -> Account:
    """A committed user with a password who facilitates `atelier`, to log in
    through the real login page. Uses the ORM: call it before a browser starts."""
    from django.contrib.auth import get_user_model

    username = username or f"anim-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    user = get_user_model().objects.create_user(username, f"{username}@example.org", password)
    atelier.facilitators.add(user)
    return Account(username=username, password=password)


# --- HTTP clients ---------------------------------------------------------------


def new_http_client(local_address: str | None = None) -> httpx.Client:
    """`local_address` sends from another loopback address (any of
    127.0.0.0/8 reaches the servers on Linux): a phone on another network."""
    transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
    return httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False, trust_env=False, transport=transport)


def csrf_token_in(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, f"no csrfmiddlewaretoken in the page:\n{html[:2000]}"
    return match.group(1)


def version_in(html: str) -> tuple[int, str]:
    """(version, kind) of the first live-version marker in a page or push."""
    match = VERSION_MARKER.search(html)
    assert match, f"no live-version marker in:\n{html[:2000]}"
    return int(match.group(1)), match.group(2)


@dataclass
class Visitor:
    """A participant's phone without JavaScript: its own cookie jar.

    Cookies belong to the host, not the port, so one visitor can use any
    of the servers: pass ``server=`` to an action to go through another one.
    """

    server: DaphneServer
    code: str
    http: httpx.Client = field(default_factory=new_http_client)
    sockets: list[LiveSocket] = field(default_factory=list)

    def url(self, path: str, server: DaphneServer | None = None) -> str:
        return (server or self.server).url + path

    @property
    def session_id(self) -> str:
        session = self.http.cookies.get("sessionid")
        assert session, "this visitor has no session cookie (not joined?)"
        return session

    def get(self, path: str, *, server: DaphneServer | None = None, expect: int = 200) -> httpx.Response:
        response = self.http.get(self.url(path, server))
        assert response.status_code == expect, (
            f"GET {path} answered {response.status_code}, expected {expect}\n{response.text[:2000]}"
        )
        return response

    def post(
        self, path: str, data: dict[str, str], *, server: DaphneServer | None = None, expect: int = 302
    ) -> httpx.Response:
        # The CSRF cookie holds the secret, which Django accepts as the form token.
        token = self.http.cookies.get("csrftoken")
        assert token, "no csrftoken cookie: GET a page with a form first"
        response = self.http.post(self.url(path, server), data={"csrfmiddlewaretoken": token, **data})
        assert response.status_code == expect, (
            f"POST {path} answered {response.status_code}, expected {expect}\n{response.text[:2000]}"
        )
        return response

    def join(self, name: str, role: str, organisation: str = "") -> Visitor:
        join_path = f"/a/{self.code}/join/"
        page = self.get(join_path)
        data = {"csrfmiddlewaretoken": csrf_token_in(page.text), "name": name, "organisation": organisation}
        response = self.http.post(self.url(join_path), data={**data, "role": role})
        assert response.status_code == 302, f"joining answered {response.status_code}\n{response.text[:2000]}"
        assert response.headers["location"] == f"/a/{self.code}/", response.headers["location"]
        assert self.http.cookies.get("sessionid"), "joining set no session cookie"
        return self

    def board_version(self, *, server: DaphneServer | None = None) -> int:
        version, kind = version_in(self.get(f"/a/{self.code}/", server=server).text)
        assert kind == "page"
        return version

    def post_impossible(
        self, statement: str, *, category: str = "recrutement", server: DaphneServer | None = None
    ) -> int:
        data = {"statement": statement, "category": category, "details": "", "submission_key": secrets.token_hex(8)}
        data["decision"] = "publish"  # past « Ça ressemble à… »: posted whatever it looks like
        response = self.post(f"/a/{self.code}/impossibles/", data, server=server)
        match = re.search(r"#imp-(\d+)$", response.headers["location"])
        assert match, f"unexpected redirect after posting: {response.headers['location']}"
        return int(match.group(1))

    def me_too(self, impossible_id: int, *, on: bool = True, server: DaphneServer | None = None) -> None:
        self.post(
            f"/a/{self.code}/impossibles/{impossible_id}/me-too/", {"state": "on" if on else "off"}, server=server
        )

    def offer_help(
        self, impossible_id: int, message: str, *, kind: str = "expertise", server: DaphneServer | None = None
    ) -> None:
        data = {"kind": kind, "message": message, "contact": "", "submission_key": secrets.token_hex(8)}
        self.post(f"/a/{self.code}/impossibles/{impossible_id}/offers/", data, server=server)

    def socket(self, server: DaphneServer | None = None, **kwargs: Any) -> LiveSocket:
        """Open the board's socket with this visitor's session (closed with the visitor)."""
        live = open_socket(server or self.server, self.code, session_id=self.session_id, **kwargs)
        self.sockets.append(live)
        return live

    def close(self) -> None:
        for live in self.sockets:
            with contextlib.suppress(Exception):
                live.close()
        self.http.close()


def join_atelier(server: DaphneServer, code: str, name: str, role: str = "entrepreneur", organisation: str = ""):
    """Join through the real form (GET the page, POST with its CSRF token); return the visitor."""
    return Visitor(server=server, code=code).join(name, role, organisation or f"{name} SARL")


# --- WebSocket client --------------------------------------------------------------


@dataclass
class Frame:
    text: str
    version: int | None
    kind: str | None

    def __str__(self) -> str:
        label = f"v{self.version} {self.kind}" if self.version is not None else "unversioned"
        return f"<{label}: {self.text[:300]!r}>"


@dataclass
class LiveSocket:
    connection: ClientConnection
    server: DaphneServer
    url: str
    received: list[Frame] = field(default_factory=list)

    def _fail(self, message: str) -> AssertionError:
        frames = "\n".join(f"  {frame}" for frame in self.received[-10:]) or "  (none)"
        self.server.check_alive()
        return AssertionError(f"{message}\nsocket {self.url}\nframes received:\n{frames}\n{self.server.log_tail(3000)}")

    def _frame(self, text: str | bytes) -> Frame:
        if isinstance(text, bytes):
            text = text.decode()
        match = VERSION_MARKER.search(text)
        frame = Frame(text, int(match.group(1)), match.group(2)) if match else Frame(text, None, None)
        self.received.append(frame)
        return frame

    def recv(self, timeout: float = LIVE_TIMEOUT) -> Frame:
        """The next frame, whatever it is."""
        return self.wait_for(lambda _frame: True, "anything", timeout)

    def wait_for(self, predicate: Callable[[Frame], bool], what: str, timeout: float = LIVE_TIMEOUT) -> Frame:
        """The first frame (from now) that satisfies `predicate`; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                text = self.connection.recv(timeout=remaining)
            except TimeoutError:
                break
            except ConnectionClosed as closed:
                raise self._fail(f"the server closed the socket while waiting for {what}: {closed}") from None
            frame = self._frame(text)
            if predicate(frame):
                return frame
        raise self._fail(f"no frame with {what} within {timeout:.0f} s")

    def next_versioned(self, timeout: float = LIVE_TIMEOUT) -> Frame:
        """The next board push (snapshot or event), skipping unversioned presence counts."""
        return self.wait_for(lambda frame: frame.version is not None, "a live-version marker", timeout)

    def send_json(self, message: dict[str, Any]) -> None:
        self.connection.send(json.dumps(message))

    def wait_closed(self, timeout: float = LIVE_TIMEOUT, *, after_frames: bool = False) -> int:
        """Wait for the server to close the socket; return its close code. Fails
        on any data frame, unless `after_frames` (pushes may come first)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                text = self.connection.recv(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise self._fail(f"the server did not close the socket within {timeout:.0f} s") from None
            except ConnectionClosed as closed:
                assert closed.rcvd is not None, f"closed without a close frame: {closed}"
                return closed.rcvd.code
            if not after_frames:
                raise self._fail(f"expected the socket to be closed, received {str(text)[:500]!r}")

    def close(self) -> None:
        self.connection.close()


def open_socket(
    server: DaphneServer,
    code: str,
    *,
    session_id: str | None = None,
    version: int | str = "",
    lang: str = "fr",
    origin: Any = DEFAULT_ORIGIN,
) -> LiveSocket:
    """Open the board's WebSocket like the page does: `/ws/a/<code>/?lang=..&v=..`,
    with the session cookie and the server's own Origin (unless told otherwise;
    ``origin=None`` sends no Origin header)."""
    url = f"{server.ws_url}/ws/a/{code}/?lang={lang}&v={version}"
    headers = {"Cookie": f"sessionid={session_id}"} if session_id else {}
    try:
        connection = connect(
            url,
            origin=server.origin if origin is DEFAULT_ORIGIN else origin,
            additional_headers=headers,
            open_timeout=LIVE_TIMEOUT,
            close_timeout=2,
            proxy=None,
            compression=None,
            legacy=True,  # return the connection itself (not a reconnecting iterator)
        )
    except InvalidStatus as error:
        # A refusal before the handshake reaches browsers as 1006, which htmx retries forever.
        server.check_alive()
        raise AssertionError(
            f"WebSocket handshake refused with HTTP {error.response.status_code} instead of accept-then-close\n"
            f"{server.log_tail(3000)}"
        ) from None
    return LiveSocket(connection=connection, server=server, url=url)


@pytest.fixture
def visitors() -> Iterator[Callable[..., Visitor]]:
    """`visitors(server, code, name, role)` joins like `join_atelier`; every
    visitor's sockets and HTTP client are closed after the test."""
    joined: list[Visitor] = []

    def join(server: DaphneServer, code: str, name: str, role: str = "entrepreneur", organisation: str = ""):
        visitor = join_atelier(server, code, name, role, organisation)
        joined.append(visitor)
        return visitor

    yield join
    for visitor in joined:
        visitor.close()
