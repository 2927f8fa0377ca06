"""The access log: one line per HTTP request and per WebSocket handshake,
through Python's logging (text or JSON like every other line), with link
tokens masked.

daphne's own access log writes each request's full path to stdout, tokens
of the public plan and of pilots' follow-up links included; the servers run
with `-v 0` (deploy/systemd), which turns it off, and this one takes its
place. Under `manage.py runserver` it replaces daphne's `django.channels.server`
lines (silenced in the settings).
"""

from __future__ import annotations

import logging
import time

from cerveau.logging import mask_tokens

logger = logging.getLogger("cerveau.access")


def _client(scope) -> str | None:
    # With daphne --proxy-headers: the address nginx put in X-Forwarded-For.
    client = scope.get("client")
    return client[0] if client else None


def _log_request(scope, status: int | None, size: int, seconds: float) -> None:
    path = mask_tokens(scope.get("path", ""))
    logger.info(
        "%s %s %s [%s]",
        scope.get("method", ""),
        path,
        status,
        _client(scope),
        extra={
            "event": "http.request",
            "method": scope.get("method", ""),
            "path": path,
            "status": status,
            "bytes": size,
            "duration_ms": round(seconds * 1000, 1),
            "client": _client(scope),
        },
    )


class AccessLog:
    """ASGI middleware around the whole application."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            return await self._http(scope, receive, send)
        if scope["type"] == "websocket":
            return await self._websocket(scope, receive, send)
        return await self.application(scope, receive, send)

    async def _http(self, scope, receive, send):
        started = time.monotonic()
        response = {"status": None, "bytes": 0}

        async def watch(message):
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
            elif message["type"] == "http.response.body":
                response["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.application(scope, receive, watch)
        finally:
            # Monitors poll /healthz every few seconds: only its failures are news.
            if scope.get("path") != "/healthz" or response["status"] != 200:
                _log_request(scope, response["status"], response["bytes"], time.monotonic() - started)

    async def _websocket(self, scope, receive, send):
        path = mask_tokens(scope.get("path", ""))
        answered = False

        async def watch(message):
            nonlocal answered
            if not answered and message["type"] in ("websocket.accept", "websocket.close"):
                answered = True
                accepted = message["type"] == "websocket.accept"
                logger.info(
                    "WEBSOCKET %s %s [%s]",
                    path,
                    "accepted" if accepted else "refused",
                    _client(scope),
                    extra={"event": "ws.handshake", "path": path, "accepted": accepted, "client": _client(scope)},
                )
            await send(message)

        await self.application(scope, receive, watch)
