"""The only module that talks to the channel layer.

Events leave here only after the transaction that made them has committed
(`on_commit`): a client told about version N can always read version N.
A fragment is rendered once per event and language, then sent to the
group of every socket reading that language: never once per socket.

The channel layer delivers at most once (a full channel drops messages,
Redis may be away), so a failed send is logged and never undoes a write:
clients notice the version gap, or their next ping, and resync.

While Redis is away a process's sockets stay open but hear nothing, so each
process that has sockets checks its layer every few seconds (`LayerWatch`):
its sockets are told when live updates stop and when they come back, and
then ask for the board if they fell behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import uuid
from functools import partial
from typing import Any, Protocol

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

Event = dict[str, Any]

# Tests append a list here to capture what every action emits.
listeners: list[list[tuple[int, int, Event]]] = []


def group_name(atelier_id: int, language: str) -> str:
    return f"atelier-{atelier_id}-{language}"


def languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


# Pages opened through a public or follow-up link hear only that the board
# moved on (a version "tick"), never the board's own fragments: they fetch
# what they may show over HTTP.
TICKS = "ticks"


def tick(version: int, kind: str = "event") -> str:
    return f'<div id="live-version" data-version="{int(version)}" data-kind="{kind}" hidden></div>'


def on_commit(atelier_id: int, version: int, event: Event) -> None:
    transaction.on_commit(partial(publish, atelier_id, version, event))


def publish(atelier_id: int, version: int, event: Event) -> None:
    from boards import fragments

    for captured in listeners:
        captured.append((atelier_id, version, event))
    try:
        messages = fragments.event_messages(atelier_id, version, event)
    except Exception:
        logger.exception("could not render event %s v%s for atelier %s", event, version, atelier_id)
        messages = {}
    send(atelier_id, {**messages, TICKS: tick(version)})


def send(atelier_id: int, messages: dict[str, str]) -> None:
    layer = get_channel_layer()
    for language, html in messages.items():
        try:
            async_to_sync(layer.group_send)(group_name(atelier_id, language), {"type": "board.message", "html": html})
        except Exception:
            logger.warning("live update to atelier %s (%s) not sent; clients will resync", atelier_id, language)


async def send_async(atelier_id: int, messages: dict[str, str]) -> None:
    layer = get_channel_layer()
    for language, html in messages.items():
        try:
            await layer.group_send(group_name(atelier_id, language), {"type": "board.message", "html": html})
        except Exception:
            logger.warning("live update to atelier %s (%s) not sent; clients will resync", atelier_id, language)


def close_atelier(atelier_id: int) -> None:
    """The atelier is gone: tell its sockets to close for good."""
    layer = get_channel_layer()
    for language in [*languages(), TICKS]:
        try:
            async_to_sync(layer.group_send)(group_name(atelier_id, language), {"type": "board.close"})
        except Exception:
            logger.warning("could not close the sockets of deleted atelier %s (%s)", atelier_id, language)


def token_group(token: str) -> str:
    """The sockets of pages opened through one share or follow-up link."""
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:40]


def close_token(token: str) -> None:
    """A share or follow-up link was revoked: pages opened with it close."""
    _close_group(token_group(token), 4404, "a revoked link")


def close_session(group: str, code: int) -> None:
    """Close every socket of one browser session (after logging out)."""
    _close_group(group, code, "a session that logged out")


# This browser no longer speaks for the socket's person: logged out, or
# their data erased (« Mes données »).
CLOSE_SIGNED_OUT = 4401


def participant_group(atelier_id: int, participant_id: int) -> str:
    """The sockets one participant opened (their phone, their other tabs)."""
    return f"participant-{atelier_id}-{participant_id}"


def close_participant(atelier_id: int, participant_id: int) -> None:
    """A participant was forgotten: the pages still open for them close."""
    _close_group(participant_group(atelier_id, participant_id), CLOSE_SIGNED_OUT, "a forgotten participant")


def team_group(atelier_id: int, user_id: int) -> str:
    """The sockets one facilitator opened on one atelier."""
    return f"team-{atelier_id}-{user_id}"


def close_team_member(atelier_id: int, user_id: int) -> None:
    """Someone left the atelier's team: their open console and projector close
    (4403, not a member), as they would refuse to open now."""
    _close_group(team_group(atelier_id, user_id), 4403, "a facilitator removed from the team")


def _close_group(group: str, code: int, whose: str) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(group, {"type": "board.close", "code": code})
    except Exception:
        logger.warning("could not close the sockets of %s", whose)


# --- Is the channel layer carrying messages? -------------------------------------

LAYER_DOWN = '<div id="live-layer" data-state="down" hidden></div>'
LAYER_UP = '<div id="live-layer" data-state="up" hidden></div>'
PROBE_EVERY_SECONDS = 2.0
PROBE_TIMEOUT_SECONDS = 2.0
# A socket that cannot join the layer is closed after this long (seconds).
PUT_OFF_SECONDS = (3.0, 8.0)
CLOSE_TRY_AGAIN = 1011


class LayerListener(Protocol):
    async def layer_changed(self, html: str) -> None: ...


class LayerWatch:
    """One process's round trip through its channel layer (a message sent to a
    channel of its own must come back), every few seconds while some of its
    sockets listen. A publish that fails or a subscription that went deaf with
    Redis both count as down; listeners hear LAYER_DOWN, then LAYER_UP."""

    def __init__(self, layer) -> None:
        self.layer = layer
        self.listeners: set[LayerListener] = set()
        self.up = True
        self.task: asyncio.Task | None = None
        self.channel: str | None = None
        self.echo: asyncio.Queue[str] = asyncio.Queue()

    def add(self, listener: LayerListener) -> None:
        self.listeners.add(listener)
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        receiver: asyncio.Task | None = None
        try:
            while self.listeners:
                if receiver is None and self.channel is not None:
                    receiver = asyncio.ensure_future(self._receive(self.channel))
                up = await self._probe()
                if up != self.up:
                    self.up = up
                    if up:
                        logger.warning("channel layer is back: live updates resume, clients resync")
                    else:
                        logger.warning("channel layer unavailable: live updates stop, clients are told")
                    for listener in list(self.listeners):
                        await listener.layer_changed(LAYER_UP if up else LAYER_DOWN)
                await asyncio.sleep(PROBE_EVERY_SECONDS)
        finally:
            if receiver is not None:
                receiver.cancel()
            self.channel = None

    async def _probe(self) -> bool:
        token = uuid.uuid4().hex
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                if self.channel is None:
                    self.channel = await self.layer.new_channel("probe.")
                    return True
                await self.layer.send(self.channel, {"type": "probe", "token": token})
                while await self.echo.get() != token:
                    pass
                return True
        except Exception:
            return False

    async def _receive(self, channel: str) -> None:
        while True:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(1)
                continue
            self.echo.put_nowait(message.get("token", ""))


_watches: dict[tuple[asyncio.AbstractEventLoop, int], LayerWatch] = {}


def watch_layer(layer, listener: LayerListener) -> None:
    """Tell `listener` when this process's channel layer stops or resumes
    carrying messages, until `unwatch_layer`. The in-memory layer never does."""
    if type(layer).__name__ == "InMemoryChannelLayer":
        return
    key = (asyncio.get_running_loop(), id(layer))
    watch = _watches.get(key)
    if watch is None:
        watch = _watches[key] = LayerWatch(layer)
    watch.add(listener)


def unwatch_layer(layer, listener: LayerListener) -> None:
    watch = _watches.get((asyncio.get_running_loop(), id(layer)))
    if watch is None:
        return
    watch.listeners.discard(listener)
    if not watch.listeners:
        # Nobody left to tell: stop now rather than at the next probe.
        _watches.pop((asyncio.get_running_loop(), id(layer)), None)
        if watch.task is not None:
            watch.task.cancel()


async def put_off(receive, send) -> None:
    """A socket that got no channel (the layer is away): accept it, say live
    updates are interrupted, and close it with 1011 a few seconds later.
    A socket that opened resets htmx's back-off, so this pause is what paces
    a room's retries; meanwhile the page shows the right state."""
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": LAYER_DOWN})
    try:
        async with asyncio.timeout(random.uniform(*PUT_OFF_SECONDS)):
            while (await receive())["type"] != "websocket.disconnect":
                pass  # pings and resyncs wait for the layer
            return
    except TimeoutError:
        await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN})
