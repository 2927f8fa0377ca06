"""On commit, render once, send: how a change leaves the server.

Events leave only after the transaction that made them has committed
(`on_commit`): a page told about version N can always read version N. Each
event is rendered once per language (boards.live.messages), never once per
socket, and sent to the group of every socket reading that language; each
process's relay (boards.live.relay) writes it to its own sockets.

The channel layer delivers at most once (a full channel drops messages,
Redis may be away), so a failed send is logged and never undoes a write:
pages notice the version gap, or their next ping, and resync.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from boards.live import messages, protocol

logger = logging.getLogger(__name__)

Event = dict[str, Any]

# Tests append a list here to capture what every action emits.
listeners: list[list[tuple[int, int, Event]]] = []


def on_commit(atelier_id: int, version: int, event: Event) -> None:
    """Publish `event` (protocol.Event and its ids) once the write commits."""
    transaction.on_commit(partial(publish, atelier_id, version, event))


def publish(atelier_id: int, version: int, event: Event) -> None:
    for captured in listeners:
        captured.append((atelier_id, version, event))
    try:
        rendered = messages.event_messages(atelier_id, version, event)
    except Exception:
        logger.exception("could not render event %s v%s for atelier %s", event, version, atelier_id)
        rendered = {}
    send(atelier_id, {**rendered, protocol.TICKS: protocol.version_marker(version, protocol.Kind.EVENT)}, version)


def send(atelier_id: int, rendered: dict[str, str], version: int | None = None) -> None:
    """Send {language: html} to the atelier's groups, from synchronous code."""
    async_to_sync(send_async)(atelier_id, rendered, version)


async def send_async(atelier_id: int, rendered: dict[str, str], version: int | None = None) -> None:
    """`version`: the board version a push brings (relays note the newest
    they passed on, boards.live.relay); None for what changes no version."""
    layer = get_channel_layer()
    for language, html in rendered.items():
        message = {"type": protocol.MESSAGE, "html": html}
        if version is not None:
            message["version"] = version
        try:
            await layer.group_send(protocol.atelier_group(atelier_id, language), message)
        except Exception:
            logger.warning("live update to atelier %s (%s) not sent; clients will resync", atelier_id, language)


# --- Closing sockets that may no longer listen ---------------------------------------------


def close_atelier(atelier_id: int) -> None:
    """The atelier is gone: its sockets close for good (through the relays of
    its groups, which close all their sockets)."""
    order = {"type": protocol.CLOSE, "code": int(protocol.Close.GONE)}
    for language in [*messages.languages(), protocol.TICKS]:
        _send_order(protocol.atelier_group(atelier_id, language), order, "a deleted atelier")


def close_token(token: str) -> None:
    """A share or follow-up link was revoked: pages opened with it close."""
    _close_group(protocol.token_group(token), protocol.Close.GONE, "a revoked link")


def close_session(session_key: str) -> None:
    """A browser session logged out: its sockets close."""
    _close_group(protocol.session_group(session_key), protocol.Close.SIGNED_OUT, "a session that logged out")


def close_participant(atelier_id: int, participant_id: int) -> None:
    """A participant was forgotten: the pages still open for them close."""
    group = protocol.participant_group(atelier_id, participant_id)
    _close_group(group, protocol.Close.SIGNED_OUT, "a forgotten participant")


def close_team_member(atelier_id: int, user_id: int) -> None:
    """Someone left the atelier's team: their open console and projector close,
    as they would refuse to open now."""
    group = protocol.team_group(atelier_id, user_id)
    _close_group(group, protocol.Close.NOT_A_MEMBER, "a facilitator removed from the team")


def _close_group(group: str, code: int, whose: str) -> None:
    """Tell every process to close its sockets of `group` (protocol.CLOSE_GROUP)."""
    _send_order(protocol.CLOSE_GROUP, {"type": protocol.CLOSE, "group": group, "code": int(code)}, whose)


def _send_order(destination: str, order: dict, whose: str) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(destination, order)
    except Exception:
        logger.warning("could not close the sockets of %s", whose)
