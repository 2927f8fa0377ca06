"""Share and follow-up links are capabilities: their tokens never reach a
log. A real daphne, started as deploy/systemd starts it, serves the public
plan and a pilot's follow-up over HTTP and WebSocket (and a revoked link,
which Django logs as "Not Found"); its whole output is then searched for the
tokens, and for the requests, logged with the token masked."""

from __future__ import annotations

import configparser
import json
import logging
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from websockets.sync.client import connect

from boards.services import facilitation, participation, plan
from boards.services.plan import Actor, PilotChoice
from cerveau.logging import mask_tokens
from tests import servers

pytestmark = pytest.mark.once

live_atelier = servers.live_atelier

UNIT = Path(__file__).resolve().parent.parent / "deploy" / "systemd" / "cerveau-daphne@.service"


def _unit_options() -> tuple[str, ...]:
    """The daphne options of the shipped unit, but the address and port (the tests choose them)."""
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str
    unit.read_string(UNIT.read_text())
    words = unit["Service"]["ExecStart"].split()[1:]
    assert words[-1] == "cerveau.asgi:application"
    options, skip = [], False
    for word in words[:-1]:
        if skip:
            skip = False
        elif word in ("-b", "-p"):
            skip = True
        else:
            options.append(word)
    return tuple(options)


@pytest.fixture
def links(live_atelier):
    from django.contrib.auth.models import User

    user = User.objects.create_user("anim-logs")
    live_atelier.facilitators.add(user)
    alice = participation.join_atelier(live_atelier, name="Alice", organisation="", role="entrepreneur")
    impossible = participation.post_impossible(
        alice, statement="Impossible de recruter", category="recrutement", submission_key="k"
    )
    facilitation.set_phase(live_atelier.pk, "plan")
    action = plan.create_action(
        live_atelier.pk,
        impossible.pk,
        actor=Actor.facilitator(user),
        title="Réunir les banques",
        pilot=PilotChoice(name="Mairie"),
        submission_key="k-action",
    )
    share = plan.publish_plan(live_atelier.pk)
    revoked = action.pilot.token
    pilot = plan.renew_pilot_link(live_atelier.pk, action.pilot_id)
    return share, pilot.token, revoked


def _socket(server: servers.DaphneServer, path: str) -> None:
    connection = connect(
        f"{server.ws_url}{path}?lang=fr&v=0",
        origin=server.origin,
        open_timeout=servers.LIVE_TIMEOUT,
        close_timeout=2,
        proxy=None,
        legacy=True,
    )
    try:
        connection.recv(timeout=servers.LIVE_TIMEOUT)  # the snapshot tick: the socket was accepted
    finally:
        connection.close()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_token_reaches_the_servers_output(links, tmp_path, log_format):
    share, pilot, revoked = links
    env = {**servers.server_environment(), "CERVEAU_LOG_FORMAT": log_format, "CERVEAU_LOG_LEVEL": "INFO"}
    with servers.running_servers(1, tmp_path, env=env, args=_unit_options()) as (server,):
        # As nginx sends them: the client's address in X-Forwarded-For.
        with httpx.Client(
            timeout=servers.HTTP_TIMEOUT, trust_env=False, headers={"X-Forwarded-For": "203.0.113.9"}
        ) as http:
            for path, status in [
                (f"/plan/{share}/", 200),
                (f"/plan/{share}/panels/", 200),
                (f"/plan/{share}/export/csv/", 200),
                (f"/suivi/{pilot}/", 200),
                (f"/suivi/{pilot}/panels/", 200),
                (f"/suivi/{revoked}/", 404),
                (f"/plan/{share}/?next=/suivi/{quote(pilot)}/", 200),
            ]:
                assert http.get(server.url + path).status_code == status, path
        _socket(server, f"/ws/plan/{share}/")
        _socket(server, f"/ws/suivi/{pilot}/")
    output = (tmp_path / "daphne-1.log").read_text()

    for token in (share, pilot, revoked):
        assert token not in output
        assert token[:20] not in output
    # The requests were logged, masked.
    assert "/plan/…/panels/" in output
    assert "/suivi/…/" in output
    assert "/ws/suivi/…/" in output
    assert "203.0.113.9" in output
    if log_format == "json":
        lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        requests = [line for line in lines if line.get("event") == "http.request"]
        assert {"method": "GET", "path": "/suivi/…/", "status": 404} in [
            {key: line[key] for key in ("method", "path", "status")} for line in requests
        ]


