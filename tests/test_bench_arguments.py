"""The benchmark hands each step its arguments intact (bench/run.py)."""

from __future__ import annotations

from pathlib import Path

from bench import first_minute


def test_an_invitation_starting_with_a_dash_reaches_the_first_minute_as_it_is():
    # An invitation is URL-safe base64: one in 64 starts with "-", which an
    # argument parser would take for an option of its own.
    line = first_minute.command_line("http://127.0.0.1:8100", "ABC123", "-x_Yz0", 300, 30.0, Path("/tmp/out.json"))
    args = first_minute.arguments().parse_args(line)
    assert (args.url, args.code, args.invite, args.phones, args.seconds) == (
        "http://127.0.0.1:8100",
        "ABC123",
        "-x_Yz0",
        300,
        30.0,
    )
    assert args.out == Path("/tmp/out.json")
