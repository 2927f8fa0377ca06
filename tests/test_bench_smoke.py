"""The benchmark's smoke run: the harness end to end on a small room.

``python -m bench --smoke`` starts one daphne on its own SQLite file with the
in-memory layer, opens 20 real sockets, writes 10 events and runs the floor
server the same way; then 20 phones join through the forms and open their
sockets (the first minute). Every push must reach every client, and every
phone must be live at its first try. Its national day (two ateliers over two
processes, on the benchmark's own PostgreSQL database and Redis index) runs
as a test of its own. The real benchmark (``make bench``) is not part of the
test suite.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.servers, pytest.mark.once]

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120


def _run_bench(tmp_path: Path, *options: str) -> dict:
    """`python -m bench --smoke` with these options; its raw results."""
    results = tmp_path / "smoke.json"
    # The harness picks its own database and channel layer per set-up: the
    # smoke run is the embedded one whatever this test run uses.
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", *options, "--json", str(results)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, f"{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
    return json.loads(results.read_text())


def _need_the_benchmarks_backends() -> None:
    """PostgreSQL and Redis where the benchmark looks for them: required in CI
    (scripts/test.sh), a skip on a machine without them, like run 2."""
    from bench.run import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL

    for url in (
        os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
    ):
        address = urlsplit(url)
        try:
            socket.create_connection((address.hostname, address.port), timeout=2).close()
        except OSError as error:
            if os.environ.get("CI") == "true":
                raise
            pytest.skip(f"{url} is not reachable ({error}): start PostgreSQL and Redis to run it")


def test_the_benchmark_smoke_run_reaches_every_client(tmp_path: Path) -> None:
    started = time.monotonic()
    data = _run_bench(tmp_path)
    elapsed = time.monotonic() - started
    app_steps = [step for room in data["setups"]["embedded"]["rooms"].values() for step in room["steps"].values()]
    floor_steps = [step for room in data["floor"]["rooms"].values() for step in room["steps"].values()]
    assert app_steps and floor_steps
    for step in app_steps + floor_steps:
        assert step["events"] == 10, step
        assert step["clients"] == 20, step
        assert step["failed_requests"] == 0, step["failures"]
        assert step["reach"] == 1.0, step
        assert step["unrecovered"] == 0 and step["gaps_seen"] == 0, step
        assert step["latency_ms"]["count"] == 200
    for step in app_steps:
        assert step["version_check"] is True, "the pushes' versions do not match the writes"
    page = data["page"]["sqlite"]["rows"]
    assert [row["impossibles"] for row in page] == [0, 10]
    assert all(row["status"] == 200 and row["page"]["queries"] > 0 for row in page), page
    joined = data["first_minute"]["embedded"]
    assert (joined["phones"], joined["live"], joined["failed_first_try"]) == (20, 20, 0), joined["errors"]
    assert joined["join_to_live_ms"]["count"] == 20 and joined["closed_early"] == 0
    assert joined["server_cpu_ms_per_join"] > 0
    assert elapsed < TIMEOUT


def test_the_national_day_smoke_run_reaches_every_atelier_on_its_own_process(tmp_path: Path) -> None:
    """Two ateliers of five phones over two daphne processes, on the
    benchmark's own PostgreSQL database and Redis index (bench/national.py)."""
    _need_the_benchmarks_backends()
    day = _run_bench(tmp_path, "--only", "national-day")["national_day"]
    assert (day["ateliers"], day["phones"], day["processes"]) == (2, 5, 2)
    assert day["connect"]["connected"] == 10 and day["connect"]["failed"] == 0
    assert [atelier["events"] for atelier in day["per_atelier"]] == [10, 10]
    assert [atelier["clients"] for atelier in day["per_atelier"]] == [5, 5]
    assert day["reach"] == 1.0 and day["unrecovered"] == 0 and day["failed_requests"] == 0
    assert day["version_check"] is True, "an atelier's pushes do not match its writes"
    assert day["latency_ms"]["count"] == 2 * 10 * 5
    # Each process holds one atelier and did its work.
    assert [(process["ateliers"], process["sockets"]) for process in day["per_process"]] == [(1, 5), (1, 5)]
    assert all(process["cpu_pct"] > 0 and process["ms_per_write"] > 0 for process in day["per_process"])