# --- The masking itself --------------------------------------------------------------------------------

TOKEN = "Zb3x_Q9vLk2-mN8pR4sT6uW1yA5cE7gI0jH3oK9dF2s"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"GET /plan/{TOKEN}/ 200", "GET /plan/…/ 200"),
        (f"GET /plan/{TOKEN}/export/csv/", "GET /plan/…/export/csv/"),
        (f"/suivi/{TOKEN}/actions/12/", "/suivi/…/actions/12/"),
        (f"WSCONNECT /ws/suivi/{TOKEN}/", "WSCONNECT /ws/suivi/…/"),
        (f"Not Found: /plan/{TOKEN}", "Not Found: /plan/…"),
        (f"https://atelier.example.org/suivi/{TOKEN}/", "https://atelier.example.org/suivi/…/"),
        (f"next=%2Fsuivi%2F{TOKEN}%2F", "next=%2Fsuivi%2F…%2F"),
        # The facilitators' own plan pages have no token.
        ("/a/CGNC16/plan/export/csv/", "/a/CGNC16/plan/export/csv/"),
        ("/a/CGNC16/plan/pilots/12/renew/", "/a/CGNC16/plan/pilots/12/renew/"),
    ],
)
def test_tokens_are_masked_in_any_text(text, masked):
    assert mask_tokens(text) == masked


def test_every_log_record_is_masked_message_arguments_and_extras(caplog):
    class Request:
        def __str__(self) -> str:
            return f"<ASGIRequest: GET '/suivi/{TOKEN}/'>"

    (handler,) = [handler for handler in logging.getLogger().handlers if handler.name == "console"]
    record = logging.getLogger("django.request").makeRecord(
        "django.request",
        logging.WARNING,
        "x.py",
        1,
        "Not Found: %s",
        (f"/plan/{TOKEN}/",),
        None,
        extra={"request": Request(), "path": f"/ws/plan/{TOKEN}/"},
    )

    for log_filter in handler.filters:
        log_filter.filter(record)

    assert record.getMessage() == "Not Found: /plan/…/"
    assert str(record.request) == "<ASGIRequest: GET '/suivi/…/'>"
    assert record.path == "/ws/plan/…/"


def test_no_token_reaches_the_output_of_make_run(links, tmp_path):
    """`make run` serves with runserver (daphne's) in debug mode, where
    Django adds its own console handler: the tokens stay out there too."""
    import socket
    import subprocess
    import sys
    import time

    share, pilot, revoked = links
    port = servers.free_port()
    env = {**servers.server_environment(), "DJANGO_DEBUG": "1"}
    log_path = tmp_path / "runserver.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=servers.ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + servers.START_TIMEOUT
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
        server = servers.DaphneServer(log_path=log_path, env=env, port=port)
        with httpx.Client(timeout=servers.HTTP_TIMEOUT, trust_env=False) as http:
            for path, status in [(f"/plan/{share}/", 200), (f"/suivi/{pilot}/", 200), (f"/suivi/{revoked}/", 404)]:
                assert http.get(server.url + path).status_code == status, path
        _socket(server, f"/ws/suivi/{pilot}/")
    finally:
        process.terminate()
        process.wait(timeout=10)
    output = log_path.read_text()

    for token in (share, pilot, revoked):
        assert token[:20] not in output
    assert "GET /suivi/…/ 404" in output
    assert "WEBSOCKET /ws/suivi/…/ accepted" in output
