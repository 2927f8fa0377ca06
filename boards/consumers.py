"""The board's WebSocket: authorise, join the group, keep the client in
sync, forward pushes. No business rules and no board writes live here:
changes arrive over HTTP and go through `boards.services`.

A push reaches a process once per atelier and language: one relay per
process subscribes to the group and writes the frame to every local socket
of that group. Sockets do not each take the push through the channel layer
(receive, decode, dispatch), which was most of a push's cost in a full room
(docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from boards import access, broadcast, fragments, presence, ratelimit
from boards.models import Participant
from boards.security import log_socket, origin_of

logger = logging.getLogger(__name__)

# Close codes in the 4000 range: htmx's WebSocket extension only reconnects
# on 1006/1011/1012/1013, so a refused client does not retry forever.
CLOSE_NOT_A_MEMBER = 4403
CLOSE_GONE = 4404
# Frames no page sends, and floods (docs/live-updates.md, "Refusals"). Not
# RFC 6455's 1009/1003/1008: daphne (autobahn) lets an application close only
# with 1000 or 3000-4999, and a 4xxx code also tells the client not to retry.
CLOSE_TOO_BIG = 4413
CLOSE_UNSUPPORTED_DATA = 4415
CLOSE_FLOOD = 4429
# Pages send a few dozen bytes. daphne drops the connection itself past 1 MiB
# (the client sees 1006), before the application sees the frame.
MAX_FRAME_BYTES = 64 * 1024
# Longer messages are ignored unparsed.
MAX_CLIENT_MESSAGE = 1024

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
    html = fragments.presence_message(online)
    await broadcast.send_async(atelier_id, {language: html for language in broadcast.languages()})


def schedule_presence(atelier_id: int) -> None:
    if atelier_id not in _presence_pending:
        _presence_pending[atelier_id] = asyncio.ensure_future(_publish_presence_later(atelier_id))


class GroupRelay:
    """This process's single subscription to one group, fanning its pushes
    out to the local sockets that joined it."""

    def __init__(self, group: str, layer) -> None:
        self.group = group
        self.layer = layer
        self.sockets: set[BoardConsumer] = set()
        self.ready = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)
        self.task = asyncio.ensure_future(self._forward())
        broadcast.watch_layer(self.layer, self)
        self.ready.set()

    async def stop(self) -> None:
        await self.ready.wait()
        broadcast.unwatch_layer(self.layer, self)
        if self.task is not None:
            self.task.cancel()
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
            for socket in [socket for socket in self.sockets if socket.accepted]:
                try:
                    if message.get("type") == "board.close":
                        await socket.close(code=message.get("code", CLOSE_GONE))
                    else:
                        await socket.send(text_data=message["html"])
                except Exception:
                    logger.info("push to a closing socket of %s dropped", self.group)

    async def layer_changed(self, html: str) -> None:
        """The channel layer stopped or resumed (broadcast.LayerWatch): tell the local sockets."""
        for socket in [socket for socket in self.sockets if socket.accepted]:
            with contextlib.suppress(Exception):
                await socket.send(text_data=html)


_relays: dict[tuple[asyncio.AbstractEventLoop, str], GroupRelay] = {}


async def join_relay(group: str, socket: BoardConsumer) -> None:
    key = (asyncio.get_running_loop(), group)
    relay = _relays.get(key)
    if relay is None:
        relay = _relays[key] = GroupRelay(group, socket.channel_layer)
        relay.sockets.add(socket)
        try:
            await relay.start()
        except Exception:
            _relays.pop(key, None)
            raise
    else:
        relay.sockets.add(socket)
        await relay.ready.wait()


async def leave_relay(group: str, socket: BoardConsumer) -> None:
    key = (asyncio.get_running_loop(), group)
    relay = _relays.get(key)
    if relay is None:
        return
    relay.sockets.discard(socket)
    if not relay.sockets:
        # Unlisted first: a socket arriving meanwhile starts a fresh relay.
        _relays.pop(key, None)
        await relay.stop()


class BoardConsumer(AsyncWebsocketConsumer):
    viewer: access.Viewer | None = None
    board_group: str | None = None
    session_group: str | None = None
    # Pages opened through a share or follow-up link: closed when it is revoked.
    link_group: str | None = None
    # A facilitator's screens: closed when they leave the atelier's team.
    team_group: str | None = None
    # A participant's pages: closed when they erase their data.
    participant_group: str | None = None
    # Pushes that reach the relay before the handshake completes are skipped:
    # the resync that follows the handshake covers them.
    accepted = False
    # Set once we close the socket: messages still queued behind are dropped.
    closing = False

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except Exception:
            if hasattr(self, "channel_name"):
                raise
            # No channel of its own: the channel layer (Redis) is away.
            logger.warning("websocket put off: the channel layer is unavailable")
            await broadcast.put_off(receive, send)
        finally:
            # A handler that failed (the database away) never reaches
            # disconnect(): leave the relay anyway, or it keeps this socket.
            if self.board_group is not None:
                await leave_relay(self.board_group, self)

    @property
    def participant(self) -> Participant | None:
        return self.viewer.participant if self.viewer else None

    def find_viewer(self) -> access.Viewer | None:
        return access.viewer_for_scope(self.scope, self.scope["url_route"]["kwargs"]["code"])

    def group_language(self, asked: str) -> str:
        return asked if asked in broadcast.languages() else broadcast.languages()[0]

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

    async def connect(self) -> None:
        self.bucket = ratelimit.MessageBucket()
        viewer = await database_sync_to_async(self.find_viewer)()
        if viewer is None:
            self.log(
                logging.INFO,
                "websocket refused: not a member",
                event="ws.reject",
                code=CLOSE_NOT_A_MEMBER,
                reason="not-member",
            )
            await self.accept()
            await self.close(code=CLOSE_NOT_A_MEMBER)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        language = self.group_language((query.get("lang") or [""])[0])
        self.viewer = viewer
        self.language = language
        # What this page shows (sort, category): snapshots re-render that view.
        self.view = fragments.clean_view(
            (query.get("sort") or [""])[0], (query.get("category") or [""])[0], viewer.atelier
        )
        if viewer.participant is not None:
            most = ratelimit.sockets_per_participant()
            if not await database_sync_to_async(presence.connect)(viewer.participant, self.channel_name, most=most):
                self.log(
                    logging.WARNING,
                    "websocket refused: too many sockets for one participant",
                    event="ws.reject",
                    code=CLOSE_FLOOD,
                    reason="sockets",
                )
                self.viewer = None  # not counted: nothing to undo at disconnect
                await self.accept()
                await self.close(code=CLOSE_FLOOD)
                return
        # Join the atelier's group before reading the version: anything
        # committed after the read is pushed to us, anything before is in the
        # snapshot.
        self.board_group = broadcast.group_name(viewer.atelier.pk, language)
        await join_relay(self.board_group, self)
        session = self.scope.get("session")
        if session is not None and session.session_key:
            # Few sockets per session: this group goes through the layer directly.
            self.session_group = access.session_group(session.session_key)
            await self.channel_layer.group_add(self.session_group, self.channel_name)
        if self.link_group is not None:
            await self.channel_layer.group_add(self.link_group, self.channel_name)
        if viewer.facilitator:
            self.team_group = broadcast.team_group(viewer.atelier.pk, self.scope["user"].pk)
            await self.channel_layer.group_add(self.team_group, self.channel_name)
        if viewer.participant is not None:
            self.participant_group = broadcast.participant_group(viewer.atelier.pk, viewer.participant.pk)
            await self.channel_layer.group_add(self.participant_group, self.channel_name)
        await self.accept()
        self.accepted = True
        self.log(logging.INFO, "websocket connected", event="ws.connect")
        if self.participant is not None:
            schedule_presence(viewer.atelier.pk)
        await self.resync((query.get("v") or [""])[0])

    async def disconnect(self, code: int) -> None:
        if self.viewer is not None:
            self.log(logging.INFO, "websocket disconnected", event="ws.disconnect", code=code)
        if self.board_group is not None:
            await leave_relay(self.board_group, self)
        if self.session_group is not None:
            await self.channel_layer.group_discard(self.session_group, self.channel_name)
        if self.link_group is not None:
            await self.channel_layer.group_discard(self.link_group, self.channel_name)
        if self.team_group is not None:
            await self.channel_layer.group_discard(self.team_group, self.channel_name)
        if self.participant_group is not None:
            await self.channel_layer.group_discard(self.participant_group, self.channel_name)
        if self.participant is not None:
            await database_sync_to_async(presence.disconnect)(self.channel_name)
            schedule_presence(self.viewer.atelier.pk)

    async def refuse(self, code: int, reason: str, message: str) -> None:
        """Close a socket that misbehaves; what it sends afterwards is dropped."""
        self.closing = True
        self.accepted = False  # no more pushes from the relay
        self.log(logging.WARNING, message, event="ws.reject", code=code, reason=reason)
        await self.close(code=code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.viewer is None or self.closing:
            return
        if _frame_size(text_data, bytes_data) > MAX_FRAME_BYTES:
            await self.refuse(CLOSE_TOO_BIG, "too-big", "websocket closed: message too big")
            return
        # Every frame counts, garbage included: a flood of anything is a flood.
        if not self.bucket.take():
            await self.refuse(CLOSE_FLOOD, "flood", "websocket closed: too many messages")
            return
        if text_data is None:
            await self.refuse(CLOSE_UNSUPPORTED_DATA, "binary", "websocket closed: binary frame")
            return
        message = _parse(text_data)
        if message is None:
            logger.info("ignored malformed websocket message on atelier %s", self.viewer.atelier.pk)
            return
        if message["type"] == "ping":
            # A ping only answers with the current version: the client waits
            # a moment for the pushes in flight before asking for a resync,
            # so a busy room does not turn every ping into a snapshot.
            version = await database_sync_to_async(self._ping)()
            await self.send(text_data=f'<div id="live-ping" data-version="{version}" hidden></div>')
        elif message["type"] == "resync":
            if "sort" in message or "category" in message:
                self.view = fragments.clean_view(message.get("sort"), message.get("category"), self.viewer.atelier)
            await self.resync(message.get("version"))

    async def resync(self, client_version: object) -> None:
        """Send the whole board unless the client already has this version."""
        _version, html = await database_sync_to_async(self._snapshot_unless_current)(str(client_version))
        if html is not None:
            await self.send(text_data=html)

    def _ping(self) -> int:
        if self.participant is not None:
            presence.touch(self.channel_name)
        return type(self.viewer.atelier).objects.values_list("version", flat=True).get(pk=self.viewer.atelier.pk)

    def _snapshot_unless_current(self, client_version: str) -> tuple[int, str | None]:
        atelier = self.viewer.atelier
        current = type(atelier).objects.values_list("version", flat=True).get(pk=atelier.pk)
        if client_version == str(current):
            return current, None
        sort, category = self.view
        return fragments.snapshot_message(atelier, self.language, sort, category)

    async def board_close(self, event: dict) -> None:
        await self.close(code=event.get("code", CLOSE_GONE))


class LinkConsumer(BoardConsumer):
    """Pages opened through a link, without an account: the published plan
    (`ws/plan/<token>/`) and a pilot's follow-up (`ws/suivi/<token>/`).
    They only learn that the board changed (version ticks, never the board's
    fragments), then fetch what they may show over HTTP; revoking the link
    closes them."""

    def find_viewer(self) -> access.Viewer | None:
        kwargs = self.scope["url_route"]["kwargs"]
        viewer = access.viewer_for_link(kwargs["kind"], kwargs["token"])
        if viewer is not None:
            self.link_group = broadcast.token_group(kwargs["token"])
        return viewer

    def group_language(self, asked: str) -> str:
        return broadcast.TICKS

    def _snapshot_unless_current(self, client_version: str) -> tuple[int, str | None]:
        atelier = self.viewer.atelier
        current = type(atelier).objects.values_list("version", flat=True).get(pk=atelier.pk)
        if client_version == str(current):
            return current, None
        return current, broadcast.tick(current, "snapshot")


def _frame_size(text_data: str | None, bytes_data: bytes | None) -> int:
    if text_data is None:
        return len(bytes_data or b"")
    # A character is 1 to 4 bytes: only encode when it could matter.
    if len(text_data) * 4 <= MAX_FRAME_BYTES:
        return len(text_data)
    return len(text_data.encode("utf-8", "surrogatepass"))


def _parse(text_data: str | None) -> dict | None:
    if not text_data or len(text_data) > MAX_CLIENT_MESSAGE:
        return None
    try:
        message = json.loads(text_data)
    except (ValueError, RecursionError):
        # RecursionError: "[[[[..." nests deeper than the parser allows
        # while staying under MAX_CLIENT_MESSAGE.
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    return message
