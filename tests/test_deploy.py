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
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
NGINX_CONF = DEPLOY / "nginx" / "cerveau.conf"
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


def test_nginx_accepts_the_configuration(tmp_path):
    nginx = _nginx_or_skip()
    openssl = shutil.which("openssl")
    certificate = ["-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")]
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=x", *certificate],
        check=True,
        capture_output=True,
        timeout=60,
    )
    site = (
        NGINX_CONF.read_text()
        .replace("/etc/letsencrypt/live/atelier.example.org/fullchain.pem", str(tmp_path / "cert.pem"))
        .replace("/etc/letsencrypt/live/atelier.example.org/privkey.pem", str(tmp_path / "key.pem"))
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
    return set(re.findall(r'env_(?:str|bool|int|list|rate_limits)\("([A-Z0-9_]+)"', settings))


def test_the_settings_read_the_variables_we_expect():
    assert {"DJANGO_HTTPS", "DJANGO_SECURE_PROXY_SSL_HEADER", "CERVEAU_LOG_FORMAT"} <= _variables_read_by_the_settings()


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


def _nginx_or_skip() -> str:
    """nginx and openssl (for a throw-away certificate): skipped without them, failed in CI."""
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    missing = "nginx (apt-get install nginx-light)" if nginx is None else None
    if missing is None and shutil.which("openssl") is None:
        missing = "openssl (no throw-away certificate for nginx)"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} is not installed; .ci/run installs it")
        pytest.skip(f"{missing} is not installed")
    return nginx


def test_nginx_writes_masked_tokens_in_its_access_log(tmp_path):
    """The shipped site, run for real on loopback ports (no daphne behind it:
    nginx logs the 502 like any request)."""
    import socket
    import time

    import httpx

    from tests.servers import free_port

    nginx = _nginx_or_skip()
    certificate = ["-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=x", *certificate],
        check=True,
        capture_output=True,
        timeout=60,
    )
    http_port, https_port, upstream_port = free_port(), free_port(), free_port()
    site = NGINX_CONF.read_text()
    site = site.replace("/etc/letsencrypt/live/atelier.example.org/fullchain.pem", str(tmp_path / "cert.pem"))
    site = site.replace("/etc/letsencrypt/live/atelier.example.org/privkey.pem", str(tmp_path / "key.pem"))
    site = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", site)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl;")
    site = re.sub(r"server 127\.0\.0\.1:\d+ ", f"server 127.0.0.1:{upstream_port} ", site)
    site = re.sub(r"access_log (\S+) cerveau_masked;", f"access_log {tmp_path}/access.log cerveau_masked;", site)
    (tmp_path / "site.conf").write_text(site)
    temp = {name: tmp_path / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for folder in temp.values():
        folder.mkdir()
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\ndaemon off;\nevents {{}}\nhttp {{\n"
        f"  client_body_temp_path {temp['body']};\n  proxy_temp_path {temp['proxy']};\n"
        f"  fastcgi_temp_path {temp['fastcgi']};\n  uwsgi_temp_path {temp['uwsgi']};\n"
        f"  scgi_temp_path {temp['scgi']};\n  include {tmp_path}/site.conf;\n}}\n"
    )
    process = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=0.5).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.05)
        with httpx.Client(verify=False, timeout=10, trust_env=False) as client:
            base = f"https://127.0.0.1:{https_port}"
            referer = {"Referer": f"{base}/suivi/{TOKEN}/"}
            for path in (f"/plan/{TOKEN}/", f"/suivi/{TOKEN}/panels/", f"/ws/suivi/{TOKEN}/?v=3", "/static/x.css"):
                client.get(base + path, headers=referer)
            client.get(f"http://127.0.0.1:{http_port}/suivi/{TOKEN}/")
    finally:
        process.terminate()
        process.wait(timeout=10)
    log = (tmp_path / "access.log").read_text()

    assert TOKEN not in log
    assert TOKEN[:16] not in log
    assert '"GET /plan/.../ HTTP/1.1" 502' in log
    assert "/suivi/.../panels/" in log
    assert "/ws/suivi/.../?v=3" in log
    assert f"{base}/suivi/.../" in log  # the referer, masked
    assert len(log.splitlines()) == 4  # static files are not logged
