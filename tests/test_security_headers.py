"""Security headers on every kind of response, the production settings, and
`check --deploy`.

Every response — pages, fragments, the 404 and 500 pages, downloads, static
files, the health check — carries the Content-Security-Policy (scripts and
styles from our own files only), nosniff, the referrer and framing policies,
COOP and a Permissions-Policy. With DJANGO_HTTPS the cookies are Secure, plain
HTTP is redirected (except the health check) and HSTS is sent. The
templates themselves carry no inline script, style or event handler, which is
what lets the policy be strict.
"""

from __future__ import annotations

import os
import re
import runpy
import secrets
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import path

from boards import exporters, qr
from boards.services import plan
from tests.test_plan_pages import build_scene

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILE = ROOT / "cerveau" / "settings.py"
FORMATS = [exporter.identifier for exporter in exporters.all_exporters()]
HTMX = {"HTTP_HX_REQUEST": "true"}
YEAR = 60 * 60 * 24 * 365


# --- A view that fails, for the 500 page (this module is also a URLconf) ------------------------


def _failing_view(request):
    raise RuntimeError("boom")


urlpatterns = [path("boom/", _failing_view)]


# --- Every kind of response ---------------------------------------------------------------------


@pytest.fixture
def scene(atelier, alice, bob, charlie, facilitator):
    scene = build_scene(atelier, alice, bob, charlie, facilitator)
    scene.share_token = plan.publish_plan(atelier.pk)
    scene.code = atelier.code
    return scene


def _page(who: str, url, status: int = 200, extra: dict | None = None) -> SimpleNamespace:
    return SimpleNamespace(who=who, url=url, status=status, extra=extra or {})


PAGES = {
    "home": _page("outsider", lambda s: "/"),
    "join page": _page("outsider", lambda s: f"/a/{s.code}/join/"),
    "board": _page("alice", lambda s: f"/a/{s.code}/"),
    "board cards (htmx)": _page("alice", lambda s: f"/a/{s.code}/impossibles/more/", extra=HTMX),
    "impossible page": _page("alice", lambda s: f"/a/{s.code}/impossibles/{s.welders.pk}/"),
    "offer form": _page("alice", lambda s: f"/a/{s.code}/impossibles/{s.welders.pk}/offers/"),
    "profile": _page("alice", lambda s: f"/a/{s.code}/me/"),
    "login": _page("outsider", lambda s: "/accounts/login/"),
    "login redirect": _page("outsider", lambda s: f"/a/{s.code}/console/", status=302),
    "facilitator home": _page("facilitator", lambda s: "/facilitate/"),
    "console": _page("facilitator", lambda s: f"/a/{s.code}/console/"),
    "console panels (htmx)": _page("facilitator", lambda s: f"/a/{s.code}/console/panels/", extra=HTMX),
    "projector": _page("facilitator", lambda s: f"/a/{s.code}/projector/"),
    "poster": _page("facilitator", lambda s: f"/a/{s.code}/poster/"),
    "plan page": _page("facilitator", lambda s: f"/a/{s.code}/plan/"),
    "action form": _page("facilitator", lambda s: f"/a/{s.code}/console/impossibles/{s.bakery.pk}/actions/new/"),
    "action edit form": _page("facilitator", lambda s: f"/a/{s.code}/console/actions/{s.training.pk}/"),
    "public plan": _page("outsider", lambda s: f"/plan/{s.share_token}/"),
    "follow-up page": _page("outsider", lambda s: f"/suivi/{s.alice_pilot.token}/"),
    "not found": _page("outsider", lambda s: "/a/NOPE99/", status=404),
    "health check": _page("outsider", lambda s: "/healthz"),
    "static file": _page("outsider", lambda s: "/static/boards/app.css"),
    **{
        f"export {identifier}": _page("facilitator", lambda s, i=identifier: f"/a/{s.code}/plan/export/{i}/")
        for identifier in FORMATS
    },
    "public export": _page("outsider", lambda s: f"/plan/{s.share_token}/export/pdf/"),
}


