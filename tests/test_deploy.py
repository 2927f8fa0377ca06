"""The example deployment files (deploy/) work as written, and every
environment variable is documented.

- systemd units: the keys docs/deploy.md relies on, then `systemd-analyze
  verify` when it is installed (the units are copied with the virtualenv's
  real path, the only line that differs between this machine and a server).
- nginx: the WebSocket upgrade, the forwarded headers and the health check,
  then `nginx -t` when nginx is installed (with a throw-away certificate in
  place of Let's Encrypt's).
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.nginx import NGINX_CONF, make_certificate, nginx_or_skip, running_site
from tests.servers import free_port

pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
SERVER_VENV_BIN = "/srv/cerveau/.venv/bin/"


def read_unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read_string((UNITS / name).read_text())
    return unit


def test_the_daphne_unit_runs_one_process_per_port_as_cerveau():
    unit = read_unit("cerveau-daphne@.service")
    service = unit["Service"]
    assert service["User"] == "cerveau"
    assert service["EnvironmentFile"] == "/etc/cerveau/env"
    assert service["WorkingDirectory"] == "/srv/cerveau"
    assert service["Restart"] == "on-failure"
    command = service["ExecStart"].split()
    assert command[0] == SERVER_VENV_BIN + "daphne"
    assert " ".join(command[1:]) == "--proxy-headers -v 0 -b 127.0.0.1 -p %i cerveau.asgi:application"
    assert int(service["LimitNOFILE"]) >= 10_000
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_the_purge_timer_runs_the_purge_command_daily():
    service = read_unit("cerveau-purge-contacts.service")["Service"]
    assert service["Type"] == "oneshot"
    assert service["User"] == "cerveau" and service["EnvironmentFile"] == "/etc/cerveau/env"
    assert service["ExecStart"] == SERVER_VENV_BIN + "python manage.py purge_contacts"
    timer = read_unit("cerveau-purge-contacts.timer")
    assert timer["Timer"]["OnCalendar"] == "*-*-* 03:30:00"
    assert timer["Timer"]["Persistent"] == "true"


def test_systemd_accepts_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the units' keys are checked above, not systemd's verdict")
    venv_bin = f"{Path(sys.executable).parent}/"
    for unit in UNITS.iterdir():
        (tmp_path / unit.name).write_text(unit.read_text().replace(SERVER_VENV_BIN, venv_bin))
    result = subprocess.run(
        [
            analyze,
            "verify",
            "cerveau-daphne@8001.service",
            "cerveau-purge-contacts.service",
            "cerveau-purge-contacts.timer",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    ours = [line for line in (result.stdout + result.stderr).splitlines() if "cerveau" in line]
    assert result.returncode == 0 and not ours, result.stdout + result.stderr


def _location(conf: str, prefix: str) -> str:
    match = re.search(rf"location {re.escape(prefix)} \{{(.*?)\n    \}}", conf, re.DOTALL)
    assert match, f"no location {prefix}"
    return match.group(1)


def test_nginx_upgrades_websockets_and_forwards_the_client():
    conf = NGINX_CONF.read_text()
    assert re.search(r"upstream cerveau_daphne \{[^}]*server 127\.0\.0\.1:8001", conf)
    sockets = _location(conf, "/ws/")
    assert "proxy_pass http://cerveau_daphne;" in sockets
    assert "proxy_http_version 1.1;" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in sockets
    assert "proxy_set_header Connection $cerveau_connection;" in sockets
    # The HTTPS server sets them for every location; a location that sets
    # one loses the server's: /ws/ repeats them all.
    https_server = conf[conf.index("listen 443") : conf.index("location /static/")]
    for header in ("Host $host", "X-Forwarded-For $remote_addr", "X-Forwarded-Proto $scheme"):
        assert f"\n    proxy_set_header {header};" in https_server
        assert f"proxy_set_header {header};" in sockets
    assert "$proxy_add_x_forwarded_for" not in conf  # the client would choose its address
    assert "proxy_set_header" not in _location(conf, "/")
    assert "proxy_set_header" not in _location(conf, "= /healthz")
    assert "alias /srv/cerveau/staticfiles/;" in _location(conf, "/static/")


def test_nginx_keeps_each_atelier_on_one_process():
    conf = NGINX_CONF.read_text()
    upstream = re.search(r"upstream cerveau_daphne \{(.*?)\n\}", conf, re.DOTALL)
    assert upstream, "no upstream cerveau_daphne"
    assert "hash $cerveau_atelier consistent;" in upstream.group(1)
    assert "least_conn" not in upstream.group(1)  # one balancing method per upstream
    key = re.search(r"map \$uri \$cerveau_atelier \{(.*?)\n\}", conf, re.DOTALL)
    assert key, "no map $uri $cerveau_atelier"
    assert "default $request_id;" in key.group(1)  # other paths spread over every process
    https_server = conf[conf.index("listen 443") :]
    for location in ("/ws/", "= /healthz", "/"):
        assert "proxy_pass http://cerveau_daphne;" in _location(https_server, location)


def test_nginx_accepts_the_configuration(tmp_path):
    nginx = nginx_or_skip()
    cert, key = make_certificate(tmp_path)
    site = (
        NGINX_CONF.read_text()
        .replace("/etc/letsencrypt/live/atelier.example.org/fullchain.pem", str(cert))
        .replace("/etc/letsencrypt/live/atelier.example.org/privkey.pem", str(key))
    )
    (tmp_path / "site.conf").write_text(site)
    mime_types = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else ""
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  {mime_types}\n  include {tmp_path}/site.conf;\n}}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


# --- Every environment variable is documented -------------------------------------------------


def _variables_read_by_the_settings() -> set[str]:
    settings = (ROOT / "cerveau" / "settings.py").read_text()
    return set(re.findall(r'(?:env_\w+|redis_urls)\(\s*"([A-Z0-9_]+)"', settings))


def test_the_settings_read_the_variables_we_expect():
    assert {
        "DJANGO_HTTPS",
        "DJANGO_SECURE_PROXY_SSL_HEADER",
        "CERVEAU_LOG_FORMAT",
        "CERVEAU_DB_POOL_SIZE",
        "CERVEAU_CHANNEL_REDIS_URLS",
        "CERVEAU_REDIS_SENTINELS",
    } <= _variables_read_by_the_settings()


@pytest.mark.parametrize(
    "document", ["README.md", "docs/deploy.md", "deploy/env.example"], ids=["README", "deploy.md", "env.example"]
)
def test_every_variable_is_documented(document):
    text = (ROOT / document).read_text()
    missing = sorted(name for name in _variables_read_by_the_settings() if name not in text)
    assert not missing, f"{document} does not mention {missing}"


# --- Tokens never reach nginx's access log --------------------------------------------------------

TOKEN = "Zb3x_Q9vLk2-mN8pR4sT6uW1yA5cE7gI0jH3oK9dF2s"


def _server_blocks(conf: str) -> list[str]:
    starts = [match.start() for match in re.finditer(r"\nserver \{", conf)]
    return [
        conf[start : (starts[index + 1] if index + 1 < len(starts) else len(conf))]
        for index, start in enumerate(starts)
    ]


def test_nginx_logs_requests_with_the_link_tokens_masked():
    conf = NGINX_CONF.read_text()
    assert re.search(r"map \$request_uri \$cerveau_logged_uri \{", conf)
    assert re.search(r"map \$http_referer \$cerveau_logged_referer \{", conf)
    log_format = re.search(r"log_format cerveau_masked (.*?);\n", conf, re.DOTALL)
    assert log_format, "no log_format cerveau_masked"
    fields = log_format.group(1)
    assert "$cerveau_logged_uri" in fields and "$cerveau_logged_referer" in fields
    for raw in ("$request ", '$request"', "$request_uri", "$http_referer", "$uri", "$args", "$query_string"):
        assert raw not in fields, f"{raw} would log the token"
    for block in _server_blocks(conf):
        assert re.search(r"\n    access_log \S+ cerveau_masked;", block), block[:200]
    for directive in re.findall(r"access_log ([^;]*);", conf):
        assert directive == "off" or directive.endswith(" cerveau_masked"), directive


def test_nginx_writes_masked_tokens_in_its_access_log(tmp_path):
    """The shipped site, run for real on loopback ports (no daphne behind it:
    nginx logs the 502 like any request)."""
    with running_site(tmp_path, [free_port()]) as site, _client(site) as client:
        base = site.https_url
        referer = {"Referer": f"{base}/suivi/{TOKEN}/"}
        for path in (f"/plan/{TOKEN}/", f"/suivi/{TOKEN}/panels/", f"/ws/suivi/{TOKEN}/?v=3", "/static/x.css"):
            client.get(base + path, headers=referer)
        client.get(f"http://127.0.0.1:{site.http_port}/suivi/{TOKEN}/")
    log = (tmp_path / "access.log").read_text()

    assert TOKEN not in log
    assert TOKEN[:16] not in log
    assert '"GET /plan/.../ HTTP/1.1" 502' in log
    assert "/suivi/.../panels/" in log
    assert "/ws/suivi/.../?v=3" in log
    assert f"{base}/suivi/.../" in log  # the referer, masked
    assert len(log.splitlines()) == 4  # static files are not logged


# --- Room affinity: one atelier, one process ------------------------------------------------------


class _Upstream(ThreadingHTTPServer):
    """A stand-in for a daphne process: answers every request with its name."""

    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), _NameHandler)
        self.name = name
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def stop(self) -> None:
        if self.thread.is_alive():
            self.shutdown()
            self.server_close()
            self.thread.join(timeout=10)


class _NameHandler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


class _KeptUpstream(_Upstream):
    """A stand-in that keeps connections open (HTTP/1.1) and counts them."""

    def __init__(self, name: str) -> None:
        self.connections = 0
        self.connection_headers: list[str | None] = []
        super().__init__(name)
        self.RequestHandlerClass = _KeptHandler

    def process_request(self, request, client_address) -> None:
        self.connections += 1
        super().process_request(request, client_address)


class _KeptHandler(_NameHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        self.server.connection_headers.append(self.headers.get("Connection"))
        super()._answer()

    do_GET = do_POST = _answer


def _atelier_paths(code: str) -> list[str]:
    """A phone's, a facilitator's and the projector's requests and sockets for one atelier."""
    return [
        f"/a/{code}/",
        f"/a/{code}/join/",
        f"/a/{code}/impossibles/12/me-too/",
        f"/a/{code}/console/panels/",
        f"/a/{code}/projector/",
        f"/ws/a/{code}/?lang=fr&v=3",
        f"/ws/a/{code}/?lang=en&v=0",
    ]


