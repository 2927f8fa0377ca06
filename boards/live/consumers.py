"""The board's WebSocket: authorise, join the groups, resync, forward.

No business rules and no board writes live here: changes arrive over HTTP
and go through `boards.services`; who may listen is `boards.access`'s
answer; what a push or a snapshot says is `boards.live.messages`'; pushes
reach this socket through its process's relay (`boards.live.relay`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch

from boards import access, ratelimit
from boards.live import identity, messages, presence, protocol, relay, wire
from boards.live.protocol import ClientMessage, Close
from boards.live.security import log_socket, origin_of
from boards.models import Participant
from boards.reads import clean_view, current_version

logger = logging.getLogger(__name__)


class BoardConsumer(AsyncWebsocketConsumer):
    """A participant's or a facilitator's page of one atelier (`ws/a/<code>/`).

    A socket takes no channel of its own on the channel layer: everything it
    hears comes through its process's relays (its atelier's group for its
    language, and the close orders), so opening and closing one costs Redis
    nothing once its atelier has a socket in this process."""

    viewer: access.Viewer | None = None
    # The relays this socket listens to: its atelier's group for this page's
    # language, and protocol.CLOSE_GROUP.
    relays: tuple[str, ...] = ()
    # Whose socket it is, for close orders: its browser session, link, team
    # membership, participant (protocol.session_group and the like).
    own_groups: tuple[str, ...] = ()
    # Pushes that reach the relay before the handshake completes are skipped:
    # the resync that follows the handshake covers them.
    accepted = False
    # Set once we close the socket: messages still queued behind are dropped.
    closing = False
    # daphne's connection, to which the relay writes pushes framed once.
    wire: wire.Wire | None = None
    # A socket put off (the layer is away) closes itself a few seconds later.
    put_off_task: asyncio.Task | None = None

    async def __call__(self, scope, receive, send) -> None:
        """Channels' consumer loop, without the channel it would open on the
        layer for each socket (a Redis subscription, and its unsubscription
        at close, per socket)."""
        self.scope = scope
        self.channel_layer = get_channel_layer()
        # This socket's name in the presence table and in the logs.
        self.channel_name = f"socket.{uuid.uuid4().hex}"
        self.base_send = send
        try:
            await await_many_dispatch([receive], self.dispatch)
        except StopConsumer:
            pass
        finally:
            # A handler that failed (the database away) never reaches
            # disconnect(): leave the relays anyway, or they keep this socket.
            await self.leave_relays()

    async def dispatch(self, message: dict) -> None:
        """Channels' dispatch, without closing old database connections in a
        thread hop of its own before every message: each of our database
        calls goes through database_sync_to_async, which does it anyway."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def leave_relays(self) -> None:
        relays, self.relays = self.relays, ()
        for group in relays:
            await relay.leave(group, self)

    @property
    def participant(self) -> Participant | None:
        return self.viewer.participant if self.viewer else None

    def find_viewer(self) -> access.Viewer | None:
        return access.viewer_for_scope(self.scope, self.scope["url_route"]["kwargs"]["code"])

    def group_language(self, asked: str) -> str:
        return asked if asked in messages.languages() else messages.languages()[0]

    def groups_of(self, viewer: access.Viewer) -> list[str]:
        session = self.scope.get("session")
        groups = [protocol.session_group(session.session_key)] if session is not None and session.session_key else []
        if viewer.facilitator:
            groups.append(protocol.team_group(viewer.atelier.pk, self.scope["user"].pk))
        if viewer.participant is not None:
            groups.append(protocol.participant_group(viewer.atelier.pk, viewer.participant.pk))
        return groups

    def log(self, level: int, message: str, *args: object, **fields: object) -> None:
        log_socket(
            level,
            message,
            *args,
            atelier=self.viewer.atelier.pk if self.viewer else None,
            origin=origin_of(self.scope),
            channel=getattr(self, "channel_name", None),
            path=self.scope.get("path"),
            log=logger,
            **fields,
        )

    def arrive(self) -> tuple[access.Viewer | None, bool]:
        """Who this socket speaks for, and whether it is counted in (False:
        that participant has too many sockets open): one database hand-off."""
        identity.resolve_user(self.scope)
        viewer = self.find_viewer()
        if viewer is None or viewer.participant is None:
            return viewer, True
        return viewer, presence.connect(viewer.participant, self.channel_name, most=ratelimit.sockets_per_participant())

    async def connect(self) -> None:
        self.bucket = ratelimit.MessageBucket()
        if not relay.layer_up(self.channel_layer):
            await self.put_off()
            return
        # Taken before `arrive` reads the atelier (and its version): catch_up.
        since = time.monotonic()
        viewer, counted = await database_sync_to_async(self.arrive)()
        if viewer is None:
            await self.refuse_handshake(Close.NOT_A_MEMBER, "not-member", logging.INFO, "not a member")
            return
        if not counted:
            self.viewer = viewer  # for the log line; not counted: nothing to undo at disconnect
            await self.refuse_handshake(Close.FLOOD, "sockets", logging.WARNING, "too many sockets for one participant")
            self.viewer = None
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.viewer = viewer
        self.language = self.group_language((query.get("lang") or [""])[0])
        # What this page shows (sort, category): snapshots re-render that view.
        self.view = clean_view((query.get("sort") or [""])[0], (query.get("category") or [""])[0], viewer.atelier)
        # Join the atelier's group before reading the version: anything
        # committed after the read is pushed to us, anything before is in the
        # snapshot.
        self.own_groups = tuple(self.groups_of(viewer))
        try:
            for group in (protocol.atelier_group(viewer.atelier.pk, self.language), protocol.CLOSE_GROUP):
                self.relays += (group,)
                await relay.join(group, self, self.channel_layer)
        except Exception:
            await self.leave_relays()
            if self.participant is not None:
                await database_sync_to_async(presence.disconnect)(self.channel_name)
            self.viewer = None
            await self.put_off()
            return
        await self.accept()
        self.wire = self.scope.get(wire.SCOPE_KEY)
        self.accepted = True
        self.log(logging.INFO, "websocket connected", event="ws.connect")
        if self.participant is not None:
            relay.presence_changed(viewer.atelier.pk)
        await self.catch_up((query.get("v") or [""])[0], viewer.atelier.version, since)

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        """A page that went away since (a phone leaving mid-handshake on bad
        Wi-Fi) misses what we send it: daphne refuses to send on a closed
        connection, which is no error of ours and ends nothing else."""
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except Disconnected:
            self.log(logging.INFO, "websocket gone before a send", event="ws.gone")

    async def refuse_handshake(self, code: int, reason: str, level: int, why: str) -> None:
        """Accept, then close with a 4xxx code: browsers report a refused
        handshake as 1006, which htmx retries forever."""
        self.log(level, f"websocket refused: {why}", event="ws.reject", code=int(code), reason=reason)
        await self.accept()
        await self.close(code=int(code))

    async def put_off(self) -> None:
        """The channel layer (Redis) is away: accept, say that live updates
        are interrupted, and close with TRY_AGAIN a few seconds later (what
        the socket sends meanwhile is ignored; the page retries then)."""
        logger.warning("websocket put off: the channel layer is unavailable")
        self.closing = True
        await self.accept()
        self.wire = self.scope.get(wire.SCOPE_KEY)
        await self.send(text_data=protocol.LAYER_DOWN)
        self.put_off_task = asyncio.ensure_future(self.close_to_retry(relay.put_off_seconds()))

    async def close_to_retry(self, after: float) -> None:
        """Close with TRY_AGAIN (1011, which htmx retries) after `after`
        seconds. autobahn sends no 1011 for an ASGI close (only 1000 and
        3000–4999); daphne sends it itself, on the connection, when an
        application fails: so do we, through the connection's wire."""
        await asyncio.sleep(after)
        if self.wire is not None:
            if self.wire.open:
                self.wire.protocol.sendCloseFrame(code=int(Close.TRY_AGAIN), isReply=False)
        else:
            await self.close(code=int(Close.TRY_AGAIN))

    async def disconnect(self, code: int) -> None:
        if self.put_off_task is not None:
            self.put_off_task.cancel()
        if self.viewer is not None:
            self.log(logging.INFO, "websocket disconnected", event="ws.disconnect", code=code)
        await self.leave_relays()
        if self.participant is not None:
            await database_sync_to_async(presence.disconnect)(self.channel_name)
            relay.presence_changed(self.viewer.atelier.pk)

    async def refuse(self, code: int, reason: str, message: str) -> None:
        """Close a socket that misbehaves; what it sends afterwards is dropped."""
        self.closing = True
        self.accepted = False  # no more pushes from the relay
        self.log(logging.WARNING, message, event="ws.reject", code=int(code), reason=reason)
        await self.close(code=int(code))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.viewer is None or self.closing:
            return
        if protocol.frame_size(text_data, bytes_data) > protocol.MAX_FRAME_BYTES:
            await self.refuse(Close.TOO_BIG, "too-big", "websocket closed: message too big")
            return
        # Every frame counts, garbage included: a flood of anything is a flood.
        if not self.bucket.take():
            await self.refuse(Close.FLOOD, "flood", "websocket closed: too many messages")
            return
        if text_data is None:
            await self.refuse(Close.UNSUPPORTED_DATA, "binary", "websocket closed: binary frame")
            return
        message = protocol.parse_client_message(text_data)
        if message is None:
            logger.info("ignored malformed websocket message on atelier %s", self.viewer.atelier.pk)
            return
        if message["type"] == ClientMessage.PING:
            # A ping only answers with the current version: the page waits a
            # moment for the pushes in flight before asking for a resync, so a
            # busy room does not turn every ping into a snapshot.
            version = await database_sync_to_async(self.ping)()
            await self.send(text_data=protocol.ping_reply(version))
        elif message["type"] == ClientMessage.RESYNC:
            if "sort" in message or "category" in message:
                self.view = clean_view(message.get("sort"), message.get("category"), self.viewer.atelier)
            await self.resync(message.get("version"))

    def ping(self) -> int:
        if self.participant is not None:
            presence.touch(self.channel_name)
        return current_version(self.viewer.atelier.pk)

    async def catch_up(self, client_version: str, read_version: int, since: float) -> None:
        """What a socket that just opened sends its page: nothing when the page
        holds the version `arrive` read and this process's relay passed on
        nothing newer since it was read (relay.quiet_since: every push after
        it reaches this socket, which now listens), else what `resync` finds.
        A room joining at once skips a database hand-off per socket."""
        if client_version == str(read_version) and relay.quiet_since(self.relays[0], since, read_version):
            return
        await self.resync(client_version)

    async def resync(self, client_version: object) -> None:
        """Send the whole board unless the page already has this version."""
        html = await database_sync_to_async(messages.resync)(
            self.viewer.atelier, self.language, self.view, client_version
        )
        if html is not None:
            await self.send(text_data=html)


class LinkConsumer(BoardConsumer):
    """Pages opened through a link, without an account: the published plan
    (`ws/plan/<token>/`) and a pilot's follow-up (`ws/suivi/<token>/`).
    They only learn that the board changed (version markers, never the
    board's fragments), then fetch what they may show over HTTP; revoking
    the link closes them."""

    def find_viewer(self) -> access.Viewer | None:
        kwargs = self.scope["url_route"]["kwargs"]
        return access.viewer_for_link(kwargs["kind"], kwargs["token"])

    def group_language(self, asked: str) -> str:
        return protocol.TICKS

    def groups_of(self, viewer: access.Viewer) -> list[str]:
        return [protocol.token_group(self.scope["url_route"]["kwargs"]["token"])]
