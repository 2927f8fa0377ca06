"""WebSocket origin check that refuses with a 4xxx close code.

Channels' own validator denies before the handshake, which browsers report
as 1006, and htmx reconnects forever on 1006. Accepting then closing with
4003 tells the client to stop.
"""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from channels.security.websocket import AllowedHostsOriginValidator

logger = logging.getLogger(__name__)

CLOSE_FORBIDDEN_ORIGIN = 4003


class OriginValidator:
    def __init__(self, application) -> None:
        self.validator = AllowedHostsOriginValidator(application)
        self.application = application

    async def __call__(self, scope, receive, send):
        origin = dict(scope.get("headers", [])).get(b"origin", b"").decode("latin-1")
        if origin and self._allowed(origin):
            return await self.application(scope, receive, send)
        logger.warning("websocket refused: origin %r not allowed (path %s)", origin, scope.get("path"))
        return await _refuse(receive, send)

    def _allowed(self, origin: str) -> bool:
        try:
            return self.validator.valid_origin(urlparse(origin))
        except ValueError:  # unparsable, e.g. "http://[::1": refuse rather than crash
            return False


async def _refuse(receive, send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": CLOSE_FORBIDDEN_ORIGIN})
