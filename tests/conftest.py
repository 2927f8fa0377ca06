"""Shared fixtures: an atelier and named personas who have joined it.

alice is an entrepreneur, bob an élu, charlie a peer; outsider has not joined.
Each persona has its own Django test client (own session cookie).
"""

from __future__ import annotations

import secrets

import pytest
from django.contrib.auth.models import User
from django.test import Client

from boards.access import session_key
from boards.live import publish
from boards.models import Atelier, Category, Impossible, Role
from boards.services import participation

# Loading the ASGI application sets Django up again, which reconfigures
# logging and would drop the log capture of whichever test loads it first.
import cerveau.asgi  # noqa: F401  isort: skip


@pytest.fixture
def atelier(db) -> Atelier:
    return Atelier.objects.create(title="Atelier de l'impossible — Test", territory="Charente", code="TST234")


@pytest.fixture
def other_atelier(db) -> Atelier:
    return Atelier.objects.create(title="Autre atelier", territory="Gironde", code="AUTRE9")


def _persona(atelier: Atelier, name: str, role: str):
    participant = participation.join_atelier(atelier, name=name, organisation=f"{name} SARL", role=role)
    client = Client()
    session = client.session
    session[session_key(atelier.pk)] = participant.pk
    session.save()
    client.cookies["sessionid"] = session.session_key
    client.participant = participant
    return client


@pytest.fixture
def alice(atelier):
    return _persona(atelier, "Alice", Role.ENTREPRENEUR)


@pytest.fixture
def bob(atelier):
    return _persona(atelier, "Bob", Role.ELECTED)


@pytest.fixture
def charlie(atelier):
    return _persona(atelier, "Charlie", Role.PEER)


@pytest.fixture
def outsider(db):
    return Client()


def post_impossible(participant, statement: str = "Impossible de recruter des soudeurs", **extra) -> Impossible:
    fields = {"category": Category.RECRUITMENT, "submission_key": secrets.token_urlsafe(8), **extra}
    return participation.post_impossible(participant, statement=statement, **fields)


# The site as the socket tests' browser reaches it: its Host header and its pages' origin.
SITE_HOST = "127.0.0.1:8000"
SITE_ORIGIN = f"http://{SITE_HOST}"


def browser_socket(
    path: str, *, origin: str | None = SITE_ORIGIN, host: str = SITE_HOST, cookie: str | None = None, secure=False
):
    """A WebSocket client on the full ASGI stack, with the headers a browser
    sends: Host (the site it reached), Origin (the page's), its cookie.
    `secure`: the page was served over HTTPS."""
    from channels.testing import WebsocketCommunicator

    from cerveau.asgi import application

    headers = [(b"host", host.encode("latin-1"))]
    if origin is not None:
        headers.append((b"origin", origin.encode("latin-1")))
    if cookie is not None:
        headers.append((b"cookie", cookie.encode("latin-1")))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    if secure:
        communicator.scope["scheme"] = "wss"
    return communicator


async def close_communicators(opened: list, timeout: float) -> None:
    """Close test WebSocket clients, newest first, and fail if any consumer
    crashed instead of closing."""
    crashed = []
    for communicator in reversed(opened):
        future = communicator.future
        if future.done():
            if not future.cancelled() and future.exception() is not None:
                crashed.append(future.exception())
            continue
        await communicator.disconnect(timeout=timeout)
    assert not crashed, f"a consumer crashed: {crashed!r}"


@pytest.fixture
def events():
    """Every event the actions publish during the test, after commit."""
    captured: list = []
    publish.listeners.append(captured)
    yield captured
    publish.listeners.remove(captured)


@pytest.fixture(autouse=True)
def fresh_caches(settings, request):
    """Each test starts with no failed join-code look-ups on record, and no
    board rendered: rolled-back tests reuse atelier ids and versions, which
    key the rendered cards and snapshots (boards/cards.py)."""
    caches = dict(settings.CACHES)
    caches["default"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": request.node.nodeid}
    caches["ratelimit"] = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": f"ratelimit-{request.node.nodeid}",
        "OPTIONS": {"MAX_ENTRIES": 1_000_000},
    }
    settings.CACHES = caches


# --- Facilitators: Django accounts in `Atelier.facilitators` ---------------------------------


def _facilitator_client(username: str, *ateliers: Atelier) -> Client:
    """A logged-in client; the user has no usable password (no slow hashing)."""
    user = User.objects.create_user(username, email=f"{username}@example.org")
    for atelier in ateliers:
        atelier.facilitators.add(user)
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def facilitator(atelier) -> Client:
    """Fanny runs `atelier`."""
    return _facilitator_client("fanny", atelier)


@pytest.fixture
def co_facilitator(atelier) -> Client:
    """Colin co-runs `atelier` with Fanny."""
    return _facilitator_client("colin", atelier)


@pytest.fixture
def other_facilitator(other_atelier) -> Client:
    """Olga runs `other_atelier` only."""
    return _facilitator_client("olga", other_atelier)
