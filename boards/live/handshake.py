"""Complete a socket's handshake before anything else looks at it.

daphne drops a socket whose handshake is not answered within its connect
timeout (5 s). Answering it took database work: the session and the user
(Channels' AuthMiddlewareStack), then the atelier, the participant and the
presence row (the consumer). In a daphne process all of that runs on the one
thread that every synchronous part of Django shares, behind the HTTP
requests in its queue: when a room joins at once, the joins' requests filled
that queue and sockets were dropped before their turn.

`AcceptFirst` answers the handshake as soon as it arrives, then hands the
socket to the application as if it had just connected. The application
authorises as before; it already refused by accepting and then closing with
a 4xxx code (boards/live/consumers.py), so a refusal reads the same to the
browser. Its own accept is dropped, since the socket is open already.
"""

from __future__ import annotations


class AcceptFirst:
    """ASGI middleware for WebSocket routes (below the origin check, which
    needs no database, and above everything that does)."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        connect = await receive()
        if connect["type"] != "websocket.connect":
            return None  # gone before its handshake
        await send({"type": "websocket.accept"})
        replayed = False

        async def receive_after_connect():
            nonlocal replayed
            if not replayed:
                replayed = True
                return connect
            return await receive()

        async def send_after_accept(message):
            if message["type"] != "websocket.accept":
                await send(message)

        return await self.application(scope, receive_after_connect, send_after_accept)