def _owners(client: httpx.Client, codes: list[str]) -> dict[str, str]:
    """Which stand-in serves each atelier, checking that one serves all its paths."""
    found = {}
    for code in codes:
        served = {client.get(path).text for path in _atelier_paths(code)}
        served.add(client.post(f"/a/{code}/impossibles/", data={"statement": "x"}).text)
        assert len(served) == 1, f"{code} was served by {sorted(served)}"
        found[code] = served.pop()
    return found


def _client(site) -> httpx.Client:
    return httpx.Client(base_url=site.https_url, verify=False, timeout=10, trust_env=False)


def test_nginx_sends_every_request_and_socket_of_an_atelier_to_one_process(tmp_path):
    """The shipped upstream in front of four stand-ins: each atelier's pages,
    writes and sockets reach one of them, other paths reach all of them, and
    a process that stops moves its own ateliers only."""
    upstreams = [_Upstream(f"daphne-{n}") for n in range(4)]
    codes = [f"AT{n:04d}" for n in range(40)]
    try:
        with running_site(tmp_path, [upstream.port for upstream in upstreams]) as site, _client(site) as client:
            before = _owners(client, codes)
            # 40 ateliers over 4 processes: several processes share them.
            assert len(set(before.values())) >= 2, before
            spread = {client.get(path).text for path in ("/", "/facilitate/", "/healthz") for _ in range(20)}
            assert len(spread) >= 2, spread

            stopped = next(upstream for upstream in upstreams if upstream.name == before[codes[0]])
            stopped.stop()
            after = _owners(client, codes)
    finally:
        for upstream in upstreams:
            upstream.stop()

    moved = {code for code in codes if after[code] != before[code]}
    assert moved == {code for code in codes if before[code] == stopped.name}
    assert stopped.name not in after.values()


