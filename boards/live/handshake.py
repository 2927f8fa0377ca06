"""Never let a socket's handshake wait past daphne's connect timeout.

daphne drops a socket whose handshake is not answered within its connect
timeout (5 s, checked every 2 s). Answering it takes database work: the
session and the user, the atelier, the participant and the presence row
(the consumer, boards/live/identity.py). When a room joins at once,
that work waits behind the joins' requests (for a pooled connection, for the
interpreter), and sockets were dropped before their turn.

The consumer accepts once it has joined its groups, so that a socket that
has opened hears every push from then on. `AcceptInTime` keeps that order
whenever the consumer answers within `DEADLINE_SECONDS`; past it, it accepts
the handshake itself so that daphne keeps the socket, and drops the
consumer's own accept when it comes. A push committed in between is not
lost: the consumer reads the atelier's version after joining its groups and
sends a snapshot to a page that is behind (docs/live-updates.md). A refusal
still reads the same to the browser: the consumer refuses by accepting and
then closing with a 4xxx code.
"""

from __future__ import annotations

import asyncio
import contextlib

# Below daphne's default connect timeout (5 s) with room for its 2-second
# timeout checks and a busy event loop.
DEADLINE_SECONDS = 3.0


class AcceptInTime:
    """ASGI middleware for WebSocket routes (below the origin check, which
    needs no database, and above everything that does)."""

    def __init__(self, application, deadline: float = DEADLINE_SECONDS) -> None:
        self.application = application
        self.deadline = deadline

    async def __call__(self, scope, receive, send):
        connect = await receive()
        if connect["type"] != "websocket.connect":
            return None  # gone before its handshake
        answered = asyncio.Event()
        replayed = False

        async def receive_after_connect():
            nonlocal replayed
            if not replayed:
                replayed = True
                return connect
            return await receive()

        async def send_in_order(message):
            if message["type"] == "websocket.accept":
                if answered.is_set():
                    return  # accepted in time by us already
                answered.set()
            elif message["type"] == "websocket.close":
                answered.set()
            await send(message)

        async def accept_at_the_deadline():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(answered.wait(), self.deadline)
            if not answered.is_set():
                answered.set()
                await send({"type": "websocket.accept"})

        keeper = asyncio.ensure_future(accept_at_the_deadline())
        try:
            return await self.application(scope, receive_after_connect, send_in_order)
        finally:
            keeper.cancel()
