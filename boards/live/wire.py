"""Frame a push once, write the same bytes to every socket of a group.

A push is the same text for every socket of a group. Sent through each
consumer's ASGI `send`, it is encoded and framed again for every socket
(consumer → daphne's `handle_reply` → autobahn's `sendMessage`), which was
most of a full room's CPU (docs/benchmarks.md).

daphne hands each WebSocket connection the ASGI `send`
`functools.partial(Server.handle_reply, protocol)`, where `protocol` is an
autobahn `WebSocketServerProtocol`: autobahn frames a message once
(`PreparedMessage`) for any number of connections (`sendPreparedMessage`).
`FindWire`, the outermost ASGI middleware, recognises that `send` and leaves
a `Wire` to the connection in the scope; the relay frames each push once and
writes it to every socket that has one, with daphne's own checks (the
connection is still known to the server, open, not disconnecting), straight
to the socket on plain TCP (`Wire.write`).

Anywhere else (Channels' test communicators, another ASGI server, a daphne
whose `send` no longer looks like this) the scope holds no wire and pushes
go through the consumer's ASGI `send`: the same bytes, framed per socket.
Each process says once in its log which way its pushes leave;
tests/test_wire.py fails if a real daphne stops taking the fast one.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import TYPE_CHECKING, Any

from autobahn.websocket.protocol import PreparedMessage
from twisted.internet import tcp  # installs no reactor (daphne.server does)

if TYPE_CHECKING:
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketProtocol

logger = logging.getLogger(__name__)

SCOPE_KEY = "cerveau.wire"


class Wire:
    """One daphne WebSocket connection, written to without the ASGI chain.

    `direct`: the connection is a plain TCP one (Twisted's `tcp.Connection`,
    no compression negotiated). A frame then goes straight to the socket
    when nothing is queued before it, as asyncio's own transports do, and
    only what the socket does not take waits in Twisted's buffer. Through
    Twisted's `write` every frame would cost a writer registered with the
    event loop, a loop turn and a writer removed again: most of a push's cost
    per socket (docs/benchmarks.md). Otherwise (TLS terminated by daphne,
    compression) the frame goes through autobahn's `sendPreparedMessage`.
    """

    __slots__ = ("direct", "protocol", "server")

    def __init__(self, server: Server, protocol: WebSocketProtocol, *, direct: bool) -> None:
        self.server = server
        self.protocol = protocol
        self.direct = direct

    @property
    def open(self) -> bool:
        # daphne's handle_reply drops replies to connections it forgot or saw
        # disconnect; autobahn only writes to an open connection.
        connection = self.server.connections.get(self.protocol)
        return (
            connection is not None
            and connection.get("disconnected") is None
            and self.protocol.state == self.protocol.STATE_OPEN
        )

    def write(self, frame: PreparedMessage) -> None:
        if not self.open:
            return
        protocol = self.protocol
        transport = protocol.transport
        if not (
            self.direct
            and protocol._perMessageCompress is None
            and not protocol.send_queue
            and transport.connected
            and not transport.disconnecting
            and not transport._tempDataBuffer
            and len(transport.dataBuffer) == transport.offset
        ):
            protocol.sendPreparedMessage(frame)
            return
        data = frame.payloadHybi
        try:
            sent = transport.socket.send(data)
        except OSError:
            # Full (EAGAIN) or failing: Twisted's buffer takes it, and Twisted
            # notices a failed connection at its next write.
            sent = 0
        if sent < len(data):
            transport.write(data[sent:])


def frame(text: str) -> PreparedMessage:
    """A server-to-client text frame (servers do not mask), framed once."""
    return PreparedMessage(text.encode(), isBinary=False, applyMask=False, doNotCompress=False)


def wire_of(send: Any) -> Wire | None:
    """The daphne connection behind an ASGI `send`, if daphne made it."""
    # Not imported here: importing daphne.server installs Twisted's reactor.
    server_module, protocol_module = sys.modules.get("daphne.server"), sys.modules.get("daphne.ws_protocol")
    if server_module is None or protocol_module is None:
        return None
    if not isinstance(send, functools.partial) or send.keywords or len(send.args) != 1:
        return None
    server_class, protocol_class = server_module.Server, protocol_module.WebSocketProtocol
    server = getattr(send.func, "__self__", None)
    handler = getattr(send.func, "__func__", None)
    connection = send.args[0]
    if not (
        isinstance(server, server_class)
        and handler is server_class.handle_reply
        and isinstance(connection, protocol_class)
    ):
        return None
    return Wire(server, connection, direct=plain_tcp(connection))


def plain_tcp(connection: WebSocketProtocol) -> bool:
    """Whether frames can go straight to the connection's socket (Wire.write)."""
    transport = getattr(connection, "transport", None)
    return (
        isinstance(transport, tcp.Connection)
        and all(hasattr(connection, name) for name in ("_perMessageCompress", "send_queue"))
        and all(hasattr(transport, name) for name in ("socket", "dataBuffer", "offset", "_tempDataBuffer"))
    )


class FindWire:
    """ASGI middleware, outermost: put the connection's `Wire` in WebSocket scopes."""

    said = False

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            wire = wire_of(send)
            if wire is not None:
                scope = {**scope, SCOPE_KEY: wire}
            self.say_once(wire)
        return await self.application(scope, receive, send)

    @classmethod
    def say_once(cls, wire: Wire | None) -> None:
        if cls.said:
            return
        cls.said = True
        if wire is not None and wire.direct:
            logger.info("live pushes are framed once per group and written straight to daphne's sockets")
        elif wire is not None:
            logger.info("live pushes are framed once per group and written to daphne's connections by autobahn")
        else:
            logger.info("live pushes go through each socket's ASGI send (not daphne, or not the daphne expected)")
