"""A socket's handshake is answered in time (boards/live/handshake.py): by
the consumer when it is quick, which keeps "open means subscribed", or at
the deadline when its database work queues, so daphne never drops it."""

from __future__ import annotations

import asyncio

from boards.live.handshake import AcceptInTime

CONNECT = {"type": "websocket.connect"}


def _run(application, deadline: float) -> tuple[list[dict], list[dict]]:
    """Run one socket through the middleware: (what the app received, what the server was sent)."""
    sent: list[dict] = []
    received: list[dict] = []
    incoming = asyncio.Queue()

    async def receive():
        return await incoming.get()

    async def send(message):
        sent.append(message)

    async def app(scope, app_receive, app_send):
        received.append(await app_receive())
        await application(app_send, sent)

    async def main():
        incoming.put_nowait(CONNECT)
        await AcceptInTime(app, deadline=deadline)({"type": "websocket"}, receive, send)

    asyncio.run(main())
    return received, sent


def test_a_quick_consumer_answers_the_handshake_itself():
    async def quick(send, _sent):
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "snapshot"})

    received, sent = _run(quick, deadline=0.5)
    assert received == [CONNECT]
    assert sent == [{"type": "websocket.accept"}, {"type": "websocket.send", "text": "snapshot"}]


def test_a_slow_consumer_finds_the_handshake_answered_and_its_accept_dropped():
    async def queued(send, sent):
        # Still busy (its database work queues behind a room's joins) when the
        # handshake is answered for it.
        async with asyncio.timeout(5):
            while {"type": "websocket.accept"} not in sent:
                await asyncio.sleep(0.01)
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "snapshot"})

    received, sent = _run(queued, deadline=0.05)
    assert received == [CONNECT]
    assert sent == [{"type": "websocket.accept"}, {"type": "websocket.send", "text": "snapshot"}]


def test_a_quick_refusal_stays_a_refused_handshake():
    async def refusing(send, _sent):
        await send({"type": "websocket.close", "code": 4403})
        await asyncio.sleep(0.2)

    _received, sent = _run(refusing, deadline=0.05)
    assert sent == [{"type": "websocket.close", "code": 4403}]


def test_a_slow_refusal_closes_the_socket_it_kept_open():
    async def refusing_late(send, sent):
        async with asyncio.timeout(5):
            while not sent:
                await asyncio.sleep(0.01)
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4403})

    _received, sent = _run(refusing_late, deadline=0.05)
    assert sent == [{"type": "websocket.accept"}, {"type": "websocket.close", "code": 4403}]


def test_a_client_gone_before_its_handshake_reaches_nothing():
    calls = []

    async def app(scope, receive, send):
        calls.append(scope)

    async def main():
        async def receive():
            return {"type": "websocket.disconnect", "code": 1006}

        async def send(message):
            raise AssertionError(message)

        await AcceptInTime(app)({"type": "websocket"}, receive, send)

    asyncio.run(main())
    assert calls == []