def parse_csp(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        assert name not in directives, f"{name} twice in {header!r}"
        directives[name] = sources
    return directives


def assert_security_headers(response) -> None:
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    features = dict(item.strip().split("=", 1) for item in headers["Permissions-Policy"].split(","))
    for feature in ("camera", "microphone", "geolocation"):
        assert features[feature] == "()", headers["Permissions-Policy"]

    policy = headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, policy
    csp = parse_csp(policy)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["connect-src"] == ["'self'", "ws://testserver", "wss://testserver"]
    assert csp["form-action"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]


def test_every_page_type_is_listed():
    """A new kind of page or export gets its line in PAGES."""
    assert {f"export {identifier}" for identifier in FORMATS} <= set(PAGES)


@pytest.mark.parametrize("name", PAGES)
def test_every_response_carries_the_security_headers(request, scene, name):
    page = PAGES[name]
    client = request.getfixturevalue(page.who)
    response = client.get(page.url(scene), **page.extra)
    assert response.status_code == page.status, response.content[:500]
    assert_security_headers(response)


def test_downloads_are_attachments_with_nosniff(scene, facilitator):
    for identifier in FORMATS:
        response = facilitator.get(f"/a/{scene.code}/plan/export/{identifier}/")
        assert response.headers["Content-Disposition"].startswith("attachment;"), identifier
        assert response.headers["X-Content-Type-Options"] == "nosniff", identifier


@pytest.mark.urls(__name__)
def test_the_500_page_carries_the_headers_and_no_inline_style(db):
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    assert response.status_code == 500
    assert_security_headers(response)
    body = response.content.decode()
    assert "Un problème est survenu" in body
    assert "style=" not in body and "<script" not in body


def test_a_request_for_another_host_is_refused_without_naming_that_host(db):
    response = Client().get("/", HTTP_HOST="evil.example.com")
    assert response.status_code == 400
    assert "evil.example.com" not in response.headers["Content-Security-Policy"]
    assert parse_csp(response.headers["Content-Security-Policy"])["connect-src"] == ["'self'"]


def test_the_websocket_origin_follows_the_requests_host(db, settings):
    settings.ALLOWED_HOSTS = ["atelier.example.org"]
    response = Client().get("/", HTTP_HOST="atelier.example.org")
    assert parse_csp(response.headers["Content-Security-Policy"])["connect-src"] == [
        "'self'",
        "ws://atelier.example.org",
        "wss://atelier.example.org",
    ]


# --- No inline script, style or handler anywhere ------------------------------------------------

INLINE_STYLE = re.compile(r"""\sstyle\s*=""", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"""\s(on[a-z]+|hx-on[:\w-]*)\s*=""", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)


def _templates() -> list[Path]:
    return sorted({*(ROOT / "templates").rglob("*.html"), *(ROOT / "boards").rglob("templates/**/*.html")})


@pytest.mark.parametrize("template", _templates(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_template_has_an_inline_style_script_or_event_handler(template):
    text = template.read_text()
    assert not INLINE_STYLE.search(text), "style attribute: move it to static/boards/*.css"
    assert not EVENT_HANDLER.search(text), "inline event handler: use static/boards/*.js"
    for attributes in SCRIPT_TAG.findall(text):
        assert "src=" in attributes or 'type="application/json"' in attributes, f"inline <script{attributes}>"


def test_the_qr_code_svg_has_no_style_attribute_or_element():
    svg = str(qr.qr_svg("https://atelier.example.org/a/TST234/join/"))
    assert svg.startswith("<svg") and "<path" in svg
    assert "style" not in svg and "<script" not in svg


# --- Production settings (DJANGO_HTTPS and friends) ---------------------------------------------

SECURITY_ENV = [
    "DJANGO_HTTPS",
    "DJANGO_SECURE_COOKIES",
    "DJANGO_SECURE_SSL_REDIRECT",
    "DJANGO_SECURE_HSTS_SECONDS",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "DJANGO_SECURE_HSTS_PRELOAD",
    "DJANGO_SECURE_PROXY_SSL_HEADER",
]


@pytest.fixture
def load_settings(monkeypatch):
    """The settings module's values for an environment (without touching the
    settings in use)."""

    def load(**env: str) -> dict:
        for name in SECURITY_ENV:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(SETTINGS_FILE))

    return load


def test_without_https_nothing_forces_https(load_settings):
    values = load_settings()
    assert values["SESSION_COOKIE_SECURE"] is False and values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SECURE_PROXY_SSL_HEADER"] is None


def test_https_turns_on_secure_cookies_the_redirect_and_a_year_of_hsts(load_settings):
    values = load_settings(DJANGO_HTTPS="1")
    assert values["SESSION_COOKIE_SECURE"] is True and values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == YEAR
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_HSTS_PRELOAD"] is False


def test_each_https_setting_can_be_set_on_its_own(load_settings):
    values = load_settings(
        DJANGO_HTTPS="1",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_SECURE_HSTS_SECONDS="3600",
        DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="0",
        DJANGO_SECURE_HSTS_PRELOAD="1",
    )
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 3600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert values["SECURE_HSTS_PRELOAD"] is True
    assert load_settings(DJANGO_SECURE_COOKIES="1")["SESSION_COOKIE_SECURE"] is True


def test_the_proxy_ssl_header_is_named_by_the_environment(load_settings):
    values = load_settings(DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    assert values["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECURE_PROXY_SSL_HEADER"):
        load_settings(DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https")


@pytest.fixture
def production(settings):
    """What DJANGO_HTTPS=1 with DJANGO_SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto sets."""
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = YEAR
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return settings


HTTPS = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "testserver"}


def test_plain_http_is_redirected_to_https(db, production, atelier):
    response = Client().get(f"/a/{atelier.code}/join/")
    assert response.status_code == 301
    assert response.headers["Location"] == f"https://testserver/a/{atelier.code}/join/"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_health_check_answers_plain_http(db, production):
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers


def test_https_pages_send_hsts_and_secure_cookies(db, production, atelier):
    client = Client()
    page = client.get(f"/a/{atelier.code}/join/", **HTTPS)
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"] == f"max-age={YEAR}; includeSubDomains"
    assert_security_headers(page)
    assert page.cookies["csrftoken"]["secure"] is True

    joined = client.post(
        f"/a/{atelier.code}/join/",
        {"name": "Alice", "organisation": "", "role": "entrepreneur"},
        **HTTPS,
    )
    assert joined.status_code == 302, joined.content[:500]
    assert joined.cookies["sessionid"]["secure"] is True
    assert joined.cookies["sessionid"]["httponly"] is True


def test_a_forged_proto_header_counts_only_when_configured(db, settings, atelier):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = None
    response = Client().get(f"/a/{atelier.code}/join/", **HTTPS)
    assert response.status_code == 301


# --- manage.py check --deploy -------------------------------------------------------------------

STRONG_SECRET = secrets.token_urlsafe(48)  # 64 characters


def run_check_deploy(**env: str) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CERVEAU_")) and key not in {"DATABASE_URL", "REDIS_URL"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": STRONG_SECRET,
    "DJANGO_DEBUG": "0",
    "DJANGO_ALLOWED_HOSTS": "atelier.example.org",
    "DJANGO_HTTPS": "1",
}


@pytest.mark.once
def test_check_deploy_passes_with_the_production_settings():
    result = run_check_deploy(**PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout + result.stderr


@pytest.mark.once
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"DJANGO_SECRET_KEY": "too-short"}, "security.W009"),
        ({"DJANGO_SECRET_KEY": "a" * 60}, "security.W009"),
        ({"DJANGO_SECRET_KEY": "", "CERVEAU_INSECURE_DEFAULTS": "1"}, "security.W009"),
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY is required"),
        ({"DJANGO_HTTPS": ""}, "security.W004"),
        ({"DJANGO_DEBUG": "1"}, "security.W018"),
    ],
    ids=["short secret", "repetitive secret", "built-in key", "no secret", "no https", "debug"],
)
def test_check_deploy_fails_on_a_weak_setup(change, expected):
    result = run_check_deploy(**{**PRODUCTION_ENV, **change})
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr
