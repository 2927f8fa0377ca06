"""WebSocket origin check that refuses with a 4xxx close code, and the
structured log lines of the sockets.

Channels' own validator denies before the handshake, which browsers report
as 1006, and htmx reconnects forever on 1006. Accepting then closing with
4003 tells the client to stop.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlparse

from channels.security.websocket import AllowedHostsOriginValidator

logger = logging.getLogger(__name__)

CLOSE_FORBIDDEN_ORIGIN = 4003

# scheme "://" host [":" port], nothing else (RFC 6454): no user, path or query.
_SERIALIZED_ORIGIN = re.compile(r"https?://(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?", re.I)

# Share and follow-up links are capabilities: keep their tokens out of logs.
_TOKEN_PATH = re.compile(r"^(/ws/(?:plan|suivi)/)[^/]+")


def log_socket(
    level: int,
    message: str,
    *args: object,
    event: str,
    atelier: int | None = None,
    code: int | None = None,
    origin: str | None = None,
    reason: str | None = None,
    channel: str | None = None,
    path: str | None = None,
    log: logging.Logger = logger,
) -> None:
    """One log line about a socket, with the same `extra` fields every time
    (a JSON formatter prints them): `event` (ws.connect, ws.disconnect,
    ws.reject), `atelier` (id), `code` (close code), `origin`, `reason`,
    `channel` and `path`."""
    log.log(
        level,
        message,
        *args,
        stacklevel=2,
        extra={
            "event": event,
            "atelier": atelier,
            "code": code,
            "origin": origin,
            "reason": reason,
            "channel": channel,
            "path": _TOKEN_PATH.sub(r"\1…", path) if path else path,
        },
    )


def origin_of(scope) -> str | None:
    raw = dict(scope.get("headers", [])).get(b"origin")
    return raw.decode("latin-1") if raw is not None else None


class OriginValidator:
    def __init__(self, application) -> None:
        self.validator = AllowedHostsOriginValidator(application)
        self.application = application

    async def __call__(self, scope, receive, send):
        origin = origin_of(scope)
        if origin and self._allowed(origin):
            return await self.application(scope, receive, send)
        log_socket(
            logging.WARNING,
            "websocket refused: origin %r not allowed",
            origin,
            event="ws.reject",
            code=CLOSE_FORBIDDEN_ORIGIN,
            origin=origin,
            reason="origin",
            path=scope.get("path"),
        )
        return await _refuse(receive, send)

    def _allowed(self, origin: str) -> bool:
        # Only a serialized origin as browsers send it: urlparse alone reads
        # "http://127.0.0.1:8000.evil.example" as host 127.0.0.1, and the
        # host check ignores scheme and port.
        if not _SERIALIZED_ORIGIN.fullmatch(origin):
            return False
        try:
            parsed = urlparse(origin)
            parsed.port  # noqa: B018 -- raises ValueError out of 0-65535
            return self.validator.valid_origin(parsed)
        except ValueError:  # unparsable, e.g. "http://[::1": refuse rather than crash
            return False


async def _refuse(receive, send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": CLOSE_FORBIDDEN_ORIGIN})
