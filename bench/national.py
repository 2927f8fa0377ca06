"""A national day at reduced scale: K ateliers × M phones over P daphne
processes, PostgreSQL and Redis shared, as docs/deploy.md lays it out.

Room affinity is what nginx's `hash $atelier consistent` gives (tested in
tests/test_room_affinity.py): every socket and every write of an atelier go
to one process. Here the harness routes them itself, atelier `a` to process
`a mod P`, so the step measures the servers and not a proxy sharing their
cores; on a real day the hash spreads rooms less evenly, which the deploy
arithmetic accounts for.

Each atelier has its own writer at the same rate, their writes spread
evenly over each period (rooms do not write in step); latency counts from
when each write was due, reach per atelier. The step
reports each process's CPU and puts it beside what the deploy arithmetic
predicts for the rooms it holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bench import analysis

if TYPE_CHECKING:
    from bench.run import Harness

# docs/deploy.md, « The arithmetic of a national day »: one write costs about
# 40 ms in its atelier's process (its pings and presence included), and
# 0.015–0.03 ms more per socket it reaches.
WRITE_MS = 40.0
PUSH_MS_PER_SOCKET = (0.015, 0.03)


def home(atelier: int, processes: int) -> int:
    """The process an atelier's sockets and writes go to."""
    return atelier % processes


def predicted_ms_per_write(phones: int) -> tuple[float, float]:
    """What docs/deploy.md predicts one write costs in a room of `phones`."""
    low, high = (WRITE_MS + phones * push for push in PUSH_MS_PER_SOCKET)
    return low, high


def predicted_pct(rooms: int, phones: int, rate: float) -> tuple[float, float]:
    """What docs/deploy.md predicts for a process holding `rooms` ateliers of
    `phones` sockets, each written `rate` times a second: % of one core."""
    low, high = (ms * rate * rooms / 10 for ms in predicted_ms_per_write(phones))
    return low, high


