"""Pushes framed once and written to daphne's connections (boards/live/wire.py).

On a real daphne every push takes the fast path, and every socket of a
group receives the same bytes; a daphne upgrade that changes the `send` it
hands connections makes the first test fail, not the room slow down unseen.
Elsewhere (Channels' communicators, every consumer test) pushes go through
the ASGI send.
"""

from __future__ import annotations

import asyncio
import socket
from types import SimpleNamespace

import pytest
from django.utils.html import escape

from boards.live import protocol, relay, wire
from tests import servers

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier
visitors = servers.visitors


@pytest.mark.servers
def test_daphne_frames_each_push_once_for_every_socket_of_a_group(daphne_server, live_atelier, visitors):
    code = live_atelier.code
    author = visitors(daphne_server, code, "Inès")
    start = author.board_version()
    french = [visitors(daphne_server, code, f"Lecteur {n}").socket(version=start) for n in range(3)]
    english = visitors(daphne_server, code, "Reader", "elu").socket(version=start, lang="en")
    leaving = visitors(daphne_server, code, "Partant").socket(version=start)
    leaving.close()

    statement = "Impossible de trouver un local <b>partagé</b> à Jarnac"
    impossible = author.post_impossible(statement)
    pushed = [live.next_versioned() for live in [*french, english]]
    for frame in pushed:
        assert (frame.kind, frame.version) == ("event", start + 1), frame
        assert f'id="imp-{impossible}"' in frame.text
        assert escape(statement) in frame.text
    # One rendering per language, the same bytes for every socket reading it.
    assert len({frame.text for frame in pushed[:3]}) == 1
    assert pushed[3].text != pushed[0].text

    author.me_too(impossible)
    for live in [*french, english]:
        assert live.next_versioned().version == start + 2

    log = daphne_server.log_path.read_text()
    assert "live pushes are framed once per group and written straight to daphne's sockets" in log, (
        "daphne (or Twisted, or autobahn) no longer looks the way boards/live/wire.py expects: "
        f"pushes take a slower way.\n{daphne_server.log_tail(3000)}"
    )
    assert "push to a closing socket" not in log


class Connection:
    """A daphne connection as the relay sees it: frames written to it."""

    def __init__(self, is_open: bool = True) -> None:
        self.frames: list[bytes] = []
        self.open = is_open

    def write(self, frame) -> None:
        if self.open:
            self.frames.append(frame.payloadHybi)


class Socket:
    def __init__(self, connection: Connection | None, accepted: bool = True) -> None:
        self.wire = connection
        self.accepted = accepted
        self.sent: list[str] = []

    async def send(self, text_data: str) -> None:
        self.sent.append(text_data)


def test_the_relay_frames_once_for_wired_sockets_and_sends_through_asgi_to_the_others():
    wired = [Socket(Connection()) for _ in range(3)]
    plain = Socket(None)
    closed = Socket(Connection(is_open=False))
    waiting = Socket(Connection(), accepted=False)  # its handshake is not over
    group = relay.GroupRelay("atelier-1-fr", layer=None)
    group.sockets = {*wired, plain, closed, waiting}

    asyncio.run(group.send_all(protocol.BEAT))

    expected = wire.frame(protocol.BEAT).payloadHybi
    assert [socket.wire.frames for socket in wired] == [[expected]] * 3
    # An unmasked text frame (opcode 1, FIN) with the text as it is.
    assert expected[0] == 0x81 and expected.endswith(protocol.BEAT.encode())
    assert plain.sent == [protocol.BEAT]
    assert closed.wire.frames == [] and waiting.wire.frames == []


def test_a_send_that_is_not_daphnes_has_no_wire():
    async def send(message):
        return None

    assert wire.wire_of(send) is None
    assert wire.wire_of(print) is None


class Protocol:
    """What Wire.write reads of autobahn's protocol; prepared frames are kept."""

    STATE_OPEN = state = 3
    _perMessageCompress = None

    def __init__(self, transport) -> None:
        self.transport = transport
        self.send_queue: list = []
        self.prepared: list = []

    def sendPreparedMessage(self, frame) -> None:
        self.prepared.append(frame)


def direct_wire(transport) -> wire.Wire:
    """A Wire to a connection that daphne knows and autobahn sees open."""
    protocol = Protocol(transport)
    return wire.Wire(SimpleNamespace(connections={protocol: {}}), protocol, direct=True)


class Transport:
    """What Wire.write reads of Twisted's tcp.Connection, over a real socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock
        self.connected, self.disconnecting = True, False
        self.dataBuffer, self.offset, self._tempDataBuffer = b"", 0, []
        self.buffered: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.buffered.append(bytes(data))
        self._tempDataBuffer.append(bytes(data))


def test_a_frame_goes_straight_to_the_socket_and_what_it_does_not_take_waits_in_order():
    ours, phone = socket.socketpair()
    ours.setblocking(False)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    transport = Transport(ours)
    connection = direct_wire(transport)
    small, big = wire.frame("<div>un</div>"), wire.frame("x" * 4_000_000)

    connection.write(small)
    assert phone.recv(100) == small.payloadHybi and transport.buffered == []

    # The socket takes part of a big frame; Twisted's buffer gets the rest,
    # and from then on every frame queues behind it, in order.
    connection.write(big)
    assert len(transport.buffered) == 1
    taken = len(big.payloadHybi) - len(transport.buffered[0])
    assert 0 < taken < len(big.payloadHybi)
    assert transport.buffered[0] == big.payloadHybi[taken:]
    connection.write(small)
    assert connection.protocol.prepared == [small]

    # A closed connection gets nothing.
    connection.server.connections[connection.protocol]["disconnected"] = 1.0
    connection.write(small)
    assert connection.protocol.prepared == [small]
    ours.close()
    phone.close()
