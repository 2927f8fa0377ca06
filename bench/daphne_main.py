"""daphne's own command line, in a process that dies with the harness."""

from __future__ import annotations

from daphne.cli import CommandLineInterface

from bench.procs import orphan_guard

if __name__ == "__main__":
    orphan_guard()
    CommandLineInterface.entrypoint()
