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

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from boards.live.protocol import Close

logger = logging.getLogger(__name__)


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
    """Let a socket through only from the site's own pages: its Origin must be
    the site's own origin (scheme, host and port, as the browser reached the
    site: the Host header, on a host in ALLOWED_HOSTS) or one of
    CSRF_TRUSTED_ORIGINS, as Django's CSRF check asks of forms."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        origin = origin_of(scope)
        if origin and _allowed(origin, scope):
            return await self.application(scope, receive, send)
        log_socket(
            logging.WARNING,
            "websocket refused: origin %r not allowed",
            origin,
            event="ws.reject",
            code=int(Close.FORBIDDEN_ORIGIN),
            origin=origin,
            reason="origin",
            path=scope.get("path"),
        )
        return await _refuse(receive, send)


def _allowed(origin: str, scope) -> bool:
    # Only a serialized origin as browsers send it: urlparse alone reads
    # "http://127.0.0.1:8000.evil.example" as host 127.0.0.1.
    if not _SERIALIZED_ORIGIN.fullmatch(origin):
        return False
    try:
        given = _normalise(origin)
    except ValueError:  # a port out of 0-65535, "http://[::1": refuse rather than crash
        return False
    own = _own_origin(scope)
    if own is not None and given == own:
        return True
    return any(_trusted(given, trusted) for trusted in settings.CSRF_TRUSTED_ORIGINS)


def _normalise(origin: str) -> str:
    """scheme://host:port in lower case, with the scheme's default port."""
    parsed = urlparse(origin.lower())
    port = parsed.port or (443 if parsed.scheme in ("https", "wss") else 80)
    host = parsed.hostname or ""
    return f"{parsed.scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def _own_origin(scope) -> str | None:
    """The origin the browser reached this socket's site at, if it is ours."""
    headers = dict(scope.get("headers", []))
    host = headers.get(b"host", b"").decode("latin-1").lower()
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    if not domain or not validate_host(domain, allowed):
        return None
    try:
        return _normalise(f"{'https' if _secure(scope, headers) else 'http'}://{host}")
    except ValueError:
        return None


def _secure(scope, headers: dict[bytes, bytes]) -> bool:
    """Is the socket's page served over HTTPS? daphne puts no scheme in a
    socket's scope, even with --proxy-headers: the site's own settings say,
    as for Django's is_secure()."""
    if scope.get("scheme") in ("wss", "https"):
        return True
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure_value = settings.SECURE_PROXY_SSL_HEADER
        name = header.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
        if name in headers:
            return headers[name].decode("latin-1").split(",", 1)[0].strip() == secure_value
    return settings.HTTPS


def _trusted(given: str, trusted: str) -> bool:
    """`given` (normalised) is the trusted origin, or under its wildcard
    ("https://*.example.org"), as Django's CSRF_TRUSTED_ORIGINS reads them."""
    scheme, _sep, rest = trusted.lower().partition("://")
    if rest.startswith("*."):
        try:
            wanted = _normalise(f"{scheme}://{rest[2:]}")
        except ValueError:
            return False
        given_scheme, _sep, given_rest = given.partition("://")
        wanted_host, wanted_port = wanted.partition("://")[2].rsplit(":", 1)
        given_host, given_port = given_rest.rsplit(":", 1)
        return given_scheme == scheme and given_port == wanted_port and given_host.endswith("." + wanted_host)
    try:
        return given == _normalise(trusted)
    except ValueError:
        return False


async def _refuse(receive, send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": int(Close.FORBIDDEN_ORIGIN)})
