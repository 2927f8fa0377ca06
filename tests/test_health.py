"""GET /healthz: 200 when this process reaches the database and the channel
layer, 503 naming the part that failed otherwise; never cached, never a
traceback, open to anyone, as often as the monitors like.

Run 1 checks the in-memory layer, run 2 channels-redis (scripts/test.sh).
"""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer
from django.db import OperationalError, connections
from django.test import Client

from boards.live import relay

OK = {"status": "ok", "database": "ok", "channel_layer": "ok"}


def check(client: Client | None = None):
    response = (client or Client()).get("/healthz")
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    return response


def test_it_answers_ok_when_the_database_and_the_layer_answer(db):
    response = check()
    assert response.status_code == 200
    assert response.json() == OK


def test_it_needs_no_account_sets_no_cookie_and_is_never_rate_limited(db, alice):
    for _ in range(30):
        response = check()
        assert response.status_code == 200
        assert not response.cookies
    assert check(alice).json() == OK


def test_it_refuses_other_methods(db):
    assert Client().post("/healthz").status_code == 405


def test_a_database_out_of_reach_is_a_503_naming_the_database(db, monkeypatch, caplog):
    def unreachable(self):
        raise OperationalError('connection to server at "db" failed: Connection refused')

    with monkeypatch.context() as patch:  # undone before the test database is rolled back
        patch.setattr(type(connections["default"]), "ensure_connection", unreachable)
        response = check()
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "error", "channel_layer": "ok"}
    assert b"Traceback" not in response.content and b"refused" not in response.content
    # The cause goes to the log, on one line.
    (record,) = [r for r in caplog.records if r.name == "boards.views.health"]
    assert record.check == "database" and record.error == "OperationalError"
    assert "Connection refused" in record.getMessage() and record.exc_info is None


class BrokenLayer:
    async def new_channel(self, prefix: str = "specific.") -> str:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


class SilentLayer:
    """Accepts messages and never delivers them (a wedged Redis)."""

    async def new_channel(self, prefix: str = "specific.") -> str:
        return "specific.silent!1"

    async def send(self, channel: str, message: dict) -> None:
        pass

    async def receive(self, channel: str) -> dict:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_a_channel_layer_out_of_reach_is_a_503_naming_the_layer(db, monkeypatch):
    monkeypatch.setattr(relay, "get_channel_layer", BrokenLayer)
    response = check()
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "ok", "channel_layer": "error"}
    assert b"Connection refused" not in response.content


def test_a_layer_that_never_delivers_fails_after_the_timeout(db, monkeypatch):
    monkeypatch.setattr(relay, "get_channel_layer", SilentLayer)
    monkeypatch.setattr(relay, "HEALTH_TIMEOUT_SECONDS", 0.2)
    response = check()
    assert response.status_code == 503
    assert response.json()["channel_layer"] == "error"


def test_no_channel_layer_at_all_is_a_503(db, monkeypatch):
    monkeypatch.setattr(relay, "get_channel_layer", lambda: None)
    assert check().json() == {"status": "error", "database": "ok", "channel_layer": "error"}


def test_both_down_names_both(db, monkeypatch):
    def unreachable(self):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(relay, "get_channel_layer", BrokenLayer)
    with monkeypatch.context() as patch:
        patch.setattr(type(connections["default"]), "ensure_connection", unreachable)
        response = check()
    assert response.json() == {"status": "error", "database": "error", "channel_layer": "error"}


def _open_channels(layer) -> set[str]:
    # In-memory and pubsub layers keep a dict of the channels they receive
    # on (pubsub: one Redis subscription each); the core layer a buffer.
    channels = getattr(layer, "channels", None)
    if channels is None:
        channels = layer.receive_buffer
    return set(channels)


async def test_the_round_trip_leaves_no_channel_behind():
    """Monitors call this every few seconds for months: a subscription left
    behind each time would pile up in Redis."""
    layer = get_channel_layer()
    before = _open_channels(layer)
    for _ in range(3):
        await relay.check_layer()
    assert _open_channels(layer) == before


@pytest.mark.parametrize("layer", [BrokenLayer, SilentLayer])
async def test_the_layer_check_raises_rather_than_hangs(monkeypatch, layer):
    monkeypatch.setattr(relay, "get_channel_layer", layer)
    monkeypatch.setattr(relay, "HEALTH_TIMEOUT_SECONDS", 0.2)
    with pytest.raises((ConnectionError, TimeoutError)):
        await asyncio.wait_for(relay.check_layer(), 5)
