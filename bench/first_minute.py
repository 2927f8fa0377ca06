"""The first minute of an evening: the room joins while the QR code is shown.

    python -m bench.first_minute --url http://127.0.0.1:PORT --code CODE --phones 300 --seconds 30 --out out.json

Phones arrive at an even pace over `--seconds` (one process, asyncio). Each
does what a phone does after scanning the QR code: GET the join page at the
code's address (`--invite`: with the room's invitation, as the QR code and
the console's link give it), POST the join form to that same address (its
CSRF token, a name, a role), GET the board, then open the
board's socket with the page's version, once, without retrying. A phone is
*live* when its socket opened; *join to live* counts from when the phone was
due to arrive, so a server that falls behind shows it. Sockets stay open
until every phone is live, as in a room.

The harness (bench/run.py) measures the server's CPU over the whole minute
and divides it by the joins: what one join costs, page renders included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from bench.analysis import summary
from bench.procs import orphan_guard
from boards.live import protocol

TIMEOUT = 60.0
CSRF_INPUT = 'name="csrfmiddlewaretoken" value="'


def csrf_token(html: str) -> str:
    start = html.index(CSRF_INPUT) + len(CSRF_INPUT)
    return html[start : html.index('"', start)]


async def phone(url: str, code: str, invite: str, n: int, due: float, sockets: list) -> dict[str, Any]:
    """Join, load the board, open the socket; the socket stays open (and read)
    in `sockets` until the whole room is in."""
    await asyncio.sleep(max(0.0, due - time.monotonic()))
    record: dict[str, Any] = {"n": n}
    try:
        async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT, trust_env=False) as http:
            # A form without an action posts to the page's own address, query included.
            address = f"/a/{code}/join/" + (f"?invite={invite}" if invite else "")
            page = await http.get(address)
            page.raise_for_status()
            joined = await http.post(
                address,
                data={
                    "csrfmiddlewaretoken": csrf_token(page.text),
                    "name": f"Téléphone {n}",
                    "organisation": "",
                    "role": "entrepreneur",
                },
                headers={"Origin": url, "Referer": f"{url}{address}"},
            )
            if joined.status_code != 302:
                raise RuntimeError(f"join answered {joined.status_code}")
            record["joined_s"] = time.monotonic() - due
            board = await http.get(f"/a/{code}/")
            board.raise_for_status()
            record["board_s"] = time.monotonic() - due
            version = protocol.VERSION_MARKER.search(board.text)
            session = http.cookies["sessionid"]
    except Exception as error:
        record["error"] = f"join: {type(error).__name__}: {error}"[:300]
        return record
    try:
        socket = await connect(
            f"{url.replace('http://', 'ws://', 1)}/ws/a/{code}/?lang=fr&v={version.group(1) if version else ''}",
            origin=url,
            additional_headers={"Cookie": f"sessionid={session}"},
            open_timeout=TIMEOUT,
            ping_interval=None,
            compression=None,
            proxy=None,
        )
    except Exception as error:
        record["error"] = f"socket: {type(error).__name__}: {error}"[:300]
        return record
    record["live_s"] = time.monotonic() - due
    sockets.append((socket, asyncio.ensure_future(drain(socket, record))))
    return record


async def drain(socket, record: dict[str, Any]) -> None:
    """Read what the server pushes, like a page; note a socket it closes."""
    try:
        async for _frame in socket:
            pass
    except Exception as error:
        record["closed"] = f"{type(error).__name__}: {error}"[:200]
    else:
        record["closed"] = "closed by the server"


async def room(url: str, code: str, invite: str, phones: int, seconds: float) -> dict[str, Any]:
    start = time.monotonic() + 0.5
    sockets: list = []
    records = await asyncio.gather(
        *(phone(url, code, invite, n, start + n * seconds / phones, sockets) for n in range(phones))
    )
    window = time.monotonic() - start
    for socket, reader in sockets:
        reader.cancel()
        await socket.close()
    errors = [record["error"] for record in records if "error" in record]
    return {
        "phones": phones,
        "seconds": seconds,
        "window_s": window,
        "live": sum(1 for record in records if "live_s" in record),
        "failed_first_try": len(errors),
        "errors": errors[:5],
        "closed_early": sum(1 for record in records if "closed" in record),
        "join_ms": summary([record["joined_s"] * 1000 for record in records if "joined_s" in record]),
        "board_ms": summary([record["board_s"] * 1000 for record in records if "board_s" in record]),
        "join_to_live_ms": summary([record["live_s"] * 1000 for record in records if "live_s" in record]),
    }


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.first_minute", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--code", required=True)
    parser.add_argument("--invite", default="", help="the room's invitation, as its QR code carries it")
    parser.add_argument("--phones", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", type=Path, required=True)
    return parser


def command_line(url: str, code: str, invite: str, phones: int, seconds: float, out: Path) -> list[str]:
    """The arguments of `main` (an invitation may start with "-": it goes
    with its option's name, not as an argument of its own)."""
    return [
        *("--url", url, "--code", code, f"--invite={invite}", "--phones", str(phones)),
        *("--seconds", f"{seconds:g}", "--out", str(out)),
    ]


def main() -> None:
    orphan_guard()
    args = arguments().parse_args()
    result = asyncio.run(room(args.url, args.code, args.invite, args.phones, args.seconds))
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
