"""GET /healthz: can this process reach the database and the channel layer?

For the proxy's and the monitors' upstream checks: no login, no session,
never cached. A failure names the part that failed and nothing more; the
details go to the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

if TYPE_CHECKING:
    from django.http import HttpRequest

logger = logging.getLogger(__name__)

# A layer that takes longer than this to echo one message cannot carry a room.
CHANNEL_LAYER_TIMEOUT = 2.0
UNAVAILABLE = 503


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _release(layer: Any, channel: str) -> None:
    # Layers have no "delete channel": a consumer gives its channel up by
    # having its pending receive cancelled, which is when channels_redis'
    # pubsub layer unsubscribes. Do the same, or every check would leave a
    # subscription behind in Redis.
    pending = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0)  # let it start waiting
    pending.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await pending


async def _round_trip(layer: Any) -> None:
    channel = await layer.new_channel()
    token = secrets.token_hex(8)
    try:
        await layer.send(channel, {"type": "healthz.ping", "token": token})
    except BaseException:
        await _release(layer, channel)
        raise
    # A receive cancelled by the timeout releases the channel itself.
    message = await layer.receive(channel)
    await _release(layer, channel)
    if message.get("token") != token:
        raise RuntimeError("the channel layer answered with another message")


async def _check_channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    await asyncio.wait_for(_round_trip(layer), CHANNEL_LAYER_TIMEOUT)


async def _status(name: str, check) -> str:
    try:
        await check()
    except Exception as error:
        # One line, no traceback: monitors call this every few seconds, and
        # during an outage the cause is the same each time.
        logger.warning(
            "health check failed: %s: %s",
            name,
            repr(error),
            extra={"event": "healthz", "check": name, "error": type(error).__name__},
        )
        return "error"
    return "ok"


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    database, channel_layer = await asyncio.gather(
        _status("database", sync_to_async(_check_database)),
        _status("channel_layer", _check_channel_layer),
    )
    ok = database == channel_layer == "ok"
    body = {"status": "ok" if ok else "error", "database": database, "channel_layer": channel_layer}
    return JsonResponse(body, status=200 if ok else UNAVAILABLE)
