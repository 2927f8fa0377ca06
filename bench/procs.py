"""Child processes of the benchmark and what we measure about them.

Every child is started from the harness's main thread and registered, so that
``Children.stop_all()`` (called in a ``finally``) ends them all, even on failure.
Children also ask Linux to terminate them when the harness dies
(``orphan_guard``), so a killed harness leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
PARENT_ENV = "BENCH_PARENT_PID"
PR_SET_PDEATHSIG = 1


class BenchError(RuntimeError):
    """Something the benchmark cannot go on with (a child died, a timeout)."""


def orphan_guard() -> None:
    """In a child: get SIGTERM when the harness dies; exit now if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    expected = os.environ.get(PARENT_ENV)
    if expected and os.getppid() != int(expected):
        sys.exit("bench: the harness is gone")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, alive: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise BenchError(f"the process meant to listen on port {port} exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"nothing listens on port {port} after {timeout:.0f} s")


def log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


@dataclass
class Child:
    """A child process; stderr (and stdout unless piped) go to `log_path`."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    cwd: Path = ROOT
    piped: bool = False
    process: subprocess.Popen | None = None
    lines: queue.Queue = field(default_factory=queue.Queue)
    _reader: threading.Thread | None = None

    def start(self) -> Child:
        log: IO[bytes] = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env={**self.env, PARENT_ENV: str(os.getpid())},
                stdin=subprocess.PIPE if self.piped else subprocess.DEVNULL,
                stdout=subprocess.PIPE if self.piped else log,
                stderr=log,
                text=self.piped or None,
                bufsize=1 if self.piped else -1,
            )
        finally:
            log.close()
        if self.piped:
            self._reader = threading.Thread(target=self._read, name=f"read-{self.name}", daemon=True)
            self._reader.start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                self.lines.put({"unparsed": line})
        self.lines.put(None)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def fail(self, what: str) -> BenchError:
        return BenchError(f"{self.name}: {what}\n--- {self.log_path} ---\n{log_tail(self.log_path)}")

    def send(self, message: dict[str, Any]) -> None:
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self.fail(f"cannot send {message.get('cmd')!r}: the process exited") from None

    def receive(self, timeout: float) -> dict[str, Any]:
        try:
            message = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise self.fail(f"no answer within {timeout:.0f} s") from None
        if message is None:
            raise self.fail("exited")
        if "error" in message:
            raise self.fail(f"reported an error: {message['error']}")
        return message

    def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.send(message)
        return self.receive(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if self.piped and self.process.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                self.process.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=2)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)


class Children:
    """Every process the harness started, stopped in reverse order."""

    def __init__(self) -> None:
        self.started: list[Child] = []

    def start(self, child: Child) -> Child:
        self.started.append(child)
        return child.start()

    def stop(self, child: Child) -> None:
        child.stop()
        with contextlib.suppress(ValueError):
            self.started.remove(child)

    def stop_all(self) -> None:
        while self.started:
            child = self.started.pop()
            with contextlib.suppress(Exception):
                child.stop()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


@dataclass
class Daphne:
    """One daphne process serving the app (`python -m bench.daphne_main` runs daphne's own CLI)."""

    child: Child
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


def start_daphne(children: Children, env: dict[str, str], log_path: Path, cwd: Path, name: str) -> Daphne:
    for _attempt in range(3):
        port = free_port()
        # `-v 0` as in production (deploy/systemd): cerveau.access logs the requests.
        argv = python_module(
            "bench.daphne_main", "-v", "0", "-b", "127.0.0.1", "-p", str(port), "cerveau.asgi:application"
        )
        child = children.start(Child(name=name, argv=argv, env=env, log_path=log_path, cwd=cwd))
        try:
            wait_listening(port, lambda child=child: child.alive, timeout=60)
        except BenchError:
            children.stop(child)
            if "Address already in use" in log_tail(log_path):
                continue
            raise child.fail("did not start") from None
        return Daphne(child=child, port=port)
    raise BenchError(f"daphne could not find a free port\n{log_tail(log_path)}")


# --- CPU and memory ---------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (0 if it is gone)."""
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU time of a process (0 if it is gone)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0.0, 0.0
    return times.user, times.system


def rss_bytes(pid: int) -> int:
    try:
        return psutil.Process(pid).memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0


def machine_busy_seconds() -> float:
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq + getattr(times, "steal", 0.0)


def backing_processes(database_name: str | None) -> dict[str, list[int]]:
    """PostgreSQL processes that serve the bench database (plus its shared background
    workers) and the Redis server. Backends of other databases (another test run
    on the machine) are left out."""
    found: dict[str, list[int]] = {"postgres": [], "redis": []}
    for process in psutil.process_iter(["name", "cmdline"]):
        name = process.info.get("name") or ""
        if name == "redis-server":
            found["redis"].append(process.pid)
        elif name == "postgres" or name.startswith("postgres:"):
            title = " ".join(process.info.get("cmdline") or [])
            is_backend = "(" in title and ")" in title  # "postgres: user db 127.0.0.1(port) state"
            if database_name and (not is_backend or f" {database_name} " in title):
                found["postgres"].append(process.pid)
    return found


@dataclass
class CpuSnapshot:
    at: float
    machine: float
    groups: dict[str, dict[int, float]]


def snapshot_cpu(groups: dict[str, list[int]]) -> CpuSnapshot:
    return CpuSnapshot(
        at=time.monotonic(),
        machine=machine_busy_seconds(),
        groups={name: {pid: cpu_seconds(pid) for pid in pids} for name, pids in groups.items()},
    )


def cpu_delta(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, Any]:
    """CPU seconds used per group between two snapshots, per process too, and what the
    rest of the machine used ("foreign": other programs, e.g. another test run)."""
    wall = max(after.at - before.at, 1e-9)
    result: dict[str, Any] = {"wall": wall, "groups": {}, "per_process": {}}
    ours = 0.0
    for name, pids in after.groups.items():
        start = before.groups.get(name, {})
        # A process that started in the window counts from zero; one that ended is lost.
        deltas = {pid: max(0.0, seconds - start.get(pid, 0.0)) for pid, seconds in pids.items()}
        result["per_process"][name] = deltas
        result["groups"][name] = sum(deltas.values())
        ours += result["groups"][name]
    machine = max(0.0, after.machine - before.machine)
    result["machine"] = machine
    result["foreign"] = max(0.0, machine - ours)
    return result
