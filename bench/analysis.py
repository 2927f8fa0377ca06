"""From raw records to figures: latency percentiles, reach, gaps, CPU per event."""

from __future__ import annotations

import math
from typing import Any

CLIENT_SATURATED = 90.0  # % of one core: a client worker above this is the bottleneck
FOREIGN_NOISY = 25.0  # % of one core used by other programs during a step


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    return {
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p99": percentile(ordered, 99),
        "max": ordered[-1] if ordered else None,
        "count": len(ordered),
    }


def map_versions(writer: dict[str, Any], base: int, app: bool) -> tuple[dict[int, float], list[dict[str, Any]], int]:
    """{version: due time} of the measured events, the failed requests, the last version.

    App: the writer is the only writer and waits for each answer, so the k-th
    successful request made version base + k. Floor: the server acknowledges
    each event with its version. Latencies count from when a write was due,
    not from when the writer, held up by the write before, could send it: in
    a room, phones do not wait for each other (results written before the
    writer noted due times fall back on send times)."""
    warmup = writer["warmup"]
    sends: dict[int, float] = {}
    failures = []
    version = base
    for k, (kind, sent, _done, status, error, *due) in enumerate(writer["requests"]):
        ok = 200 <= status < 400 if app else status > 0
        if not ok:
            failures.append({"k": k, "kind": kind, "status": status, "error": error})
            continue
        version = version + 1 if app else status
        if k >= warmup:
            sends[version] = due[0] if due else sent
    return sends, failures, version


def analyse_step(
    writer: dict[str, Any],
    workers: list[dict[str, Any]],
    *,
    base: int,
    expected_clients: int,
    app: bool,
    cpu: dict[str, Any] | None,
    final_version: int | None,
    keep_latencies: bool = False,
) -> dict[str, Any]:
    sends, failures, last = map_versions(writer, base, app)
    measured = sorted(sends)
    latencies: list[float] = []
    completion: dict[int, float] = {}
    reached: dict[int, int] = dict.fromkeys(measured, 0)
    sizes: dict[int, int] = {}
    clients = [client for worker in workers for client in worker["clients"]]
    missing = recovered = duplicates = snapshots = unversioned = gaps_seen = closed = 0
    close_codes: dict[str, int] = {}
    snapshot_bytes = 0
    catch_ups = 0
    for client in clients:
        first: dict[int, float] = {}
        for version, at, size in client["events"]:
            if version in first:
                duplicates += 1
                continue
            first[version] = at
            sizes.setdefault(version, size)
        snapshot_versions = [version for version, _at, _size in client["snapshots"]]
        snapshot_bytes += sum(size for _version, _at, size in client["snapshots"])
        best_snapshot = max(snapshot_versions, default=-1)
        snapshots += len(snapshot_versions)
        unversioned += client["unversioned"]
        gaps_seen += client["gaps_seen"]
        closed += client["closed"] is not None
        catch_ups += client.get("catch_ups", 0)
        for code in client.get("close_codes", []):
            close_codes[str(code)] = close_codes.get(str(code), 0) + 1
        for version in measured:
            at = first.get(version)
            if at is None:
                missing += 1
                recovered += best_snapshot >= version
                continue
            latency = (at - sends[version]) * 1000
            latencies.append(latency)
            reached[version] += 1
            completion[version] = max(completion.get(version, 0.0), latency)
    never_connected = max(0, expected_clients - len(clients))
    missing += never_connected * len(measured)
    expected = len(measured) * expected_clients
    received = len(latencies)
    full_events = [version for version in measured if reached[version] == expected_clients]
    requests = writer["requests"][writer["warmup"] :]
    durations = [(done - sent) * 1000 for _kind, sent, done, status, _error, *_due in requests if status]
    sent_times = [sent for _kind, sent, _done, _status, _error, *_due in requests]
    achieved = (len(sent_times) - 1) / (sent_times[-1] - sent_times[0]) if len(sent_times) > 1 else None
    lags = sorted(lag for worker in workers for lag in worker.get("lag", []))
    result: dict[str, Any] = {
        "events": len(measured),
        "clients": len(clients),
        "latency_ms": summary(latencies),
        "completion_ms": summary([completion[version] for version in full_events]),
        "reach": received / expected if expected else None,
        "received": received,
        "expected": expected,
        "missing": missing,
        "recovered": recovered,
        "unrecovered": missing - recovered,
        "gaps_seen": gaps_seen,
        "duplicates": duplicates,
        "snapshots": snapshots,
        "snapshot_mib": snapshot_bytes / 2**20,
        "catch_up_resyncs": catch_ups,
        "unversioned": unversioned,
        "closed": closed,
        "close_codes": close_codes,
        "never_connected": never_connected,
        "failed_requests": len(failures),
        "failures": failures[:5],
        "request_ms": summary(durations),
        "rate_achieved": achieved,
        "writer_max_behind_s": writer.get("max_behind"),
        "client_loop_lag_max_ms": lags[-1] * 1000 if lags else None,
        "sizes": [sizes[version] for version in measured if version in sizes],
        "last_version": last,
        "version_check": None if final_version is None else final_version == last,
    }
    if cpu is not None:
        result["cpu"] = cpu_figures(cpu, len(measured))
    result["void"] = void_reason(result)
    if keep_latencies:
        result["latencies"] = latencies
    return result


def cpu_figures(cpu: dict[str, Any], events: int) -> dict[str, Any]:
    wall = cpu["wall"]
    groups = cpu["groups"]
    per_event = max(events, 1)
    workers = cpu["per_process"].get("clients", {})
    return {
        "wall_s": wall,
        "server_ms_per_event": groups.get("servers", 0.0) / per_event * 1000,
        "server_pct": groups.get("servers", 0.0) / wall * 100,
        "backing_ms_per_event": (groups.get("postgres", 0.0) + groups.get("redis", 0.0)) / per_event * 1000,
        "postgres_pct": groups.get("postgres", 0.0) / wall * 100,
        "redis_pct": groups.get("redis", 0.0) / wall * 100,
        "clients_pct_total": groups.get("clients", 0.0) / wall * 100,
        "clients_pct_max": max((seconds / wall * 100 for seconds in workers.values()), default=0.0),
        "writer_pct": groups.get("writer", 0.0) / wall * 100,
        "machine_pct": cpu["machine"] / wall * 100,
        "foreign_pct": cpu["foreign"] / wall * 100,
    }


def void_reason(result: dict[str, Any]) -> str | None:
    cpu = result.get("cpu") or {}
    if cpu.get("clients_pct_max", 0.0) >= CLIENT_SATURATED:
        return f"client worker saturated ({cpu['clients_pct_max']:.0f} % of a core)"
    if result["version_check"] is False:
        return "versions do not match the writes (another writer, or a failed request that committed)"
    if result["events"] == 0:
        return "no event measured"
    return None
