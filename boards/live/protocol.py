"""The live protocol between the server and every page, named once.

A push is HTML that htmx's WebSocket extension swaps by id. Its first
element is a version marker: every change to a board bumps the atelier's
version in the same transaction, and a page applies version N + 1 after N,
drops what it already has, and asks for a snapshot when it sees a gap.
Pings are answered with the version only; when the channel layer stops or
resumes carrying pushes, the page is told so.

static/boards/board.js mirrors the names a page needs (its `PROTOCOL`
object); tests/test_live_protocol.py checks that the two agree. See
docs/live-updates.md for the whole story.
"""

from __future__ import annotations

import hashlib
import json
import re
from enum import IntEnum, StrEnum

# --- What a page receives -------------------------------------------------------------------

VERSION_ID = "live-version"
PING_ID = "live-ping"
LAYER_ID = "live-layer"
BEAT_ID = "live-beat"
# Every open socket hears at least this often (a beat when nothing else is
# said): a page that hears nothing for SILENT_SECONDS knows its connection
# died without the browser noticing, and says so (static/boards/board.js).
BEAT_SECONDS = 4
SILENT_SECONDS = 9


class Kind(StrEnum):
    """What a version marker labels."""

    PAGE = "page"  # rendered into a page
    EVENT = "event"  # one change, to apply after the previous version
    SNAPSHOT = "snapshot"  # the whole board (as the page views it), always applied


def version_marker(version: int, kind: str, *, oob: bool = False) -> str:
    """`<div id="live-version">`: the version the HTML around it shows."""
    swap = ' hx-swap-oob="true"' if oob else ""
    return f'<div id="{VERSION_ID}" data-version="{int(version)}" data-kind="{Kind(kind)}" hidden{swap}></div>'


def ping_reply(version: int) -> str:
    """The answer to a ping: the atelier's version, nothing else."""
    return f'<div id="{PING_ID}" data-version="{int(version)}" hidden></div>'


def layer_state(up: bool) -> str:
    """The channel layer stopped ("down") or resumed ("up") carrying pushes."""
    return f'<div id="{LAYER_ID}" data-state="{"up" if up else "down"}" hidden></div>'


BEAT = f'<div id="{BEAT_ID}" hidden></div>'

LAYER_DOWN = layer_state(False)
LAYER_UP = layer_state(True)

VERSION_MARKER = re.compile(rf'id="{VERSION_ID}" data-version="(\d+)" data-kind="(\w+)"')


def parse_version(html: str) -> tuple[int, str] | None:
    """(version, kind) of the first version marker in a page or a push."""
    match = VERSION_MARKER.search(html)
    return (int(match.group(1)), match.group(2)) if match else None


# --- What a page sends ------------------------------------------------------------------------


class ClientMessage(StrEnum):
    PING = "ping"  # {"type": "ping", "version": N}: answered with ping_reply
    RESYNC = "resync"  # {"type": "resync", "version": N, "sort": ..., "category": ...}: a snapshot unless current


# --- Why the server closes a socket ----------------------------------------------------------


class Close(IntEnum):
    """htmx's WebSocket extension reconnects only on RETRIED codes: a 4xxx code
    tells a page to stop. daphne (autobahn) lets an application close only with
    1000 or 3000-4999, hence 4413/4415/4429 rather than RFC 6455's 1009/1003/1008."""

    TRY_AGAIN = 1011  # the channel layer is away: come back later
    FORBIDDEN_ORIGIN = 4003  # not one of the site's own pages
    SIGNED_OUT = 4401  # this browser no longer speaks for that person
    NOT_A_MEMBER = 4403  # not a participant or facilitator of the atelier
    GONE = 4404  # the atelier was deleted, or the link revoked
    TOO_BIG = 4413  # a frame no page sends
    UNSUPPORTED_DATA = 4415  # a binary frame
    FLOOD = 4429  # too many messages, or too many sockets


RETRIED = (1006, 1011, 1012, 1013)


# --- What the server sends between its processes ----------------------------------------------


