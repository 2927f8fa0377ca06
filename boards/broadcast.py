"""The only module that talks to the channel layer.

Events leave here only after the transaction that made them has committed
(`on_commit`): a client told about version N can always read version N.
A fragment is rendered once per event and language, then sent to the
group of every socket reading that language: never once per socket.

The channel layer delivers at most once (a full channel drops messages,
Redis may be away), so a failed send is logged and never undoes a write:
clients notice the version gap, or their next ping, and resync.
"""

from __future__ import annotations

import hashlib
import logging
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

Event = dict[str, Any]

# Tests append a list here to capture what every action emits.
listeners: list[list[tuple[int, int, Event]]] = []


def group_name(atelier_id: int, language: str) -> str:
    return f"atelier-{atelier_id}-{language}"


def languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


# Pages opened through a public or follow-up link hear only that the board
# moved on (a version "tick"), never the board's own fragments: they fetch
# what they may show over HTTP.
TICKS = "ticks"


def tick(version: int, kind: str = "event") -> str:
    return f'<div id="live-version" data-version="{int(version)}" data-kind="{kind}" hidden></div>'


def on_commit(atelier_id: int, version: int, event: Event) -> None:
    transaction.on_commit(partial(publish, atelier_id, version, event))


def publish(atelier_id: int, version: int, event: Event) -> None:
    from boards import fragments

    for captured in listeners:
        captured.append((atelier_id, version, event))
    try:
        messages = fragments.event_messages(atelier_id, version, event)
    except Exception:
        logger.exception("could not render event %s v%s for atelier %s", event, version, atelier_id)
        messages = {}
    send(atelier_id, {**messages, TICKS: tick(version)})


def send(atelier_id: int, messages: dict[str, str]) -> None:
    layer = get_channel_layer()
    for language, html in messages.items():
        try:
            async_to_sync(layer.group_send)(group_name(atelier_id, language), {"type": "board.message", "html": html})
        except Exception:
            logger.warning("live update to atelier %s (%s) not sent; clients will resync", atelier_id, language)


async def send_async(atelier_id: int, messages: dict[str, str]) -> None:
    layer = get_channel_layer()
    for language, html in messages.items():
        try:
            await layer.group_send(group_name(atelier_id, language), {"type": "board.message", "html": html})
        except Exception:
            logger.warning("live update to atelier %s (%s) not sent; clients will resync", atelier_id, language)


def close_atelier(atelier_id: int) -> None:
    """The atelier is gone: tell its sockets to close for good."""
    layer = get_channel_layer()
    for language in [*languages(), TICKS]:
        try:
            async_to_sync(layer.group_send)(group_name(atelier_id, language), {"type": "board.close"})
        except Exception:
            logger.warning("could not close the sockets of deleted atelier %s (%s)", atelier_id, language)


def token_group(token: str) -> str:
    """The sockets of pages opened through one share or follow-up link."""
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:40]


def close_token(token: str) -> None:
    """A share or follow-up link was revoked: pages opened with it close."""
    try:
        async_to_sync(get_channel_layer().group_send)(token_group(token), {"type": "board.close", "code": 4404})
    except Exception:
        logger.warning("could not close the sockets of a revoked link")


def close_session(group: str, code: int) -> None:
    """Close every socket of one browser session (after logging out)."""
    try:
        async_to_sync(get_channel_layer().group_send)(group, {"type": "board.close", "code": code})
    except Exception:
        logger.warning("could not close the sockets of a session that logged out")
