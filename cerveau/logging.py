"""Log lines as JSON objects, one per line (CERVEAU_LOG_FORMAT=json).

Log collectors (journald, Loki, a hosting provider's console) then index the
fields that callers pass with ``extra={...}`` — the atelier, the close code,
the origin of a refused socket — instead of parsing sentences.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import re
from typing import Any

# What every LogRecord carries; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


# Share and follow-up links are capabilities: /plan/<token>/, /suivi/<token>/
# and their sockets /ws/plan|suivi/<token>/, also inside full URLs and
# URL-encoded query strings. Tokens are 43 characters; the facilitators'
# own plan pages (/a/<code>/plan/export/...) have only short words there.
_TOKEN = re.compile(r"((?:/|%2F)(?:ws(?:/|%2F))?(?:plan|suivi)(?:/|%2F))[A-Za-z0-9_-]{16,}", re.IGNORECASE)


def mask_tokens(text: str) -> str:
    return _TOKEN.sub("\\1…", text)


class MaskTokens(logging.Filter):
    """Masks link tokens in every record a handler writes: the message and
    its arguments, the extra fields (Django's `request` included) and the
    traceback. On the handlers, so that no logger can go around it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format: leave it to the handler's own error report
            return True
        record.msg, record.args = mask_tokens(message), ()
        for key, value in list(vars(record).items()):
            if key in _RECORD_ATTRIBUTES or key.startswith("_") or value is None or isinstance(value, int | float):
                continue
            text = value if isinstance(value, str) else str(value)
            masked = mask_tokens(text)
            if masked != text:
                setattr(record, key, masked)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_tokens(record.exc_text)
        return True


class CancelledCleanup(logging.Filter):
    """channels_redis logs « Unexpected exception while cleaning-up channel »,
    with a traceback, when a socket's cleanup (unsubscribing its channel from
    Redis) is itself cancelled: daphne stopping while sockets are closing.
    Nothing is lost (the subscription ends with the process): one INFO line.
    Any other exception keeps its ERROR and its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.msg, record.args = "a closing socket's channel cleanup was cancelled: the process is stopping", ()
            record.exc_info, record.exc_text = None, None
        return True


def _fallback(value: Any) -> str:
    # Extras are not always JSON (Django's request logger passes the request):
    # their text is better than losing the line.
    return str(value)


class JSONFormatter(logging.Formatter):
    """timestamp (UTC, ISO 8601), level, logger, message, then the record's
    extra fields; an exception's traceback goes in `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            # The four fields above win over an extra of the same name.
            if key not in _RECORD_ATTRIBUTES and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        try:
            return json.dumps(entry, ensure_ascii=False, default=_fallback)
        except (TypeError, ValueError):  # e.g. a dict with tuple keys, a cycle
            return json.dumps({key: _serialisable(value) for key, value in entry.items()}, ensure_ascii=False)


def _serialisable(value: Any) -> Any:
    try:
        json.dumps(value, default=_fallback)
    except (TypeError, ValueError):
        return _fallback(value)
    return value
