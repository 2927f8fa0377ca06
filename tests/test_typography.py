"""French typography: a narrow no-break space (U+202F) before « ? ! : ; »
and inside guillemets, so a phone never starts a line with a lone « ? ».

Scans what people read in French: every template, and the French source
strings of the catalogue (the msgids, which are the French text).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
CATALOGUE = ROOT / "locale" / "en" / "LC_MESSAGES" / "django.po"

# An ordinary or a (wide) no-break space between a word and the sign: the
# sign must be followed by the end of the text, a space, a quote or markup
# (so "?sort=top" or "a:b" are not punctuation).
SPACE_BEFORE_SIGN = re.compile(r"\S([ \u00a0]+)[?!:;](?=[\s\"'<{»)]|$)")
SPACE_AFTER_OPENING = re.compile(r"«[ \u00a0]")
SPACE_BEFORE_CLOSING = re.compile(r"\S[ \u00a0]»")


def faults(text: str) -> list[str]:
    found = []
    for pattern in (SPACE_BEFORE_SIGN, SPACE_AFTER_OPENING, SPACE_BEFORE_CLOSING):
        found += [text[max(0, m.start() - 25) : m.end() + 5] for m in pattern.finditer(text)]
    return found


def catalogue_msgids() -> list[str]:
    """Every msgid and msgid_plural of the catalogue, its lines joined."""
    msgids, current = [], None
    for line in CATALOGUE.read_text().splitlines():
        if match := re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d\])?|msgctxt) "(.*)"$', line):
            current = [match.group(2)] if match.group(1).startswith("msgid") else None
            if current is not None:
                msgids.append(current)
        elif line.startswith('"') and current is not None:
            current.append(line[1:-1])
        else:
            current = None
    return ["".join(parts) for parts in msgids if "".join(parts)]


def test_the_checker_finds_an_ordinary_space_before_a_sign_and_inside_guillemets():
    assert faults("Qui pilote ?")
    assert faults("Contact : Alice")
    assert faults("Merci !")
    assert faults("« moi aussi »")
    assert faults("Qui pilote\u00a0?")
    assert not faults("Qui pilote\u202f? «\u202fmoi aussi\u202f» Contact\u202f: a:b ?sort=top &amp; 10:00")


def test_no_template_has_an_ordinary_space_before_a_french_sign():
    found = {
        str(path.relative_to(ROOT)): problems
        for path in sorted(TEMPLATES.rglob("*"))
        if path.suffix in {".html", ".txt"} and (problems := faults(path.read_text()))
    }
    assert not found, found


def test_no_french_source_string_has_an_ordinary_space_before_a_sign():
    msgids = catalogue_msgids()
    assert len(msgids) > 300, "the catalogue was not read"
    found = [problem for msgid in msgids for problem in faults(msgid)]
    assert not found, found
