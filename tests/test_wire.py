"""Pushes framed once and written to daphne's connections (boards/live/wire.py).

On a real daphne every push takes the fast path, and every socket of a
group receives the same bytes; a daphne upgrade that changes the `send` it
hands connections makes the first test fail, not the room slow down unseen.
Elsewhere (Channels' communicators, every consumer test) pushes go through
the ASGI send.
"""

from __future__ import annotations

import asyncio

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
    assert "live pushes are framed once per group and written to daphne's connections" in log, (
        "daphne no longer hands connections the send boards/live/wire.py recognises: "
        f"pushes are framed per socket.\n{daphne_server.log_tail(3000)}"
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
