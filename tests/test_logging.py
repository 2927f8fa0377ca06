"""CERVEAU_LOG_FORMAT=json: one JSON object per line on stderr, with the
fields passed as `extra=` (the WebSocket's event, atelier, close code,
origin...) next to timestamp, level, logger and message."""

from __future__ import annotations

import datetime
import json
import logging
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from cerveau.logging import JSONFormatter

pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parent.parent


def record(message: str = "websocket refused", *args, level: int = logging.WARNING, **extra) -> logging.LogRecord:
    """A record as `logger.warning(message, *args, extra=extra)` makes it."""
    logger = logging.getLogger("boards.live.security")
    return logger.makeRecord(logger.name, level, "security.py", 42, message, args, None, extra=extra)


def formatted(log_record: logging.LogRecord) -> dict:
    line = JSONFormatter().format(log_record)
    assert "\n" not in line
    return json.loads(line)


def test_a_line_has_timestamp_level_logger_and_message():
    entry = formatted(record("websocket refused: origin %r", "https://evil.example"))
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "boards.live.security"
    assert entry["message"] == "websocket refused: origin 'https://evil.example'"
    moment = datetime.datetime.fromisoformat(entry["timestamp"])
    assert moment.utcoffset() == datetime.timedelta(0)
    assert abs(datetime.datetime.now(datetime.UTC) - moment) < datetime.timedelta(minutes=1)


def test_extra_fields_become_fields_of_the_line():
    entry = formatted(
        record(event="ws.refused", atelier="CGNC16", code=4003, origin="https://evil.example", path="/ws/a/CGNC16/")
    )
    assert entry["event"] == "ws.refused"
    assert entry["atelier"] == "CGNC16"
    assert entry["code"] == 4003
    assert entry["origin"] == "https://evil.example"
    assert entry["path"] == "/ws/a/CGNC16/"


def test_the_records_own_attributes_are_not_repeated():
    entry = formatted(record(event="ws.connect"))
    assert set(entry) == {"timestamp", "level", "logger", "message", "event"}


def test_an_extra_cannot_overwrite_the_standard_fields():
    entry = formatted(record(level=logging.ERROR, logger="spoofed", timestamp="yesterday"))
    assert entry["level"] == "ERROR" and entry["logger"] == "boards.live.security"
    assert entry["timestamp"] != "yesterday"


def test_values_that_are_not_json_are_written_as_text():
    class Request:
        def __str__(self) -> str:
            return "<ASGIRequest: GET '/a/CGNC16/'>"

    entry = formatted(record(request=Request(), when=datetime.date(2031, 3, 31), code=4003))
    assert entry["request"] == "<ASGIRequest: GET '/a/CGNC16/'>"
    assert entry["when"] == "2031-03-31"
    assert entry["code"] == 4003


def test_a_value_json_cannot_write_at_all_spoils_only_itself():
    entry = formatted(record(odd={(1, 2): "tuple key"}, code=4003))
    assert "tuple key" in entry["odd"]
    assert entry["code"] == 4003


def test_an_exception_keeps_its_traceback_on_the_same_line():
    logger = logging.getLogger("boards.live.consumers")
    try:
        raise ValueError("déjà vu\nsecond line")
    except ValueError:
        exc_record = logger.makeRecord(logger.name, logging.ERROR, "x.py", 1, "crashed", (), sys.exc_info())
    entry = formatted(exc_record)
    assert entry["message"] == "crashed"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: déjà vu\nsecond line" in entry["exception"]


def test_the_message_keeps_its_accents_and_line_breaks_inside_the_line():
    line = JSONFormatter().format(record("Atelier « Cognac »\nfermé"))
    assert "« Cognac »" in line and "\n" not in line
    assert json.loads(line)["message"] == "Atelier « Cognac »\nfermé"


# --- Settings -------------------------------------------------------------------------------------


@pytest.fixture
def load_settings(monkeypatch):
    def load(log_format: str | None) -> dict:
        if log_format is None:
            monkeypatch.delenv("CERVEAU_LOG_FORMAT", raising=False)
        else:
            monkeypatch.setenv("CERVEAU_LOG_FORMAT", log_format)
        return runpy.run_path(str(ROOT / "cerveau" / "settings.py"))

    return load


def test_the_default_format_is_for_people(load_settings):
    handler = load_settings(None)["LOGGING"]["handlers"]["console"]
    assert handler["formatter"] == "text"


def test_json_is_chosen_by_the_environment(load_settings):
    logging_config = load_settings("json")["LOGGING"]
    handler = logging_config["handlers"]["console"]
    assert handler["formatter"] == "json"
    assert logging_config["formatters"]["json"]["()"] == "cerveau.logging.JSONFormatter"


def test_an_unknown_format_is_refused(load_settings):
    with pytest.raises(ImproperlyConfigured, match="CERVEAU_LOG_FORMAT"):
        load_settings("xml")


def test_a_configured_process_writes_json_lines_to_stderr():
    """The whole path: settings, dictConfig, a logger with extras."""
    script = (
        "import django, logging; django.setup(); "
        "logging.getLogger('boards.live.consumers').info('websocket connected', "
        "extra={'event': 'ws.connect', 'atelier': 'CGNC16', 'code': None, 'origin': 'https://atelier.example.org'})"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cerveau.settings", "CERVEAU_LOG_FORMAT": "json"}
    env["CERVEAU_INSECURE_DEFAULTS"] = "1"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    (entry,) = [line for line in lines if line["logger"] == "boards.live.consumers"]
    assert entry["message"] == "websocket connected"
    assert entry["level"] == "INFO"
    assert entry["event"] == "ws.connect" and entry["atelier"] == "CGNC16"
    assert entry["code"] is None and entry["origin"] == "https://atelier.example.org"


def _log_cleanup_failure(error: BaseException) -> None:
    # As channels_redis.pubsub does when unsubscribing a closing socket fails.
    try:
        raise error
    except BaseException:
        logging.getLogger("channels_redis.pubsub").exception("Unexpected exception while cleaning-up channel:")


def test_a_cleanup_cancelled_by_a_stopping_process_is_one_info_line(caplog):
    import asyncio

    with caplog.at_level(logging.INFO, logger="channels_redis.pubsub"):
        _log_cleanup_failure(asyncio.CancelledError())
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert "process is stopping" in record.getMessage()
    assert record.exc_info is None


def test_any_other_cleanup_failure_stays_an_error_with_its_traceback(caplog):
    with caplog.at_level(logging.INFO, logger="channels_redis.pubsub"):
        _log_cleanup_failure(ConnectionError("Redis went away"))
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
