"""The floor: the least a Python process can do to push the same bytes to the same sockets.

    python -m bench.floor --port 8765

A minimal asyncio server of the `websockets` library. Clients connect to any path
and are added to the room; the writer connects to ``/control`` and sends
``{"size": S}`` per event: the server numbers the event, builds a message of S
characters that starts with the same version marker as the app's pushes,
broadcasts it to every client and acknowledges with the version. No database,
no rendering, no channel layer: what is left is the sockets, the framing and the
event loop, which the app pays as well.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench.procs import orphan_guard
from boards.live import protocol

FILLER = "<p>" + "x" * (1 << 21) + "</p>"


class Room:
    def __init__(self) -> None:
        self.clients: set[ServerConnection] = set()
        self.version = 0

    def message(self, size: int) -> str:
        self.version += 1
        head = protocol.version_marker(self.version, protocol.Kind.EVENT, oob=True) + "\n"
        return head + FILLER[: max(0, size - len(head))]

    async def handle(self, connection: ServerConnection) -> None:
        if connection.request is not None and connection.request.path == "/control":
            async for text in connection:
                size = int(json.loads(text)["size"])
                broadcast(self.clients, self.message(size))
                await connection.send(json.dumps({"v": self.version}))
            return
        self.clients.add(connection)
        try:
            async for _text in connection:
                pass  # pings and resyncs: the floor has nothing to resync
        finally:
            self.clients.discard(connection)


async def serve_forever(port: int) -> None:
    room = Room()
    async with serve(room.handle, "127.0.0.1", port, compression=None, max_size=2**20, backlog=4096):
        sys.stdout.write(json.dumps({"ready": True, "port": port}) + "\n")
        sys.stdout.flush()
        await asyncio.Future()


def main() -> None:
    orphan_guard()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(args.port))


if __name__ == "__main__":
    main()
