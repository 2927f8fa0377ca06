"""The writer: one process sending the room's writes one at a time at a fixed rate.

    python -m bench.writer      (commands as JSON lines on stdin, answers on stdout)

App mode posts the realistic mix over HTTP like the page's htmx forms do
(``HX-Request``, CSRF header, same Origin): 60 % « moi aussi » (a state flip for a
writer participant, so every request is a real change), 20 % new impossibles,
20 % help offers. Because it is the only writer and waits for each response,
the k-th successful request is version base + k: the harness maps versions to
the times they were due. A phone does not wait for another's write: a request
sent late because the one before took longer than the interval counts its
wait in its latency (it is measured from when it was due, not sent). Floor
mode asks the floor server to broadcast one message per event.

Commands:
    {"cmd": "init", "mode": "app", "servers": [...], "code": "...", "writers": [...], "impossibles": [...]}
    {"cmd": "init", "mode": "floor", "control": "ws://127.0.0.1:port/control"}
    {"cmd": "run", "rate": 5, "warmup": 15, "events": 200, "path": "...", "sizes": [...]}
        answers {"phase": "measure"} before the first measured event, then {"done": ...}
    {"cmd": "version"}                  the atelier's version, read from the board page
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import secrets
import string
import sys
import time
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from bench.procs import orphan_guard
from boards.live import protocol

HTTP_TIMEOUT = 10.0
PAGE_VERSION = re.compile(protocol.VERSION_MARKER.pattern.replace(r"(\w+)", protocol.Kind.PAGE))
# Ten events: 6 « moi aussi », 2 impossibles, 2 offers, shuffled per ten.
DECK = ["metoo"] * 6 + ["impossible"] * 2 + ["offer"] * 2
CATEGORIES = ["recrutement", "financement", "reglementation", "marche", "foncier", "mobilite", "energie", "autre"]
HELP_KINDS = ["contact", "expertise", "ressource", "resolu", "administration"]


def answer(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def csrf_secret() -> str:
    # Django accepts its 32-character secret as the token (cookie and header alike).
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))


class AppWriter:
    def __init__(self, servers: list[str], code: str, writers: list[str], impossibles: list[int], seed: int) -> None:
        self.servers = servers
        self.code = code
        self.http = [httpx.Client(base_url=url, timeout=HTTP_TIMEOUT, trust_env=False) for url in servers]
        self.writers = [(session, csrf_secret()) for session in writers]
        self.impossibles = impossibles
        self.rng = random.Random(seed)
        self.me_too_on: set[tuple[int, int]] = set()
        self.deck: list[str] = []
        self.serial = 0

    def next_kind(self) -> str:
        if not self.deck:
            self.deck = DECK.copy()
            self.rng.shuffle(self.deck)
        return self.deck.pop()

    def request(self, k: int, kind: str) -> tuple[str, dict[str, str]]:
        self.serial += 1
        board = f"/a/{self.code}/"
        writer = self.rng.randrange(len(self.writers))
        if kind == "metoo":
            impossible = self.rng.choice(self.impossibles)
            on = (writer, impossible) not in self.me_too_on
            (self.me_too_on.add if on else self.me_too_on.discard)((writer, impossible))
            return writer, f"{board}impossibles/{impossible}/me-too/", {"state": "on" if on else "off"}
        key = f"bench-{self.serial}-{secrets.token_hex(6)}"
        if kind == "impossible":
            data = {
                "statement": f"Impossible n° {self.serial} : trouver un local partagé près de la gare",
                "details": "",
                "category": self.rng.choice(CATEGORIES),
                "submission_key": key,
                # These statements look alike on purpose: publish past « Ça ressemble
                # à… » (its latency is measured by bench.similarity).
                "decision": "publish",
            }
            return writer, f"{board}impossibles/", data
        impossible = self.rng.choice(self.impossibles)
        data = {
            "kind": self.rng.choice(HELP_KINDS),
            "message": f"Je connais quelqu'un qui peut aider (offre {self.serial})",
            "contact": "",
            "submission_key": key,
        }
        return writer, f"{board}impossibles/{impossible}/offers/", data

    def send(self, k: int, kind: str) -> tuple[float, float, int, str]:
        writer, path, data = self.request(k, kind)
        session, csrf = self.writers[writer]
        server = k % len(self.servers)
        origin = self.servers[server]
        headers = {
            "Cookie": f"sessionid={session}; csrftoken={csrf}",
            "X-CSRFToken": csrf,
            "Origin": origin,
            "Referer": f"{origin}/a/{self.code}/",
            "HX-Request": "true",
        }
        client = self.http[server]
        sent = time.monotonic()
        try:
            response = client.post(path, data=data, headers=headers)
            status, error = response.status_code, ""
            if status >= 400:
                error = response.text[:300]
        except httpx.HTTPError as failure:
            status, error = 0, f"{type(failure).__name__}: {failure}"[:300]
        done = time.monotonic()
        client.cookies.clear()
        return sent, done, status, error

    def version(self) -> int:
        session, csrf = self.writers[0]
        response = self.http[0].get(f"/a/{self.code}/", headers={"Cookie": f"sessionid={session}; csrftoken={csrf}"})
        self.http[0].cookies.clear()
        match = PAGE_VERSION.search(response.text)
        if response.status_code != 200 or match is None:
            raise RuntimeError(f"board page answered {response.status_code} without a version marker")
        return int(match.group(1))

    def close(self) -> None:
        for client in self.http:
            client.close()


class FloorWriter:
    def __init__(self, control: str) -> None:
        self.connection: ClientConnection = connect(control, compression=None, proxy=None, open_timeout=30)
        self.sizes: list[int] = [2000]
        self.index = 0

    def next_kind(self) -> str:
        return "floor"

    def send(self, k: int, kind: str) -> tuple[float, float, int, str]:
        size = self.sizes[self.index % len(self.sizes)]
        self.index += 1
        sent = time.monotonic()
        try:
            self.connection.send(json.dumps({"size": size}))
            ack = json.loads(self.connection.recv(timeout=HTTP_TIMEOUT))
            status, error = int(ack["v"]), ""
        except Exception as failure:
            status, error = 0, f"{type(failure).__name__}: {failure}"[:300]
        return sent, time.monotonic(), status, error

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.close()


def run(writer: AppWriter | FloorWriter, command: dict[str, Any]) -> dict[str, Any]:
    rate = float(command["rate"])
    warmup = int(command["warmup"])
    total = warmup + int(command["events"])
    if isinstance(writer, FloorWriter) and command.get("sizes"):
        writer.sizes = [int(size) for size in command["sizes"]]
    requests: list[list[Any]] = []
    # Writers of different ateliers (bench/national.py) start apart, as rooms
    # that do not write in step.
    start = time.monotonic() + 0.2 + float(command.get("offset", 0.0))
    behind = 0.0
    for k in range(total):
        if k == warmup:
            answer({"phase": "measure", "t": time.monotonic()})
        due = start + k / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            behind = max(behind, -delay)
        kind = writer.next_kind()
        sent, done, status, error = writer.send(k, kind)
        requests.append([kind, sent, done, status, error, due])
    with open(command["path"], "w") as out:
        json.dump({"requests": requests, "warmup": warmup, "rate": rate, "max_behind": behind}, out)
    app = isinstance(writer, AppWriter)
    failed = sum(1 for request in requests if not request[3] or (app and request[3] >= 400))
    return {"done": True, "requests": len(requests), "failed": failed, "max_behind": behind}


def main() -> None:
    orphan_guard()
    writer: AppWriter | FloorWriter | None = None
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            try:
                match command["cmd"]:
                    case "init" if command["mode"] == "app":
                        writer = AppWriter(
                            command["servers"],
                            command["code"],
                            command["writers"],
                            command["impossibles"],
                            command.get("seed", 6),
                        )
                        answer({"ok": True})
                    case "init":
                        writer = FloorWriter(command["control"])
                        answer({"ok": True})
                    case "run":
                        assert writer is not None, "init first"
                        answer(run(writer, command))
                    case "version":
                        assert isinstance(writer, AppWriter), "version is for the app"
                        answer({"version": writer.version()})
                    case other:
                        answer({"error": f"unknown command {other!r}"})
            except Exception as error:
                answer({"error": f"{type(error).__name__}: {error}"})
    except KeyboardInterrupt:
        pass
    finally:
        if writer is not None:
            writer.close()


if __name__ == "__main__":
    main()
