"""GET /healthz: can this process reach the database and the channel layer?

For the proxy's and the monitors' upstream checks: no login, no session,
never cached. A failure names the part that failed and nothing more; the
details go to the log.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from boards.live import relay

if TYPE_CHECKING:
    from django.http import HttpRequest

logger = logging.getLogger(__name__)

UNAVAILABLE = 503


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


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
        _status("channel_layer", relay.check_layer),
    )
    ok = database == channel_layer == "ok"
    body = {"status": "ok" if ok else "error", "database": database, "channel_layer": channel_layer}
    return JsonResponse(body, status=200 if ok else UNAVAILABLE)
