"""The board's WebSocket: authorise, join the groups, resync, forward.

No business rules and no board writes live here: changes arrive over HTTP
and go through `boards.services`; who may listen is `boards.access`'s
answer; what a push or a snapshot says is `boards.live.messages`'; pushes
reach this socket through its process's relay (`boards.live.relay`).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from boards import access, ratelimit
from boards.live import identity, messages, presence, protocol, relay, wire
from boards.live.protocol import ClientMessage, Close
from boards.live.security import log_socket, origin_of
from boards.models import Participant
from boards.reads import clean_view, current_version

logger = logging.getLogger(__name__)


class BoardConsumer(AsyncWebsocketConsumer):
    """A participant's or a facilitator's page of one atelier (`ws/a/<code>/`)."""

    viewer: access.Viewer | None = None
    # The atelier's group for this page's language, which the relay serves.
    board_group: str | None = None
    # Groups this socket joins on the layer itself, to be closed through them:
    # its browser session, link, team membership, participant.
    own_groups: tuple[str, ...] = ()
    # Pushes that reach the relay before the handshake completes are skipped:
    # the resync that follows the handshake covers them.
    accepted = False
    # Set once we close the socket: messages still queued behind are dropped.
    closing = False
    # daphne's connection, to which the relay writes pushes framed once.
    wire: wire.Wire | None = None

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except Exception:
            if hasattr(self, "channel_name"):
                raise
            # No channel of its own: the channel layer (Redis) is away.
            logger.warning("websocket put off: the channel layer is unavailable")
            await relay.put_off(receive, send)
        finally:
            # A handler that failed (the database away) never reaches
            # disconnect(): leave the relay anyway, or it keeps this socket.
            if self.board_group is not None:
                await relay.leave(self.board_group, self)

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
        self.board_group = protocol.atelier_group(viewer.atelier.pk, self.language)
        await relay.join(self.board_group, self, self.channel_layer)
        self.own_groups = tuple(self.groups_of(viewer))
        for group in self.own_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        self.wire = self.scope.get(wire.SCOPE_KEY)
        self.accepted = True
        self.log(logging.INFO, "websocket connected", event="ws.connect")
        if self.participant is not None:
            relay.presence_changed(viewer.atelier.pk)
        await self.resync((query.get("v") or [""])[0])

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

    async def disconnect(self, code: int) -> None:
        if self.viewer is not None:
            self.log(logging.INFO, "websocket disconnected", event="ws.disconnect", code=code)
        if self.board_group is not None:
            await relay.leave(self.board_group, self)
        for group in self.own_groups:
            await self.channel_layer.group_discard(group, self.channel_name)
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

    async def resync(self, client_version: object) -> None:
        """Send the whole board unless the page already has this version."""
        html = await database_sync_to_async(messages.resync)(
            self.viewer.atelier, self.language, self.view, client_version
        )
        if html is not None:
            await self.send(text_data=html)

    async def board_close(self, event: dict) -> None:
        """A close order through one of `own_groups` (protocol.CLOSE)."""
        await self.close(code=event.get("code", Close.GONE))


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
