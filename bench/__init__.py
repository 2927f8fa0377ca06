"""Benchmark of the live room (issue 6): latency, reach and cost of the WebSocket pushes.

Run ``.venv/bin/python -m bench --quick`` (or ``make bench``); see docs/benchmarks.md.
Not part of the test suite, except for a smoke run (tests/test_bench_smoke.py).

Modules:
    run         the harness: plans the steps, starts every process, measures, reports
    procs       child processes (daphne, socket workers, writer, floor), CPU and memory sampling
    data        creates an atelier, participants and their sessions (run with Django configured)
    clients     a socket-client worker process: N_i real WebSocket clients on one asyncio loop
    writer      the single HTTP writer (or floor trigger), sequential at a fixed rate
    floor       the floor: a minimal `websockets` broadcast server
    page        board page render time and SQL query count (run with Django configured)
    analysis    percentiles, reach and gaps from the raw records
    report      docs/benchmarks.md
"""