def test_nginx_reuses_its_connections_to_a_process(tmp_path):
    """Phones arriving one after another (each its own connection to nginx)
    reach a process over the connection nginx keeps, not a new one per
    request: a connection costs the process about as much CPU as a page."""
    upstream = _KeptUpstream("daphne-0")
    try:
        with running_site(tmp_path, [upstream.port]) as site:
            for n in range(10):
                with _client(site) as phone:
                    assert phone.get("/a/AT0001/join/").text == "daphne-0"
                    assert phone.post("/a/AT0001/join/", data={"name": f"Téléphone {n}"}).text == "daphne-0"
                    assert phone.get("/a/AT0001/").text == "daphne-0"
    finally:
        upstream.stop()
    assert len(upstream.connection_headers) == 30
    assert "close" not in {header and header.lower() for header in upstream.connection_headers}
    # One nginx worker here: one connection, or two if a request came in while another was kept busy.
    assert upstream.connections <= 2, f"{upstream.connections} connections for 30 requests"


def test_removing_a_process_from_the_upstream_moves_only_its_ateliers(tmp_path):
    """Consistent hashing: with a process taken out of the list (or a new one
    added), the other processes keep their ateliers. A plain hash would move
    most of them, and their phones with them."""
    upstreams = [_Upstream(f"daphne-{n}") for n in range(4)]
    codes = [f"AT{n:04d}" for n in range(40)]
    try:
        (tmp_path / "four").mkdir()
        every = [upstream.port for upstream in upstreams]
        with running_site(tmp_path / "four", every) as site, _client(site) as client:
            before = _owners(client, codes)
        removed = before[codes[0]]
        (tmp_path / "three").mkdir()
        kept = [upstream.port for upstream in upstreams if upstream.name != removed]
        with running_site(tmp_path / "three", kept) as site, _client(site) as client:
            after = _owners(client, codes)
    finally:
        for upstream in upstreams:
            upstream.stop()

    moved = {code for code in codes if after[code] != before[code]}
    assert moved == {code for code in codes if before[code] == removed}
