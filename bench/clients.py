"""A socket-client worker: many real WebSocket clients on one asyncio loop.

    python -m bench.clients      (commands as JSON lines on stdin, answers on stdout)

Each client behaves like ``static/boards/board.js`` on the wire: it connects with
the session cookie, the page's Origin and ``?v=<version>``, tracks the version it
holds, asks for a resync when it sees a gap and pings every 25 s with its version.
It records the version, kind, arrival time (``time.monotonic()``: CLOCK_MONOTONIC,
the same clock in every process of the machine) and size of every push.

Commands:
    {"cmd": "connect", "targets": [[index, url, origin, cookie], ...], "concurrency": 100, "ping": 25}
    {"cmd": "status"}                   lowest version every open client holds, open/closed counts
    {"cmd": "collect", "path": "..."}   write the records since the last collect to a file, then forget them
    {"cmd": "close"}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.procs import orphan_guard
from boards.live import protocol

MARKER = protocol.VERSION_MARKER
VERSION_PARAM = re.compile(r"(?<=[?&])v=(\d*)")
PING_REPLY = re.compile("^" + re.escape(protocol.ping_reply(0)).replace("0", r"(\d+)"))
RECONNECT_CODES = {1006, 1011, 1012, 1013}  # what htmx's ws extension retries (full-jitter back-off)
MAX_RECONNECTS = 5
CATCH_UP_SECONDS = 3.0  # board.js: after a ping reply ahead of the page, wait for pushes in flight
HEAD = 200
OPEN_TIMEOUT = 60.0
LAG_TICK = 0.05


class Client:
    __slots__ = (
        "catch_ups",
        "close_codes",
        "closed",
        "current",
        "events",
        "gaps_seen",
        "highest",
        "index",
        "next_ping",
        "reconnects",
        "snapshots",
        "target",
        "unversioned",
        "ws",
    )

    def __init__(self, index: int, ws: ClientConnection, version: int, next_ping: float, target: list[Any]) -> None:
        self.index = index
        self.target = target
        self.reconnects = 0
        self.catch_ups = 0
        self.close_codes: list[int] = []
        self.ws = ws
        self.current = version
        self.highest = version
        self.events: list[tuple[int, float, int]] = []
        self.snapshots: list[tuple[int, float, int]] = []
        self.unversioned = 0
        self.gaps_seen = 0
        self.closed: int | None = None
        self.next_ping = next_ping


class Worker:
    def __init__(self) -> None:
        self.clients: list[Client] = []
        self.readers: list[asyncio.Task] = []
        self.lags: list[float] = []
        self.ping_interval = 0.0
        self.background: list[asyncio.Task] = []
        self.closing = False
        self.pending: set[asyncio.Task] = set()

    # --- Connecting -------------------------------------------------------------------

    @staticmethod
    async def open_ws(url: str, origin: str, cookie: str) -> ClientConnection:
        return await connect(
            url,
            origin=origin,
            additional_headers={"Cookie": cookie} if cookie else None,
            compression=None,
            max_size=None,
            ping_interval=None,
            open_timeout=OPEN_TIMEOUT,
            close_timeout=5,
            proxy=None,
            user_agent_header="cerveau-bench",
        )

    async def open_one(self, target: list[Any], semaphore: asyncio.Semaphore) -> Client | str:
        index, url, origin, cookie = target
        version_match = VERSION_PARAM.search(url)
        version = int(version_match.group(1)) if version_match else 0
        async with semaphore:
            try:
                ws = await self.open_ws(url, origin, cookie)
            except Exception as error:
                return f"{type(error).__name__}: {error}"[:300]
        start = time.monotonic() + (random.uniform(0, self.ping_interval) if self.ping_interval else 0)
        return Client(index, ws, version, start, target)

    async def connect(self, targets: list[list[Any]], concurrency: int, ping: float) -> dict[str, Any]:
        self.ping_interval = ping
        started = time.monotonic()
        errors: dict[str, int] = {}
        first_errors = 0
        pending = targets
        for attempt in range(3):
            semaphore = asyncio.Semaphore(concurrency if attempt == 0 else max(1, concurrency // 10))
            results = await asyncio.gather(*(self.open_one(target, semaphore) for target in pending))
            retry = []
            for target, result in zip(pending, results, strict=True):
                if isinstance(result, Client):
                    self.clients.append(result)
                    self.readers.append(asyncio.create_task(self.read(result)))
                else:
                    errors[result] = errors.get(result, 0) + 1
                    retry.append(target)
            if attempt == 0:
                first_errors = len(retry)
            pending = retry
            if not pending:
                break
            await asyncio.sleep(1.0)
        if not self.background:
            self.background = [asyncio.create_task(self.watch_lag()), asyncio.create_task(self.pinger())]
        return {
            "connected": len(self.clients),
            "failed": len(pending),
            "failed_first_try": first_errors,
            "errors": dict(sorted(errors.items(), key=lambda item: -item[1])[:5]),
            "seconds": time.monotonic() - started,
        }

    # --- Receiving ----------------------------------------------------------------------

    async def read(self, client: Client) -> None:
        """Receive until the socket closes, then come back like the page does: htmx's
        extension retries 1006/1011/1012/1013 with full-jitter back-off, board.js reopens
        after other non-4xxx closes (1000, 1001) after 1-5 s; both with the client's version."""
        while True:
            code = await self.receive_all(client)
            client.close_codes.append(code)
            if self.closing or 4000 <= code < 5000 or client.reconnects >= MAX_RECONNECTS:
                client.closed = code
                return
            while client.reconnects < MAX_RECONNECTS and not self.closing:
                client.reconnects += 1
                if code in RECONNECT_CODES:
                    delay = random.random() * min(64.0, 2.0 ** (client.reconnects - 1))
                else:
                    delay = 1.0 + random.random() * 4.0
                await asyncio.sleep(delay)
                _index, url, origin, cookie = client.target
                try:
                    client.ws = await self.open_ws(VERSION_PARAM.sub(f"v={client.current}", url), origin, cookie)
                    break
                except Exception:  # try again, like the browser
                    continue
            else:
                client.closed = code
                return

    async def catch_up(self, client: Client, server_version: int) -> None:
        """board.js after a ping reply: still behind after a moment? Then ask for the board."""
        await asyncio.sleep(CATCH_UP_SECONDS)
        if client.current < server_version and client.closed is None:
            client.catch_ups += 1
            with contextlib.suppress(Exception):
                await client.ws.send(json.dumps({"type": "resync", "version": client.current}))

    async def receive_all(self, client: Client) -> int:
        """Record every push until the socket closes; return the close code."""
        ws = client.ws
        try:
            async for message in ws:
                now = time.monotonic()
                text = message if isinstance(message, str) else message.decode()
                match = MARKER.search(text, 0, HEAD)
                if match is None:
                    client.unversioned += 1
                    reply = PING_REPLY.match(text)
                    if reply is not None and client.current < int(reply.group(1)):
                        self.pending.add(asyncio.create_task(self.catch_up(client, int(reply.group(1)))))
                        self.pending = {task for task in self.pending if not task.done()}
                    continue
                version = int(match.group(1))
                if version > client.highest:
                    client.highest = version
                if match.group(2) == "snapshot":
                    client.snapshots.append((version, now, len(text)))
                    client.current = version
                    continue
                if match.group(2) != "event":
                    client.unversioned += 1  # a kind this client does not know: not a board event
                    continue
                client.events.append((version, now, len(text)))
                if version == client.current + 1:
                    client.current = version
                elif version > client.current + 1:
                    # What board.js does: drop it and ask for the whole board.
                    client.gaps_seen += 1
                    await ws.send(json.dumps({"type": "resync", "version": client.current}))
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else 1006
        except Exception:  # a broken connection counts as an abnormal closure
            return 1006
        return ws.close_code or 1000

    async def pinger(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            if not self.ping_interval:
                continue
            now = time.monotonic()
            for client in self.clients:
                if client.closed is None and client.next_ping <= now:
                    client.next_ping = now + self.ping_interval
                    with contextlib.suppress(ConnectionClosed):
                        await client.ws.send(json.dumps({"type": "ping", "version": client.current}))

    async def watch_lag(self) -> None:
        """How late this loop wakes up: a busy client loop inflates every latency it measures."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(LAG_TICK)
            self.lags.append(time.monotonic() - before - LAG_TICK)

    # --- Reporting ----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        open_clients = [client for client in self.clients if client.closed is None]
        by_path: dict[str, int] = {}
        for client in open_clients:
            path = urlsplit(client.target[1]).path
            by_path[path] = min(by_path.get(path, client.highest), client.highest)
        return {
            "open": len(open_clients),
            "closed": len(self.clients) - len(open_clients),
            "min_version": min((client.highest for client in open_clients), default=None),
            # Per atelier (bench/national.py): each has versions of its own.
            "min_by_path": by_path,
        }

    def collect(self, path: str) -> dict[str, Any]:
        records = []
        for client in self.clients:
            records.append(
                {
                    "i": client.index,
                    "events": client.events,
                    "snapshots": client.snapshots,
                    "unversioned": client.unversioned,
                    "gaps_seen": client.gaps_seen,
                    "closed": client.closed,
                    "close_codes": client.close_codes,
                    "reconnects": client.reconnects,
                    "catch_ups": client.catch_ups,
                }
            )
            client.close_codes = []
            client.catch_ups = 0
            client.events = []
            client.snapshots = []
            client.unversioned = 0
            client.gaps_seen = 0
        lags = sorted(self.lags)
        self.lags = []
        with open(path, "w") as out:
            json.dump({"clients": records, "lag": lags[-50:], "lag_count": len(lags)}, out)
        return {"clients": len(records)}

    async def close(self) -> dict[str, Any]:
        self.closing = True

        async def close_one(client: Client) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.ws.close(), timeout=5)

        semaphore = asyncio.Semaphore(200)

        async def bounded(client: Client) -> None:
            async with semaphore:
                await close_one(client)

        await asyncio.gather(*(bounded(client) for client in self.clients))
        for task in [*self.readers, *self.background, *self.pending]:
            task.cancel()
        return {"closed": len(self.clients)}


def answer(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def serve() -> None:
    worker = Worker()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:  # the harness closed our stdin (or died): leave
            break
        command = json.loads(line)
        try:
            match command["cmd"]:
                case "connect":
                    answer(await worker.connect(command["targets"], command.get("concurrency", 100), command["ping"]))
                case "status":
                    answer(worker.status())
                case "collect":
                    answer(worker.collect(command["path"]))
                case "close":
                    answer(await worker.close())
                case other:
                    answer({"error": f"unknown command {other!r}"})
        except Exception as error:
            answer({"error": f"{type(error).__name__}: {error}"})
    with contextlib.suppress(Exception):
        await asyncio.wait_for(worker.close(), timeout=10)


def main() -> None:
    orphan_guard()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
