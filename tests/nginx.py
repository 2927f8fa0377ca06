"""The shipped nginx site (deploy/nginx/cerveau.conf), run for real.

nginx runs unprivileged with a prefix of its own in a temporary folder, on
free loopback ports, with a throw-away certificate in place of Let's
Encrypt's and the site's upstream pointed at the ports a test names. Only
what cannot work on a test machine is rewritten (ports, certificate and log
paths); the maps, the upstream's balancing and the locations are the shipped
ones.

    with running_site(tmp_path, [port1, port2]) as site:
        httpx.get(site.https_url + "/a/CODE/", verify=False)
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.servers import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "deploy" / "nginx" / "cerveau.conf"
START_TIMEOUT = 10.0


def nginx_or_skip() -> str:
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


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for a day: (certificate, key)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=x"]
    subprocess.run(
        [*command, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def site_for_test(folder: Path, *, http_port: int, https_port: int, upstream_ports: list[int]) -> str:
    """The shipped site on loopback ports, logging into `folder`, with the
    upstream listing `upstream_ports` (in that order) instead of 8001, 8002."""
    cert, key = make_certificate(folder)
    site = NGINX_CONF.read_text()
    site = site.replace("/etc/letsencrypt/live/atelier.example.org/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/atelier.example.org/privkey.pem", str(key))
    site = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", site)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl;")
    servers = re.findall(r"\n    server 127\.0\.0\.1:\d+ ([^;]*);", site)
    assert servers, "no server line in the shipped upstream"
    lines = "".join(f"\n    server 127.0.0.1:{port} {servers[0]};" for port in upstream_ports)
    site = re.sub(r"(\n    server 127\.0\.0\.1:\d+ [^;]*;)+", lambda _match: lines, site, count=1)
    return re.sub(r"access_log (\S+) cerveau_masked;", f"access_log {folder}/access.log cerveau_masked;", site)


@dataclass
class Site:
    folder: Path
    http_port: int
    https_port: int
    process: subprocess.Popen

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def wss_url(self) -> str:
        return f"wss://127.0.0.1:{self.https_port}"

    @property
    def access_log(self) -> Path:
        return self.folder / "access.log"

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def running_site(folder: Path, upstream_ports: list[int], *, https_port: int = 0) -> Iterator[Site]:
    """nginx serving the shipped site in front of `upstream_ports`, stopped on
    exit; on `https_port` when given (the servers behind may need to know it)."""
    nginx = nginx_or_skip()
    http_port, https_port = free_port(), https_port or free_port()
    (folder / "site.conf").write_text(
        site_for_test(folder, http_port=http_port, https_port=https_port, upstream_ports=upstream_ports)
    )
    temp = {name: folder / f"{name}-temp" for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    mime_types = "  include /etc/nginx/mime.types;\n" if Path("/etc/nginx/mime.types").exists() else ""
    (folder / "nginx.conf").write_text(
        f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\ndaemon off;\n"
        # Hundreds of sockets, each held twice (client side, upstream side).
        "worker_processes 1;\nevents { worker_connections 4096; }\nhttp {\n"
        f"{mime_types}"
        f"  client_body_temp_path {temp['body']};\n  proxy_temp_path {temp['proxy']};\n"
        f"  fastcgi_temp_path {temp['fastcgi']};\n  uwsgi_temp_path {temp['uwsgi']};\n"
        f"  scgi_temp_path {temp['scgi']};\n  include {folder}/site.conf;\n}}\n"
    )
    process = subprocess.Popen(
        [nginx, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(folder / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    site = Site(folder=folder, http_port=http_port, https_port=https_port, process=process)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=0.5).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode() + site.error_log()
                assert time.monotonic() < deadline, "nginx did not listen\n" + site.error_log()
                time.sleep(0.05)
        yield site
    finally:
        process.terminate()
        process.wait(timeout=10)
