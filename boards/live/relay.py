"""This process's side of the channel layer: one relay per group fans each
push out to the local sockets, presence changes are coalesced, and the
layer's health is watched.

A push reaches a process once per atelier and language: one relay per
process subscribes to the group and writes the frame to every local socket
of that group. Sockets do not each take the push through the channel layer
(receive, decode, dispatch), which was most of a push's cost in a full room
(docs/benchmarks.md).

While Redis is away a process's sockets stay open but hear nothing, so each
process that has sockets checks its layer every few seconds (`LayerWatch`):
its sockets are told when live updates stop and when they come back, and
then ask for the board if they fell behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
import uuid
from typing import Any, Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from boards.live import messages, presence, protocol, publish, wire

logger = logging.getLogger(__name__)


class Socket(Protocol):
    """What a relay needs of a socket (boards.live.consumers.BoardConsumer)."""

    accepted: bool
    # daphne's connection, written to directly (boards.live.wire), or None.
    wire: wire.Wire | None
    # Whose socket it is (protocol.session_group and the like): a close order
    # naming one of them closes it.
    own_groups: tuple[str, ...]

    async def send(self, text_data: str) -> None: ...

    async def close(self, code: int) -> None: ...


# --- One relay per group and process ---------------------------------------------------------


class GroupRelay:
    """This process's single subscription to one group, fanning its pushes
    out to the local sockets that joined it.

    One group is not an atelier's: protocol.CLOSE_GROUP carries the close
    orders for every socket (a session that logged out, a forgotten
    participant, a revoked link), each naming whose sockets close. Every
    local socket joins its relay too, so a socket takes no subscription of
    its own on the channel layer; that relay sends no beats and no news of
    the layer (each socket's atelier relay does)."""

    def __init__(self, group: str, layer) -> None:
        self.group = group
        self.layer = layer
        self.pushes = group != protocol.CLOSE_GROUP
        self.sockets: set[Socket] = set()
        self.ready = asyncio.Event()
        # When the subscription was made (time.monotonic()), and the newest
        # board version passed on: see `quiet_since`.
        self.ready_at: float | None = None
        self.latest = 0
        self.failed = False
        self.task: asyncio.Task | None = None
        self.beating: asyncio.Task | None = None

    async def start(self) -> None:
        try:
            self.channel = await self.layer.new_channel()
            await self.layer.group_add(self.group, self.channel)
        except BaseException:
            # Sockets waiting for this relay hear that it failed.
            self.failed = True
            self.ready.set()
            raise
        self.ready_at = time.monotonic()
        self.task = asyncio.ensure_future(self._forward())
        if self.pushes:
            self.beating = asyncio.ensure_future(self._beat())
            watch_layer(self.layer, self)
        self.ready.set()

    async def stop(self) -> None:
        await self.ready.wait()
        if self.failed:
            return
        if self.pushes:
            unwatch_layer(self.layer, self)
        for task in (self.task, self.beating):
            if task is not None:
                task.cancel()
        try:
            await self.layer.group_discard(self.group, self.channel)
        except Exception:
            logger.warning("could not leave group %s", self.group)

    async def _forward(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis away: pushes are lost meanwhile, clients resync.
                logger.warning("relay for %s lost the channel layer; retrying", self.group)
                await asyncio.sleep(1)
                continue
            if message.get("type") == protocol.CLOSE:
                # An order for the whole group (an atelier deleted), or for
                # the sockets of one session, participant, team member, link.
                whose = message.get("group")
                closed = [s for s in self.sockets if s.accepted and (whose is None or whose in s.own_groups)]
                for socket in closed:
                    with contextlib.suppress(Exception):
                        await socket.close(code=message.get("code", protocol.Close.GONE))
            else:
                # Noted before anything is sent: a socket that joins meanwhile sees it.
                self.latest = max(self.latest, message.get("version") or 0)
                await self.send_all(message["html"])

    async def send_all(self, text: str) -> None:
        """Write `text` to every local socket that listens: framed once for
        all of daphne's connections (boards.live.wire), through the ASGI
        send for the others. A socket closing meanwhile misses it."""
        frame = None
        for socket in [socket for socket in self.sockets if socket.accepted]:
            try:
                if socket.wire is not None:
                    frame = frame or wire.frame(text)
                    socket.wire.write(frame)
                else:
                    await socket.send(text_data=text)
            except Exception:
                logger.info("push to a closing socket of %s dropped", self.group)

    async def _beat(self) -> None:
        """A few bytes to every local socket every BEAT_SECONDS, from this
        process alone (no database, no channel layer): a phone whose
        connection died silently notices it by the beats it stops hearing."""
        while True:
            await asyncio.sleep(BEAT_SECONDS)
            await self.send_all(protocol.BEAT)

    async def layer_changed(self, html: str) -> None:
        """The channel layer stopped or resumed (LayerWatch): tell the local sockets."""
        await self.send_all(html)


# Read at each beat, so tests can slow it down.
BEAT_SECONDS: float = protocol.BEAT_SECONDS

_relays: dict[tuple[asyncio.AbstractEventLoop, str], GroupRelay] = {}


async def join(group: str, socket: Socket, layer) -> None:
    """Relay `group`'s pushes to `socket` from now on. Raises if the channel
    layer cannot be reached (no relay of that group was running here)."""
    key = (asyncio.get_running_loop(), group)
    relay = _relays.get(key)
    if relay is None:
        relay = _relays[key] = GroupRelay(group, layer)
        relay.sockets.add(socket)
        try:
            await relay.start()
        except Exception:
            if _relays.get(key) is relay:
                _relays.pop(key)
            raise
    else:
        relay.sockets.add(socket)
        await relay.ready.wait()
        if relay.failed:
            relay.sockets.discard(socket)
            raise ConnectionError(f"the relay of {group} could not reach the channel layer")


def quiet_since(group: str, since: float, version: int) -> bool:
    """Whether this process's relay of `group` was subscribed before `since`
    (time.monotonic()) and has never passed on a board version newer than
    `version`.

    A socket that read its atelier's version after `since`, and joined the
    relay before asking this, then misses nothing: a write committed after
    that read is pushed after it, through a subscription made before it,
    and reaches the socket; one committed before it is in the version read.
    The page that read the same version needs no snapshot, and the socket
    no second look at the database (BoardConsumer.catch_up)."""
    relay = _relays.get((asyncio.get_running_loop(), group))
    # ready_at is set once the subscription is made (never for a relay that failed).
    return relay is not None and relay.ready_at is not None and relay.ready_at < since and relay.latest <= version


async def leave(group: str, socket: Socket) -> None:
    """Stop relaying `group` to `socket` (nothing if it was not listening)."""
    key = (asyncio.get_running_loop(), group)
    relay = _relays.get(key)
    if relay is None or socket not in relay.sockets:
        return
    relay.sockets.discard(socket)
    if not relay.sockets:
        # Unlisted first: a socket arriving meanwhile starts a fresh relay.
        _relays.pop(key, None)
        await relay.stop()


# --- Presence, coalesced ----------------------------------------------------------------------

# Presence changes are coalesced: a room of 300 people walking in must not
# become 300 × 300 frames.
PRESENCE_DELAY_SECONDS = 1.0
_presence_pending: dict[int, asyncio.Task] = {}


async def _publish_presence_later(atelier_id: int) -> None:
    try:
        await asyncio.sleep(PRESENCE_DELAY_SECONDS)
    finally:
        _presence_pending.pop(atelier_id, None)
    try:
        online = await database_sync_to_async(presence.online_count)(atelier_id)
    except Exception:
        logger.exception("could not count who is online in atelier %s", atelier_id)
        return
    html = messages.presence_message(online)
    await publish.send_async(atelier_id, dict.fromkeys(messages.languages(), html))


def presence_changed(atelier_id: int) -> None:
    """Someone came or left: the room hears the new count within a second."""
    if atelier_id not in _presence_pending:
        _presence_pending[atelier_id] = asyncio.ensure_future(_publish_presence_later(atelier_id))


# --- Is the channel layer carrying messages? -------------------------------------------------

PROBE_EVERY_SECONDS = 2.0
PROBE_TIMEOUT_SECONDS = 2.0
# A socket that cannot join the layer is closed after this long (seconds).
PUT_OFF_SECONDS = (3.0, 8.0)


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
                        await listener.layer_changed(protocol.LAYER_UP if up else protocol.LAYER_DOWN)
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


def layer_up(layer) -> bool:
    """Whether this process's channel layer carried its last probe (True
    while nothing here watches it: then joining a relay tries it)."""
    watch = _watches.get((asyncio.get_running_loop(), id(layer)))
    return watch is None or watch.up


def put_off_seconds() -> float:
    """How long a socket put off (the layer is away) stays open before it is
    closed with TRY_AGAIN. A socket that opened resets htmx's back-off, so
    this pause is what paces a room's retries; meanwhile the page shows the
    right state."""
    return random.uniform(*PUT_OFF_SECONDS)


# --- The health check's round trip --------------------------------------------------------------

# A layer that takes longer than this to echo one message cannot carry a room.
HEALTH_TIMEOUT_SECONDS = 2.0


async def check_layer() -> None:
    """Send this process a message through its channel layer and get it back;
    raise if that fails or takes longer than HEALTH_TIMEOUT_SECONDS."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    await asyncio.wait_for(_round_trip(layer), HEALTH_TIMEOUT_SECONDS)


async def _release(layer: Any, channel: str) -> None:
    # Layers have no "delete channel": a consumer gives its channel up by
    # having its pending receive cancelled, which is when channels_redis'
    # pubsub layer unsubscribes. Do the same, or every check would leave a
    # subscription behind in Redis.
    pending = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0)  # let it start waiting
    pending.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await pending


async def _round_trip(layer: Any) -> None:
    channel = await layer.new_channel()
    token = secrets.token_hex(8)
    try:
        await layer.send(channel, {"type": "healthz.ping", "token": token})
    except BaseException:
        await _release(layer, channel)
        raise
    # A receive cancelled by the timeout releases the channel itself.
    message = await layer.receive(channel)
    await _release(layer, channel)
    if message.get("token") != token:
        raise RuntimeError("the channel layer answered with another message")
