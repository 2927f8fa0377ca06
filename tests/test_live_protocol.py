"""The live protocol is named once (boards/live/protocol.py), and the page's
script (static/boards/board.js) spells it the same way; every template and
module writes its markers through it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from boards.live import protocol

pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parent.parent
BOARD_JS = ROOT / "static" / "boards" / "board.js"


def _script_protocol() -> dict:
    match = re.search(r"/\* protocol \*/(.*?)/\* /protocol \*/", BOARD_JS.read_text(), re.S)
    assert match, "board.js lost its PROTOCOL block"
    return json.loads(match.group(1))


def test_board_js_mirrors_the_protocol():
    assert _script_protocol() == protocol.for_pages()


def test_every_close_code_a_page_must_not_retry_is_a_refusal_for_the_script():
    mirrored = _script_protocol()
    for code in protocol.Close:
        retried = code in mirrored["retried"]
        refused = mirrored["refusedFrom"] <= code < mirrored["refusedFrom"] + 1000
        assert retried != refused, f"{code!r} must be either retried or refused by board.js"


@pytest.mark.parametrize("kind", list(protocol.Kind))
def test_a_marker_reads_back_as_written(kind):
    assert protocol.parse_version(protocol.version_marker(41, kind, oob=True)) == (41, kind.value)
    assert protocol.parse_version(protocol.version_marker(7, kind)) == (7, kind.value)


def test_nothing_else_spells_the_markers():
    """Templates and modules write markers through protocol (the template
    tag `live_version`, version_marker, ping_reply, layer_state)."""
    spelled = []
    for path in [*ROOT.glob("templates/**/*.html"), *ROOT.glob("boards/**/*.py"), *ROOT.glob("bench/*.py")]:
        if path == ROOT / "boards" / "live" / "protocol.py":
            continue
        text = path.read_text()
        for marker in (protocol.VERSION_ID, protocol.PING_ID, protocol.LAYER_ID):
            if f'id="{marker}"' in text:
                spelled.append(f"{path.relative_to(ROOT)}: {marker}")
    assert not spelled, spelled


def test_only_the_live_package_talks_to_the_channel_layer():
    talking = [
        str(path.relative_to(ROOT))
        for path in ROOT.glob("boards/**/*.py")
        if "channels.layers" in path.read_text() and "live" not in path.relative_to(ROOT).parts
    ]
    assert not talking, talking