def run(harness: Harness, ateliers: int, phones: int, processes: int, rate: float) -> dict[str, Any]:
    from bench.procs import backing_processes, cpu_delta, snapshot_cpu, start_daphne
    from bench.run import DRAIN_TIMEOUT, scan_log, warm_socket, warmup_events

    harness.prepare("postgres")
    env = harness.env("postgres")
    rooms = [harness.create_atelier("postgres", phones) for _ in range(ateliers)]
    result: dict[str, Any] = {
        "ateliers": ateliers,
        "phones": phones,
        "processes": processes,
        "rate_per_atelier": rate,
    }
    children = harness.children
    servers, writers, workers, log_paths = [], [], [], []
    try:
        for index in range(processes):
            log_path = harness.tmp / f"daphne-national-{index}.log"
            log_paths.append(log_path)
            servers.append(start_daphne(children, env, log_path, harness.app_dir, f"daphne-national-{index}"))
        for number, room in enumerate(rooms):
            writer = harness.start_writer()
            writer.request(
                {
                    "cmd": "init",
                    "mode": "app",
                    "servers": [servers[home(number, processes)].url],
                    "code": room["code"],
                    "writers": room["writers"],
                    "impossibles": room["impossibles"],
                    "seed": number,
                },
                timeout=30,
            )
            writers.append(writer)
        versions = [writer.request({"cmd": "version"}, timeout=60)["version"] for writer in writers]
        paths = [f"/ws/a/{room['code']}/" for room in rooms]
        for number, room in enumerate(rooms):
            server = servers[home(number, processes)]
            warm_socket(f"{server.ws_url}{paths[number]}?lang=fr&v={versions[number]}", server.url, room)
        time.sleep(harness.settle)
        workers = harness.start_worker_pool(ateliers * phones)
        targets = [
            [
                number * phones + n,
                f"{servers[home(number, processes)].ws_url}{paths[number]}?lang=fr&v={versions[number]}",
                servers[home(number, processes)].url,
                f"sessionid={key}",
            ]
            for number, room in enumerate(rooms)
            for n, key in enumerate(room["clients"])
        ]
        result["connect"] = harness.connect(workers, targets)
        harness.log(
            f"  connected {result['connect']['connected']}/{ateliers * phones} sockets "
            f"in {result['connect']['seconds']:.1f} s"
        )
        time.sleep(harness.settle)
        harness.collect(workers, "national-discard", keep=False)  # the connection phase's pushes

        server_pids = [server.child.pid for server in servers]

        def groups() -> dict[str, list[int]]:
            backing = backing_processes(os.path.basename(urlsplit(harness.args.database_url).path))
            return {
                "servers": server_pids,
                "clients": [worker.pid for worker in workers],
                "writer": [writer.pid for writer in writers],
                "harness": [os.getpid()],
                "postgres": backing["postgres"],
                "redis": backing["redis"],
            }

        events = max(3, harness.plan.events // ateliers) if harness.plan.mode != "smoke" else harness.plan.events
        warmup = warmup_events(rate, harness.plan.mode)
        result["waited_for_quiet_s"] = harness.quiet([pid for pids in groups().values() for pid in pids])
        writer_paths = [harness.tmp / f"national-writer-{number}.json" for number in range(ateliers)]
        for number, (writer, path) in enumerate(zip(writers, writer_paths, strict=True)):
            # Spread evenly over one period: rooms do not write in step.
            offset = number / (ateliers * rate)
            command = {"cmd": "run", "rate": rate, "warmup": warmup, "events": events, "offset": offset}
            writer.send({**command, "path": str(path)})
        for writer in writers:
            writer.receive(timeout=warmup / rate + 60)  # {"phase": "measure"}
        before = snapshot_cpu(groups())
        for writer in writers:
            writer.receive(timeout=events / rate * 3 + 120)
        writer_data = [json.loads(path.read_text()) for path in writer_paths]
        lasts = [analysis.map_versions(data, base, True)[2] for data, base in zip(writer_data, versions, strict=True)]
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < deadline:
            statuses = [worker.request({"cmd": "status"}, timeout=30) for worker in workers]
            if all(_drained(statuses, path, last) for path, last in zip(paths, lasts, strict=True)):
                break
            time.sleep(0.05)
        cpu = cpu_delta(before, snapshot_cpu(groups()))
        records = harness.collect(workers, "national-records")
        final_versions = [writer.request({"cmd": "version"}, timeout=60)["version"] for writer in writers]
    finally:
        for worker in workers:
            with contextlib.suppress(Exception):
                worker.request({"cmd": "close"}, timeout=60)
            children.stop(worker)
        for writer in writers:
            children.stop(writer)
        for server in servers:
            children.stop(server.child)
    result["server_log"] = [scan_log(path) for path in log_paths]
    result.update(_analyse(writer_data, records, versions, final_versions, cpu, phones, processes, rate, server_pids))
    return result


def _drained(statuses: list[dict[str, Any]], path: str, last: int) -> bool:
    """Every open socket of the atelier at `path` holds version `last`."""
    for status in statuses:
        lowest = status.get("min_by_path", {}).get(path)
        if lowest is not None and lowest < last:
            return False
    return True


def _analyse(
    writer_data: list[dict[str, Any]],
    records: list[dict[str, Any]],
    versions: list[int],
    final_versions: list[int],
    cpu: dict[str, Any],
    phones: int,
    processes: int,
    rate: float,
    server_pids: list[int],
) -> dict[str, Any]:
    ateliers = len(writer_data)
    per_atelier, latencies = [], []
    for number in range(ateliers):
        mine = range(number * phones, (number + 1) * phones)
        workers = [
            {**worker, "clients": [client for client in worker["clients"] if client["i"] in mine]} for worker in records
        ]
        step = analysis.analyse_step(
            writer_data[number],
            workers,
            base=versions[number],
            expected_clients=phones,
            app=True,
            cpu=None,
            final_version=final_versions[number],
            keep_latencies=True,
        )
        latencies += step.pop("latencies")
        step.pop("sizes", None)
        per_atelier.append(step)
    wall = cpu["wall"]
    seconds = cpu["per_process"]["servers"]
    per_process = []
    for index, pid in enumerate(server_pids):
        rooms = sum(1 for number in range(ateliers) if home(number, processes) == index)
        pushes = sum(per_atelier[n]["events"] for n in range(ateliers) if home(n, processes) == index)
        used = seconds.get(pid, 0.0)
        sockets = rooms * phones
        per_process.append(
            {
                "ateliers": rooms,
                "sockets": sockets,
                "cpu_pct": used / wall * 100,
                # A write, its fan-out to its room and the room's pings, per write.
                "ms_per_write": used * 1000 / pushes if pushes else None,
            }
        )
    expected = sum(step["expected"] for step in per_atelier)
    received = sum(step["received"] for step in per_atelier)
    return {
        "latency_ms": analysis.summary(latencies),
        "reach": received / expected if expected else None,
        "unrecovered": sum(step["unrecovered"] for step in per_atelier),
        "failed_requests": sum(step["failed_requests"] for step in per_atelier),
        "version_check": all(step["version_check"] for step in per_atelier),
        "worst_atelier_p99_ms": max((step["latency_ms"]["p99"] or 0.0) for step in per_atelier),
        "per_atelier": [
            {key: step[key] for key in ("events", "clients", "latency_ms", "reach", "unrecovered", "failed_requests")}
            for step in per_atelier
        ],
        "per_process": per_process,
        "cpu": analysis.cpu_figures(cpu, sum(step["events"] for step in per_atelier)),
    }
