"""The benchmark harness: ``.venv/bin/python -m bench [--quick | --full | --smoke]``.

For each set-up (one daphne on SQLite + in-memory layer; one daphne on
PostgreSQL + Redis; two daphne on PostgreSQL + Redis) and each room size N it
creates an atelier with N participants, starts fresh server processes, opens N
real WebSocket clients in separate worker processes, measures the memory of the
idle connections, then drives the write mix at each rate and measures every
(event, client) delay, the reach, the gaps and the CPU. The floor (a minimal
`websockets` broadcast server) runs the same steps with messages of the same
sizes. The board page is timed by board size. Raw results go to var/bench/,
the summary to docs/benchmarks.md (between generated-section markers).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import importlib.metadata
import json
import math
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse, urlunparse

import psutil

from bench import analysis, first_minute, national, report
from bench.procs import (
    ROOT,
    BenchError,
    Child,
    Children,
    Daphne,
    backing_processes,
    cpu_delta,
    cpu_split,
    free_port,
    python_module,
    rss_bytes,
    snapshot_cpu,
    start_daphne,
    wait_listening,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cerveau_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
RAMP_P99_MS = 250.0
RAMP_DOWN = [2.0, 1.0, 0.5]
CLIENTS_PER_WORKER = 500
MAX_WORKERS = 4
WRITERS = 40
SEED_IMPOSSIBLES = 30
DRAIN_TIMEOUT = 60.0
SETTLE_SECONDS = 3.0
QUIET_WAIT = 15.0
QUIET_FOREIGN_PCT = 30.0
NOISY_RETRY_PCT = 35.0
STRIPPED_ENV = {
    "DATABASE_URL",
    "REDIS_URL",
    "CERVEAU_SQLITE_PATH",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "CERVEAU_INSECURE_DEFAULTS",
}


@dataclass(frozen=True)
class Setup:
    key: str
    title: str
    processes: int
    backing: bool  # PostgreSQL + Redis (else SQLite + in-memory layer)


SETUPS = {
    "embedded": Setup("embedded", "Set-up 1 — one daphne process, SQLite + in-memory channel layer", 1, False),
    "redis-1": Setup("redis-1", "Set-up 2 — one daphne process, PostgreSQL + Redis", 1, True),
    "redis-2": Setup(
        "redis-2", "Set-up 3 — two daphne processes, PostgreSQL + Redis, clients spread across both", 2, True
    ),
}


# What --only may choose: the rooms (matrix and ramp) and the other steps.
STEPS = ("rooms", "first-minute", "national-day", "floor", "page", "similar")


@dataclass
class Plan:
    mode: str
    matrix: dict[str, dict[int, list[float]]]
    ramp: dict[str, dict[int, list[float]]]
    events: int
    floor: bool = True
    page_sizes: list[int] = field(default_factory=lambda: [0, 10, 100, 500, 1000])
    page_runs: int = 20
    # « Ça ressemble à… » (bench/similar.py): board sizes, on the same databases as the page.
    similar_sizes: list[int] = field(default_factory=lambda: [500])
    ramp_down: list[float] = field(default_factory=lambda: list(RAMP_DOWN))
    # The first minute (bench/first_minute.py): phones joining, over seconds.
    first_minute: tuple[int, float] | None = (300, 30.0)
    # A national day (bench/national.py): ateliers, phones each, processes, writes/s per atelier.
    national_day: tuple[int, int, int, float] | None = (8, 100, 4, 1.0)
    # The set-ups chosen, whether or not their rooms are measured (--only).
    setups: list[str] = field(default_factory=list)


def make_plan(args: argparse.Namespace) -> Plan:
    if args.mode == "smoke":
        plan = Plan(
            "smoke",
            {"embedded": {20: [10.0]}},
            {},
            events=10,
            page_sizes=[0, 10],
            page_runs=2,
            similar_sizes=[],
            first_minute=(20, 2.0),
            national_day=None,
        )
    elif args.mode == "full":
        rates = [1.0, 5.0, 20.0]
        sizes = [100, 500, 1000, 2000]
        matrix = {key: {n: list(rates) for n in sizes} for key in SETUPS}
        matrix["redis-2"][2000] = [1.0, 2.0, 5.0, 20.0]
        ramp = {key: {500: [10.0, 40.0, 80.0]} for key in SETUPS}
        plan = Plan("full", matrix, ramp, events=200, national_day=(16, 125, 4, 1.0))
    else:
        matrix = {
            "embedded": {100: [5.0, 20.0], 500: [5.0, 20.0], 1000: [5.0]},
            "redis-1": {100: [5.0, 20.0], 500: [5.0, 20.0], 1000: [5.0]},
            "redis-2": {2000: [2.0]},
        }
        ramp = {"embedded": {500: [10.0, 40.0, 80.0]}, "redis-1": {500: [10.0, 40.0, 80.0]}}
        plan = Plan("quick", matrix, ramp, events=200, ramp_down=[2.0])
    if args.setups:
        keep = args.setups.split(",")
        unknown = set(keep) - set(SETUPS)
        if unknown:
            raise SystemExit(f"unknown set-up(s) {sorted(unknown)}: choose among {list(SETUPS)}")
        plan.matrix = {key: value for key, value in plan.matrix.items() if key in keep}
        for key in keep:
            plan.matrix.setdefault(key, {})
    if args.clients or args.rates:
        sizes = [int(n) for n in args.clients.split(",")] if args.clients else None
        rates = [float(r) for r in args.rates.split(",")] if args.rates else None
        for key, per_n in plan.matrix.items():
            chosen = sizes or sorted(per_n) or [500]
            default_rates = sorted({rate for values in per_n.values() for rate in values}) or [5.0]
            plan.matrix[key] = {n: list(rates or per_n.get(n) or default_rates) for n in chosen}
        plan.ramp = {}
    if args.events:
        plan.events = args.events
    if args.no_ramp:
        plan.ramp = {}
    plan.floor = not args.no_floor
    if args.no_page:
        plan.page_sizes = []
    if args.no_similar:
        plan.similar_sizes = []
    if args.no_first_minute:
        plan.first_minute = None
    if args.no_national_day:
        plan.national_day = None
    plan.matrix = {key: value for key, value in plan.matrix.items() if value}
    plan.setups = list(plan.matrix)
    if args.only:
        only = set(args.only.split(","))
        if only - set(STEPS):
            raise SystemExit(f"unknown step(s) {sorted(only - set(STEPS))}: choose among {list(STEPS)}")
        if "rooms" not in only:
            plan.matrix, plan.ramp = {}, {}
        plan.floor = plan.floor and "floor" in only
        plan.page_sizes = plan.page_sizes if "page" in only else []
        plan.similar_sizes = plan.similar_sizes if "similar" in only else []
        plan.first_minute = plan.first_minute if "first-minute" in only else None
        plan.national_day = plan.national_day if "national-day" in only else None
        if "national-day" in only and plan.national_day is None:  # --smoke
            plan.national_day = (2, 5, 2, 5.0)
    return plan


class Ramp:
    """The highest rate at which p99 stays under the threshold: up through the ramp
    rates while they pass; if the lowest one already fails, down through RAMP_DOWN."""

    def __init__(self, down: list[float]) -> None:
        self.down = down
        self.tried: dict[float, str | None] = {}  # rate -> why it failed (None: passed)
        self.state = "up"
        self.highest: float | None = None

    def wants(self, rate: float) -> bool:
        return self.state == "up" or (self.state == "down" and rate not in self.tried)

    @staticmethod
    def failure(rate: float, result: dict[str, Any]) -> str | None:
        p99 = result["latency_ms"]["p99"]
        if result["void"]:
            return f"void at {rate:g} ev/s ({result['void']})"
        if p99 is None or p99 > RAMP_P99_MS:
            return f"p99 {fmt(p99)} ms at {rate:g} ev/s"
        if result["reach"] != 1.0:
            return f"reach {result['reach'] * 100:.3f} % at {rate:g} ev/s"
        if (result["rate_achieved"] or 0) < 0.9 * rate:
            return (
                f"the writes could not keep {rate:g} ev/s (reached {result['rate_achieved']:.1f}: "
                "each write took longer than the interval)"
            )
        return None

    def record(self, rate: float, result: dict[str, Any]) -> float | None:
        """Note a step; return a lower rate to try next, if any."""
        if self.state == "done":
            return None
        why = self.failure(rate, result)
        self.tried[rate] = why
        if why is None:
            self.highest = max(self.highest or 0.0, rate)
            if self.state == "down":
                self.state = "done"
            return None
        lower = [r for r in self.down if r < min(self.tried) and r not in self.tried]
        if self.highest is None and lower:
            self.state = "down"
            return lower[0]
        self.state = "done"
        return None

    def outcome(self) -> dict[str, Any]:
        above = [why for rate, why in sorted(self.tried.items()) if why and rate > (self.highest or 0.0)]
        return {
            "threshold_p99_ms": RAMP_P99_MS,
            "rates": sorted(self.tried),
            "highest_rate": self.highest,
            "stopped": above[0] if above else "every rate tried passed",
        }


def warmup_events(rate: float, mode: str) -> int:
    """About three seconds of events, at least five; not counted."""
    if mode == "smoke":
        return 3
    return max(5, min(30, math.ceil(rate * 3)))


def stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


class Harness:
    def __init__(self, args: argparse.Namespace, plan: Plan) -> None:
        self.args = args
        self.plan = plan
        self.children = Children()
        self.tmp = Path(tempfile.mkdtemp(prefix="cerveau-bench-"))
        self.app_dir: Path = args.app_dir.resolve()
        if args.app_ref:
            self.app_dir = export_revision(args.app_dir.resolve(), args.app_ref, self.tmp / "app")
            args.app_revision = args.app_revision or f"{git_describe(args.app_dir.resolve(), args.app_ref)} (exported)"
        self.secret = secrets.token_urlsafe(40)
        self.prepared: set[str] = set()
        self.counter = 0
        self.sizes: dict[tuple[int, float], list[int]] = {}
        self.settle = 1.0 if plan.mode == "smoke" else SETTLE_SECONDS
        self.results: dict[str, Any] = {
            "mode": plan.mode,
            "command": " ".join(["python -m bench", *sys.argv[1:]]),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": machine_info(self.app_dir, args.app_revision, args.database_url, args.redis_url),
            "settings": {
                "events": plan.events,
                "ping_seconds": args.ping,
                "connect_concurrency": args.connect_concurrency,
                "writers": WRITERS,
                "seed_impossibles": SEED_IMPOSSIBLES,
                "clients_per_worker": CLIENTS_PER_WORKER,
            },
            "setups": {},
            "floor": None,
            "page": {},
        }

    # --- Environment ----------------------------------------------------------------

    def log(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)

    def env(self, backend: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in STRIPPED_ENV}
        python_path = [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        env.update(
            DJANGO_SETTINGS_MODULE="cerveau.settings",
            DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY=self.secret,
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(python_path),
            # The writers are a load generator, not a room: no per-participant limits.
            CERVEAU_RATE_LIMITS="impossible=1000000/600,offer=1000000/600,me_too=1000000/1,sockets=1000000",
        )
        if backend == "sqlite":
            env["CERVEAU_SQLITE_PATH"] = str(self.tmp / "bench.sqlite3")
        else:
            env["DATABASE_URL"] = self.args.database_url
            env["REDIS_URL"] = self.args.redis_url
        return env

    def run_django(self, backend: str, argv: list[str], name: str, timeout: float) -> None:
        log_path = self.tmp / f"{name}.log"
        with log_path.open("ab") as log:
            try:
                completed = subprocess.run(
                    argv,
                    cwd=self.app_dir,
                    env={**self.env(backend), "BENCH_PARENT_PID": str(os.getpid())},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise BenchError(f"{name} took more than {timeout:.0f} s") from None
        if completed.returncode != 0:
            raise BenchError(f"{name} failed ({completed.returncode}):\n{log_path.read_text(errors='replace')[-3000:]}")

    def prepare(self, backend: str) -> None:
        """A fresh, migrated benchmark database (never the dev or test ones)."""
        if backend in self.prepared:
            return
        if backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                (self.tmp / f"bench.sqlite3{suffix}").unlink(missing_ok=True)
        else:
            reset_postgres(self.args.database_url)
            flush_redis(self.args.redis_url)
        self.log(f"migrating the {backend} benchmark database")
        self.run_django(
            backend, [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], f"migrate-{backend}", 300
        )
        self.prepared.add(backend)

    def create_atelier(self, backend: str, clients: int) -> dict[str, Any]:
        out = self.tmp / f"atelier-{backend}-{clients}-{self.next_id()}.json"
        self.run_django(
            backend,
            python_module(
                "bench.data",
                "--clients",
                str(clients),
                "--writers",
                str(WRITERS),
                "--impossibles",
                str(SEED_IMPOSSIBLES),
                "--out",
                str(out),
            ),
            f"data-{backend}",
            300,
        )
        return json.loads(out.read_text())

    def next_id(self) -> int:
        self.counter += 1
        return self.counter

    def start_worker_pool(self, clients: int) -> list[Child]:
        count = 1 if self.plan.mode == "smoke" else max(1, min(MAX_WORKERS, math.ceil(clients / CLIENTS_PER_WORKER)))
        env = {key: value for key, value in os.environ.items() if key not in STRIPPED_ENV}
        env["PYTHONPATH"] = str(ROOT)
        return [
            self.children.start(
                Child(
                    name=f"clients-{index}",
                    argv=python_module("bench.clients"),
                    env=env,
                    log_path=self.tmp / f"clients-{index}.log",
                    piped=True,
                )
            )
            for index in range(count)
        ]

    def start_writer(self) -> Child:
        env = {key: value for key, value in os.environ.items() if key not in STRIPPED_ENV}
        env["PYTHONPATH"] = str(ROOT)
        return self.children.start(
            Child(
                name="writer", argv=python_module("bench.writer"), env=env, log_path=self.tmp / "writer.log", piped=True
            )
        )

    def connect(self, workers: list[Child], targets: list[list[Any]]) -> dict[str, Any]:
        for index, worker in enumerate(workers):
            worker.send(
                {
                    "cmd": "connect",
                    "targets": targets[index :: len(workers)],
                    "concurrency": self.args.connect_concurrency,
                    "ping": self.args.ping,
                }
            )
        answers = [worker.receive(timeout=300) for worker in workers]
        return {
            "connected": sum(answer["connected"] for answer in answers),
            "failed": sum(answer["failed"] for answer in answers),
            "failed_first_try": sum(answer["failed_first_try"] for answer in answers),
            "errors": [error for answer in answers for error in answer["errors"]][:5],
            "seconds": max(answer["seconds"] for answer in answers),
        }

    def collect(self, workers: list[Child], label: str, *, keep: bool = True) -> list[dict[str, Any]]:
        """What each client worker recorded since its last collect (dropped unless `keep`)."""
        records = []
        for index, worker in enumerate(workers):
            path = self.tmp / f"{label}-{index}.json"
            worker.request({"cmd": "collect", "path": str(path)}, timeout=120)
            if keep:
                records.append(json.loads(path.read_text()))
            path.unlink()
        return records

    def quiet(self, ours: list[int]) -> float:
        """Wait (bounded) until other programs leave the CPU mostly alone; return the wait."""
        started = time.monotonic()
        if self.plan.mode == "smoke" or self.args.no_quiet:
            return 0.0
        while time.monotonic() - started < QUIET_WAIT:
            before = snapshot_cpu({"ours": ours})
            time.sleep(1.0)
            foreign = cpu_delta(before, snapshot_cpu({"ours": ours}))
            if foreign["foreign"] / foreign["wall"] * 100 < QUIET_FOREIGN_PCT:
                break
        return time.monotonic() - started

    # --- One step -------------------------------------------------------------------

    def step(self, **kwargs: Any) -> dict[str, Any]:
        """One step; run again (once) if other programs used much of the CPU meanwhile."""
        result = self.measure_step(**kwargs)
        foreign = result.get("cpu", {}).get("foreign_pct", 0.0)
        if foreign > NOISY_RETRY_PCT and self.args.retry_noisy:
            self.log(f"  other programs used {foreign:.0f} % of a core during the step: measuring it again")
            kwargs["base"] = result["last_version"]
            again = self.measure_step(**kwargs)
            again["noisy_first_try_foreign_pct"] = foreign
            if again.get("cpu", {}).get("foreign_pct", 0.0) <= foreign:
                return again
            result["noisy_retry_foreign_pct"] = again.get("cpu", {}).get("foreign_pct")
            result["last_version"] = again["last_version"]
        return result

    def measure_step(
        self,
        *,
        writer: Child,
        workers: list[Child],
        groups: Any,
        base: int,
        rate: float,
        expected: int,
        app: bool,
        sizes: list[int] | None = None,
        profile_pids: list[int] | None = None,
        label: str = "",
    ) -> dict[str, Any]:
        warmup = warmup_events(rate, self.plan.mode)
        events = self.plan.events
        step_id = self.next_id()
        waited = self.quiet([p for pids in groups().values() for p in pids])
        writer_path = self.tmp / f"writer-{step_id}.json"
        command: dict[str, Any] = {"cmd": "run", "rate": rate, "warmup": warmup, "events": events}
        command["path"] = str(writer_path)
        if sizes:
            command["sizes"] = sizes
        writer.send(command)
        writer.receive(timeout=warmup / rate + 60)  # {"phase": "measure"}
        before = snapshot_cpu(groups())
        profilers = self.start_profilers(profile_pids or [], events / rate + 1, label)
        done = writer.receive(timeout=events / rate * 3 + 120)
        writer_data = json.loads(writer_path.read_text())
        _sends, _failures, last = analysis.map_versions(writer_data, base, app)
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < deadline:
            statuses = [worker.request({"cmd": "status"}, timeout=30) for worker in workers]
            if all(s["open"] == 0 or (s["min_version"] is not None and s["min_version"] >= last) for s in statuses):
                break
            time.sleep(0.05)
        after = snapshot_cpu(groups())
        cpu = cpu_delta(before, after)
        records = self.collect(workers, f"records-{step_id}")
        final_version = writer.request({"cmd": "version"}, timeout=60)["version"] if app else None
        result = analysis.analyse_step(
            writer_data,
            records,
            base=base,
            expected_clients=expected,
            app=app,
            cpu=cpu,
            final_version=final_version,
        )
        result.update(rate=rate, warmup=warmup, quiet_wait_s=waited, writer_done=done)
        if profilers:
            result["profile"] = self.finish_profilers(profilers)
        latency = result["latency_ms"]
        self.log(
            f"  {label} {rate:g} ev/s: p50 {fmt(latency['p50'])} p99 {fmt(latency['p99'])} "
            f"max {fmt(latency['max'])} ms, "
            f"reach {result['reach']:.4f}, unrecovered {result['unrecovered']}, "
            f"server {result['cpu']['server_ms_per_event']:.1f} ms CPU/event, "
            f"clients max {result['cpu']['clients_pct_max']:.0f} %, foreign {result['cpu']['foreign_pct']:.0f} %"
            + (f", VOID: {result['void']}" if result["void"] else "")
        )
        return result

    def start_profilers(self, pids: list[int], duration: float, label: str) -> list[tuple[Child, Path]]:
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not pids:
            return []
        if not Path(spy).exists():
            self.log("  --profile: py-spy is not installed (.venv/bin/pip install py-spy): no profile")
            return []
        profile_dir = ROOT / "var" / "bench" / "profiles"
        profile_dir.mkdir(parents=True, exist_ok=True)
        started = []
        for n, pid in enumerate(pids):
            out = profile_dir / f"{stamp()}-{label.replace(' ', '_').replace('/', '-')}-{n}.txt"
            argv = [spy, "record", "--pid", str(pid), "--nonblocking", "--rate", "100"]
            argv += ["--duration", str(math.ceil(duration)), "--format", "raw", "--output", str(out)]
            child = Child(name=f"py-spy-{pid}", argv=argv, env=dict(os.environ), log_path=self.tmp / "py-spy.log")
            started.append((self.children.start(child), out))
        return started

    def finish_profilers(self, profilers: list[tuple[Child, Path]]) -> list[dict[str, Any]]:
        summaries = []
        for child, out in profilers:
            assert child.process is not None
            try:
                child.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                child.stop()
            self.children.stop(child)
            summaries.append({"file": str(out.relative_to(ROOT)), **report.profile_summary(out)})
        return summaries

    # --- A set-up ---------------------------------------------------------------------

    def run_setup(self, setup: Setup) -> None:
        backend = "postgres" if setup.backing else "sqlite"
        self.prepare(backend)
        outcome: dict[str, Any] = {"title": setup.title, "processes": setup.processes, "rooms": {}}
        self.results["setups"][setup.key] = outcome
        ramp_plan = self.plan.ramp.get(setup.key, {})
        for clients, matrix_rates in sorted(self.plan.matrix[setup.key].items()):
            ramp_rates = ramp_plan.get(clients, [])
            self.log(f"{setup.key}: N = {clients}")
            room = self.run_room(setup, backend, clients, matrix_rates, ramp_rates)
            outcome["rooms"][str(clients)] = room
            self.save()

    def run_room(
        self, setup: Setup, backend: str, clients: int, matrix_rates: list[float], ramp_rates: list[float]
    ) -> dict[str, Any]:
        atelier = self.create_atelier(backend, clients)
        env = self.env(backend)
        room: dict[str, Any] = {"steps": {}, "ramp": None}
        servers: list[Daphne] = []
        workers: list[Child] = []
        writer: Child | None = None
        log_paths = []
        try:
            for index in range(setup.processes):
                log_path = self.tmp / f"daphne-{setup.key}-{clients}-{index}.log"
                log_paths.append(log_path)
                servers.append(start_daphne(self.children, env, log_path, self.app_dir, f"daphne-{index}"))
            writer = self.start_writer()
            writer.request(
                {
                    "cmd": "init",
                    "mode": "app",
                    "servers": [server.url for server in servers],
                    "code": atelier["code"],
                    "writers": atelier["writers"],
                    "impossibles": atelier["impossibles"],
                },
                timeout=30,
            )
            version = writer.request({"cmd": "version"}, timeout=60)["version"]
            for server in servers:  # load templates, open the layer's connections
                warm_socket(server.ws_url + f"/ws/a/{atelier['code']}/?lang=fr&v={version}", server.url, atelier)
            time.sleep(self.settle)
            server_pids = [server.child.pid for server in servers]
            rss_before = sum(rss_bytes(pid) for pid in server_pids)
            workers = self.start_worker_pool(clients)
            targets = [
                [
                    i,
                    f"{servers[i % len(servers)].ws_url}/ws/a/{atelier['code']}/?lang=fr&v={version}",
                    servers[i % len(servers)].url,
                    f"sessionid={key}",
                ]
                for i, key in enumerate(atelier["clients"])
            ]
            room["connect"] = self.connect(workers, targets)
            time.sleep(self.settle)
            rss_after = sum(rss_bytes(pid) for pid in server_pids)
            room["memory"] = {
                "rss_before_mib": rss_before / 2**20,
                "rss_after_mib": rss_after / 2**20,
                "kib_per_connection": (rss_after - rss_before) / 1024 / max(1, room["connect"]["connected"]),
            }
            self.log(
                f"  connected {room['connect']['connected']}/{clients} in {room['connect']['seconds']:.1f} s, "
                f"{room['memory']['kib_per_connection']:.1f} KiB per idle connection"
            )
            # Drop the presence pushes and anything else of the connection phase.
            self.collect(workers, "discard", keep=False)
            database = urlparse(self.args.database_url).path.lstrip("/") if setup.backing else None

            def groups() -> dict[str, list[int]]:
                found = {
                    "servers": server_pids,
                    "clients": [worker.pid for worker in workers],
                    "writer": [writer.pid] if writer else [],
                    "harness": [os.getpid()],
                }
                backing = backing_processes(database)
                found["postgres"] = backing["postgres"]
                found["redis"] = backing["redis"] if setup.backing else []
                return found

            base = version
            ramp = Ramp(self.plan.ramp_down) if ramp_rates else None
            pending = sorted(set(matrix_rates) | set(ramp_rates))
            for _guard in range(len(pending) + len(RAMP_DOWN) + 1):
                if not pending:
                    break
                rate = pending.pop(0)
                ramp_only = rate not in matrix_rates
                if ramp_only and (ramp is None or not ramp.wants(rate)):
                    continue
                result = self.step(
                    writer=writer,
                    workers=workers,
                    groups=groups,
                    base=base,
                    rate=rate,
                    expected=clients,
                    app=True,
                    profile_pids=server_pids if self.args.profile else None,
                    label=f"{setup.key} N={clients}",
                )
                result["ramp_only"] = ramp_only
                room["steps"][f"{rate:g}"] = result
                base = result["last_version"]
                key = (clients, rate)
                if key not in self.sizes and result["sizes"]:
                    self.sizes[key] = result["sizes"]
                if ramp is not None:
                    lower = ramp.record(rate, result)
                    if lower is not None:
                        pending.insert(0, lower)
                time.sleep(1.0)
            if ramp is not None:
                room["ramp"] = ramp.outcome()
        finally:
            for worker in workers:
                with contextlib.suppress(Exception):
                    worker.request({"cmd": "close"}, timeout=60)
                self.children.stop(worker)
            if writer is not None:
                self.children.stop(writer)
            for server in servers:
                self.children.stop(server.child)
            room["server_log"] = [scan_log(path) for path in log_paths]
        return room

    # --- The floor --------------------------------------------------------------------

    def run_floor(self) -> None:
        # The same (N, rate) steps as the app ran, ramp included.
        wanted: dict[int, set[float]] = {}
        for setup in self.results["setups"].values():
            for clients, room in setup["rooms"].items():
                wanted.setdefault(int(clients), set()).update(float(rate) for rate in room["steps"])
        floor: dict[str, Any] = {"rooms": {}}
        self.results["floor"] = floor
        for clients, rates in sorted(wanted.items()):
            self.log(f"floor: N = {clients}")
            floor["rooms"][str(clients)] = self.run_floor_room(clients, sorted(rates))
            self.save()

    def run_floor_room(self, clients: int, rates: list[float]) -> dict[str, Any]:
        room: dict[str, Any] = {"steps": {}}
        port = free_port()
        env = {key: value for key, value in os.environ.items() if key not in STRIPPED_ENV}
        env["PYTHONPATH"] = str(ROOT)
        server = self.children.start(
            Child(
                name="floor",
                argv=python_module("bench.floor", "--port", str(port)),
                env=env,
                log_path=self.tmp / "floor.log",
                piped=True,
            )
        )
        workers: list[Child] = []
        writer: Child | None = None
        try:
            server.receive(timeout=30)
            wait_listening(port, lambda: server.alive, timeout=30)
            url = f"ws://127.0.0.1:{port}"
            warm_socket(f"{url}/room", f"http://127.0.0.1:{port}", None)
            time.sleep(1.0)
            rss_before = rss_bytes(server.pid)
            workers = self.start_worker_pool(clients)
            targets = [[i, f"{url}/room?v=0", f"http://127.0.0.1:{port}", ""] for i in range(clients)]
            room["connect"] = self.connect(workers, targets)
            time.sleep(self.settle)
            rss_after = rss_bytes(server.pid)
            room["memory"] = {
                "rss_before_mib": rss_before / 2**20,
                "rss_after_mib": rss_after / 2**20,
                "kib_per_connection": (rss_after - rss_before) / 1024 / max(1, room["connect"]["connected"]),
            }
            writer = self.start_writer()
            writer.request({"cmd": "init", "mode": "floor", "control": f"{url}/control"}, timeout=30)

            def groups() -> dict[str, list[int]]:
                return {
                    "servers": [server.pid],
                    "clients": [worker.pid for worker in workers],
                    "writer": [writer.pid] if writer else [],
                    "harness": [os.getpid()],
                }

            base = 0
            for rate in rates:
                sizes = self.sizes.get((clients, rate)) or next(
                    (value for (n, _r), value in sorted(self.sizes.items()) if n == clients), [2000]
                )
                result = self.step(
                    writer=writer,
                    workers=workers,
                    groups=groups,
                    base=base,
                    rate=rate,
                    expected=clients,
                    app=False,
                    sizes=sizes,
                    label=f"floor N={clients}",
                )
                room["steps"][f"{rate:g}"] = result
                base = result["last_version"]
                time.sleep(1.0)
        finally:
            for worker in workers:
                with contextlib.suppress(Exception):
                    worker.request({"cmd": "close"}, timeout=60)
                self.children.stop(worker)
            if writer is not None:
                self.children.stop(writer)
            self.children.stop(server)
        return room

    # --- The board page ---------------------------------------------------------------

    def run_page(self) -> None:
        sizes = ",".join(str(size) for size in self.plan.page_sizes)
        backends = ["sqlite"]
        if any(SETUPS[key].backing for key in self.plan.setups) or self.plan.mode != "smoke":
            backends.append("postgres")
        for backend in backends:
            self.prepare(backend)
            self.log(f"board page on {backend}: {sizes} impossibles")
            out = self.tmp / f"page-{backend}.json"
            argv = python_module("bench.page", "--sizes", sizes, "--runs", str(self.plan.page_runs), "--out", str(out))
            self.run_django(backend, argv, f"page-{backend}", 900)
            self.results["page"][backend] = json.loads(out.read_text())
            self.save()

    def run_similar(self) -> None:
        sizes = ",".join(str(size) for size in self.plan.similar_sizes)
        backends = ["sqlite"]
        if any(SETUPS[key].backing for key in self.plan.setups) or self.plan.mode != "smoke":
            backends.append("postgres")
        for backend in backends:
            self.prepare(backend)
            self.log(f"« Ça ressemble à… » on {backend}: {sizes} impossibles")
            out = self.tmp / f"similar-{backend}.json"
            self.run_django(
                backend, python_module("bench.similar", "--sizes", sizes, "--out", str(out)), f"similar-{backend}", 900
            )
            self.results.setdefault("similar", {})[backend] = json.loads(out.read_text())
            self.save()

    def run_first_minute(self, phones: int, seconds: float) -> None:
        """`phones` join one daphne within `seconds` (bench/first_minute.py), on
        each backend of the one-process set-ups planned; the server's CPU over
        the minute, divided by the joins, is what a join costs."""
        for key in [key for key in self.plan.setups if SETUPS[key].processes == 1]:
            backend = "postgres" if SETUPS[key].backing else "sqlite"
            self.prepare(backend)
            atelier = self.create_atelier(backend, 0)
            log_path = self.tmp / f"daphne-first-minute-{key}.log"
            server = start_daphne(self.children, self.env(backend), log_path, self.app_dir, "daphne-first-minute")
            try:
                warm_socket(f"{server.ws_url}/ws/a/{atelier['code']}/?lang=fr&v=", server.url, atelier)
                time.sleep(self.settle)
                self.log(f"{key}: {phones} phones join within {seconds:g} s")
                out = self.tmp / f"first-minute-{key}.json"
                cpu_before = cpu_split(server.child.pid)
                profile_pids = [server.child.pid] if self.args.profile else []
                profilers = self.start_profilers(profile_pids, seconds + 5, f"first-minute-{key}")
                self.run_django(
                    backend,
                    python_module(
                        "bench.first_minute",
                        *first_minute.command_line(
                            server.url, atelier["code"], atelier.get("invite", ""), phones, seconds, out
                        ),
                    ),
                    f"first-minute-{key}",
                    seconds + 300,
                )
                result = json.loads(out.read_text())
                cpu_after = cpu_split(server.child.pid)
                user, system = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
                result["server_cpu_ms_per_join"] = (user + system) * 1000 / phones
                result["server_cpu_system_ms_per_join"] = system * 1000 / phones
                if profilers:
                    result["profile"] = self.finish_profilers(profilers)
            finally:
                self.children.stop(server.child)
            result["server_log"] = scan_log(log_path)
            self.results.setdefault("first_minute", {})[key] = result
            self.log(
                f"  live {result['live']}/{phones}, failed first try {result['failed_first_try']}, join to live p99 "
                f"{fmt(result['join_to_live_ms']['p99'])} ms, {result['server_cpu_ms_per_join']:.1f} ms CPU per join "
                f"({result['server_cpu_system_ms_per_join']:.1f} in the kernel)"
            )
            self.save()

    # --- A national day -----------------------------------------------------------------

    def run_national_day(self, ateliers: int, phones: int, processes: int, rate: float) -> None:
        self.log(f"national day: {ateliers} ateliers × {phones} phones over {processes} processes, {rate:g} write/s")
        result = national.run(self, ateliers, phones, processes, rate)
        self.results["national_day"] = result
        latency = result["latency_ms"]
        self.log(
            f"  p50 {fmt(latency['p50'])} p99 {fmt(latency['p99'])} ms, reach {result['reach']:.4f}, "
            f"unrecovered {result['unrecovered']}; busiest process "
            f"{max(process['cpu_pct'] for process in result['per_process']):.0f} % of a core"
        )
        self.save()

    # --- Everything ---------------------------------------------------------------------

    def save(self) -> None:
        self.args.json.parent.mkdir(parents=True, exist_ok=True)
        self.args.json.write_text(json.dumps(self.results, indent=1))

    def run(self) -> dict[str, Any]:
        try:
            for key in self.plan.matrix:
                self.run_setup(SETUPS[key])
            if self.plan.first_minute:
                self.run_first_minute(*self.plan.first_minute)
            if self.plan.national_day:
                self.run_national_day(*self.plan.national_day)
            if self.plan.floor:
                self.run_floor()
            if self.plan.page_sizes:
                self.run_page()
            if self.plan.similar_sizes:
                self.run_similar()
            self.results["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            self.results["targets"] = report.targets(self.results)
            self.save()
            return self.results
        finally:
            self.children.stop_all()
            if self.args.keep_tmp:
                self.log(f"logs kept in {self.tmp}")
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
            if "postgres" in self.prepared:
                with contextlib.suppress(Exception):
                    drop_postgres(self.args.database_url)
                with contextlib.suppress(Exception):
                    flush_redis(self.args.redis_url)


# --- Helpers ---------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def warm_socket(url: str, origin: str, atelier: dict[str, Any] | None) -> None:
    """Open and close one socket so the first measured ones do not pay for imports and pools."""
    from websockets.sync.client import connect

    headers = {"Cookie": f"sessionid={atelier['writers'][0]}"} if atelier else None
    with (
        contextlib.suppress(Exception),
        connect(url, origin=origin, additional_headers=headers, open_timeout=30, proxy=None, compression=None) as ws,
        contextlib.suppress(TimeoutError),
    ):
        ws.recv(timeout=0.5)


def scan_log(path: Path) -> dict[str, Any]:
    patterns = ["Traceback", "ERROR", "WARNING", "Too many connections", "over capacity", "not sent"]
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {"missing": True}
    lines = text.splitlines()
    counts = {pattern: sum(pattern in line for line in lines) for pattern in patterns}
    samples = []
    for line in lines:
        if any(pattern in line for pattern in patterns[1:]) and line[:200] not in samples:
            samples.append(line[:200])
        if len(samples) >= 3:
            break
    return {"counts": counts, "samples": samples}


def bench_database_name(url: str) -> str:
    name = urlparse(url).path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to use database {name!r}: its name must contain 'bench' (it is dropped)")
    return name


def maintenance_url(url: str) -> str:
    return urlunparse(urlparse(url)._replace(path="/postgres"))


def reset_postgres(url: str) -> None:
    import psycopg

    name = bench_database_name(url)
    with psycopg.connect(maintenance_url(url), autocommit=True, connect_timeout=10) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_postgres(url: str) -> None:
    import psycopg

    name = bench_database_name(url)
    with psycopg.connect(maintenance_url(url), autocommit=True, connect_timeout=10) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis(url: str) -> None:
    import redis

    database = urlparse(url).path.lstrip("/") or "0"
    if database == "0":
        raise SystemExit("refusing to flush Redis database 0 (the dev and test one): use e.g. redis://.../7")
    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        client.flushdb()
    finally:
        client.close()


def git_describe(repo: Path, ref: str | None) -> str:
    argv = ["git", "-C", str(repo), "describe", "--always", *([ref] if ref else ["--dirty"])]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def export_revision(repo: Path, ref: str, target: Path) -> Path:
    """`git archive` of one revision: the committed app, whatever the work tree holds."""
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", ref], capture_output=True, timeout=60)
    if archive.returncode != 0:
        raise SystemExit(f"git archive {ref} failed: {archive.stderr.decode(errors='replace')}")
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True, timeout=60)
    return target


def machine_info(app_dir: Path, revision: str | None, database_url: str, redis_url: str) -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ["Django", "channels", "daphne", "Twisted", "channels-redis", "redis", "websockets", "psycopg"]:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    if revision is None:
        revision = git_describe(app_dir, None)
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": psutil.virtual_memory().total / 2**30,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "app_revision": revision,
    }
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(maintenance_url(database_url), connect_timeout=5) as connection:
            info["postgresql"] = connection.execute("SHOW server_version").fetchone()[0]
    with contextlib.suppress(Exception):
        import redis

        client = redis.Redis.from_url(redis_url, socket_timeout=5)
        info["redis_server"] = client.info("server")["redis_version"]
        client.close()
    return info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick", help="the subset (~12 min)")
    mode.add_argument("--full", dest="mode", action="store_const", const="full", help="the whole matrix (~80 min)")
    mode.add_argument("--smoke", dest="mode", action="store_const", const="smoke", help="N=20, 10 events")
    parser.set_defaults(mode="quick")
    parser.add_argument("--setups", help=f"comma-separated among {','.join(SETUPS)}")
    parser.add_argument("--clients", help="comma-separated room sizes N (overrides the plan; no ramp)")
    parser.add_argument("--rates", help="comma-separated event rates (overrides the plan; no ramp)")
    parser.add_argument("--events", type=int, help="measured events per step (default 200)")
    parser.add_argument("--no-ramp", action="store_true")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--no-page", action="store_true")
    parser.add_argument("--no-similar", action="store_true", help="skip « Ça ressemble à… » (bench/similar.py)")
    parser.add_argument("--no-first-minute", action="store_true", help="skip the room joining (bench/first_minute.py)")
    parser.add_argument("--no-national-day", action="store_true", help="skip K ateliers over P processes")
    parser.add_argument("--only", help=f"comma-separated steps to run among {','.join(STEPS)}")
    parser.add_argument("--ping", type=float, default=25.0, help="client ping interval, s (board.js: 25; 0: none)")
    parser.add_argument("--connect-concurrency", type=int, default=100, help="sockets opening at once per worker")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="the checkout to benchmark (default: this one)")
    parser.add_argument("--app-revision", help="label for the app's revision (default: git describe)")
    parser.add_argument(
        "--app-ref",
        help="benchmark this git revision (e.g. HEAD), exported to a temporary directory, not the work tree",
    )
    parser.add_argument("--docs", type=Path, help="markdown file to update (default docs/benchmarks.md)")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--json", type=Path, help="raw results (default var/bench/<time>-<mode>.json)")
    parser.add_argument("--no-quiet", action="store_true", help="do not wait for other programs to calm down")
    parser.add_argument("--retry-noisy", action="store_true", help="measure a step again if others used the CPU")
    parser.add_argument("--profile", action="store_true", help="py-spy record the daphne processes in each step")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the server logs and temporary files")
    parser.add_argument("--report-only", type=Path, metavar="JSON", help="rewrite the docs from saved raw results")
    args = parser.parse_args(argv)
    if args.json is None:
        args.json = ROOT / "var" / "bench" / f"{stamp()}-{args.mode}.json"
    # A partial run (--only) would replace the whole report with its part.
    if args.docs is None and args.mode != "smoke" and not args.only:
        args.docs = ROOT / "docs" / "benchmarks.md"
    if args.no_docs:
        args.docs = None
    return args


def exclusive_lock() -> IO[str] | None:
    """One benchmark at a time on a machine: they would share (and drop) the bench
    database and Redis db, and each other's CPU. Held until the process exits."""
    handle = (Path(tempfile.gettempdir()) / "cerveau-bench.lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_only:
        results = json.loads(args.report_only.read_text())
        results["targets"] = report.targets(results)
        report.write_docs(args.docs or ROOT / "docs" / "benchmarks.md", results, args.report_only)
        print(report.console_summary(results))
        return 0
    plan = make_plan(args)
    signal.signal(signal.SIGTERM, _terminate)
    databases = bool(plan.page_sizes or plan.similar_sizes) and plan.mode != "smoke"
    shared = any(SETUPS[key].backing for key in plan.setups) or databases or bool(plan.national_day)
    lock = exclusive_lock() if shared else None
    if shared and lock is None:
        print(f"bench: another benchmark uses {args.database_url} and {args.redis_url} right now", file=sys.stderr)
        return 3
    harness = Harness(args, plan)
    harness.log(f"{plan.mode} benchmark; raw results in {args.json}")
    try:
        results = harness.run()
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    if args.docs is not None:
        report.write_docs(args.docs, results, args.json)
        harness.log(f"results written to {args.docs}")
    print(report.console_summary(results))
    return 0
