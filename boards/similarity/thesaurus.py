"""The domain thesaurus (thesaurus.txt beside this file), read once.

Its format and how it was built are described at the top of the file and in
boards/similarity/evaluation/README.md.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

PATH = Path(__file__).with_name("thesaurus.txt")


@dataclass(frozen=True)
class Thesaurus:
    concepts: dict[str, list[str]]
    weak: frozenset[str]
    places: frozenset[str]


def parse(text: str) -> Thesaurus:
    concepts: dict[str, list[str]] = {}
    weak: set[str] = set()
    places: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head, sep, tail = line.partition(":")
        if not sep:
            raise ValueError(f"thesaurus line {number}: expected 'concept: expression, ...'")
        expressions = [e.strip() for e in tail.split(",") if e.strip()]
        name = head.split()
        if name == ["places"]:
            places.update(expressions)
            continue
        if name[:1] == ["weak"]:
            name = name[1:]
            weak.add(name[0] if name else "")
        if len(name) != 1 or name[0] in concepts:
            raise ValueError(f"thesaurus line {number}: one new concept name before the colon")
        concepts[name[0]] = expressions
    return Thesaurus(concepts, frozenset(weak), frozenset(places))


@functools.cache
def load() -> Thesaurus:
    return parse(PATH.read_text(encoding="utf-8"))