class Event(StrEnum):
    """The changes actions publish (boards.live.publish.on_commit); each is
    rendered once per language into the fragments it changes."""

    IMPOSSIBLE_POSTED = "impossible.posted"
    IMPOSSIBLE_SUBMITTED = "impossible.submitted"  # waiting for moderation: no card yet
    IMPOSSIBLE_EDITED = "impossible.edited"
    IMPOSSIBLE_HIDDEN = "impossible.hidden"
    IMPOSSIBLE_MERGED = "impossible.merged"
    ME_TOO_CHANGED = "metoo.changed"
    OFFER_POSTED = "offer.posted"
    OFFERS_CHANGED = "offers.changed"
    PRECISIONS_CHANGED = "precisions.changed"  # one added (« Ça ressemble à… ») or hidden
    ACTION_CHANGED = "action.changed"
    ATELIER_UPDATED = "atelier.updated"
    PARTICIPANT_UPDATED = "participant.updated"
    DUPLICATE_DISMISSED = "duplicate.dismissed"  # « Pas un doublon »: consoles refresh, no card changes


# Channel-layer message types: a push to relay, or a close order.
MESSAGE = "board.message"
CLOSE = "board.close"

# Pages opened through a public or follow-up link hear only that the board
# moved on (version markers), never the board's own fragments: they fetch
# what they may show over HTTP.
TICKS = "ticks"


def atelier_group(atelier_id: int, language: str) -> str:
    """The sockets of one atelier reading one language (or TICKS)."""
    return f"atelier-{atelier_id}-{language}"


# Close orders for sockets that are not all of one atelier group (a session,
# a participant, a team member, a link): each process has one subscription
# to it and closes its own sockets of the group the order names.
CLOSE_GROUP = "sockets-close"


def token_group(token: str) -> str:
    """The sockets of pages opened through one share or follow-up link."""
    return "token-" + _digest(token)


def session_group(session_key: str) -> str:
    """The sockets of one browser session (closed when it logs out)."""
    return "session-" + _digest(session_key)


def team_group(atelier_id: int, user_id: int) -> str:
    """The sockets one facilitator opened on one atelier."""
    return f"team-{atelier_id}-{user_id}"


def participant_group(atelier_id: int, participant_id: int) -> str:
    """The sockets one participant opened (their phone, their other tabs)."""
    return f"participant-{atelier_id}-{participant_id}"


def _digest(secret: str) -> str:
    # Session keys and link tokens are credentials: never in a group name.
    return hashlib.sha256(secret.encode()).hexdigest()[:40]


def for_pages() -> dict:
    """What board.js must agree on, as it spells it."""
    return {
        "ids": {"version": VERSION_ID, "ping": PING_ID, "layer": LAYER_ID, "beat": BEAT_ID},
        "kinds": {kind.name.lower(): kind.value for kind in Kind},
        "messages": {message.name.lower(): message.value for message in ClientMessage},
        "retried": list(RETRIED),
        "refusedFrom": 4000,
        "beatSeconds": BEAT_SECONDS,
        "silentSeconds": SILENT_SECONDS,
    }


# --- Frames a page sends ----------------------------------------------------------------------

# Pages send a few dozen bytes. daphne drops the connection itself past 1 MiB
# (the client sees 1006), before the application sees the frame.
MAX_FRAME_BYTES = 64 * 1024
# Longer messages are ignored unparsed.
MAX_CLIENT_MESSAGE = 1024


def frame_size(text_data: str | None, bytes_data: bytes | None) -> int:
    if text_data is None:
        return len(bytes_data or b"")
    # A character is 1 to 4 bytes: only encode when it could matter.
    if len(text_data) * 4 <= MAX_FRAME_BYTES:
        return len(text_data)
    return len(text_data.encode("utf-8", "surrogatepass"))


def parse_client_message(text_data: str | None) -> dict | None:
    """A page's message ({"type": ...}), or None for anything else."""
    if not text_data or len(text_data) > MAX_CLIENT_MESSAGE:
        return None
    try:
        message = json.loads(text_data)
    except (ValueError, RecursionError):
        # RecursionError: "[[[[..." nests deeper than the parser allows
        # while staying under MAX_CLIENT_MESSAGE.
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    return message
