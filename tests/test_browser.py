"""Two phones in Debian's Chromium against a real daphne process.

Each phone joins through the home page and the join form, then watches the
other's changes arrive over the WebSocket without a reload. Screenshots of
both phones land in test-artifacts/.

Playwright's sync API keeps an event loop running while it is started, and
Django refuses ORM calls inside one: everything in the database is set up
before the browser starts, and the browser stops before the test database
is flushed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests import servers

pytestmark = pytest.mark.browser

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LIVE_MS = int(servers.LIVE_TIMEOUT * 1000)
# Set before an action, read after it: a reload would have wiped it.
MARKER = "__cerveauNoReload"
HOSTILE = '<img src=x onerror="window.__xss=1"> hx-get="/" {{ 7|add:1 }}'


class PageErrors:
    """Every error a watched page reports: uncaught exceptions, console errors,
    HTTP errors and failed requests."""

    errors: list[str]

    def watch(self, page) -> None:
        self.errors = []
        page.on("pageerror", lambda error: self.errors.append(f"uncaught exception: {error}"))
        page.on("console", self._console)
        page.on("response", self._response)
        page.on("requestfailed", self._request_failed)

    @staticmethod
    def _ignored(url: str) -> bool:
        return url.endswith("/favicon.ico")

    def _console(self, message) -> None:
        if message.type == "error" and not self._ignored(message.location.get("url", "")):
            self.errors.append(f"console.error: {message.text} ({message.location.get('url')})")

    def _response(self, response) -> None:
        if response.status >= 400 and not self._ignored(response.url):
            self.errors.append(f"HTTP {response.status} for {response.request.method} {response.url}")

    def _request_failed(self, request) -> None:
        # A navigation cancels what the previous page was still loading (its
        # favicon, say): aborted is not failed.
        if not self._ignored(request.url) and request.failure != "net::ERR_ABORTED":
            self.errors.append(f"request failed: {request.method} {request.url} ({request.failure})")


def publish(page, button) -> None:
    """Tap « Publier »; if « Ça ressemble à… » shows cards, choose « Non, le
    mien est différent — publier »."""
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/impossibles/")) as answer:
        button.click()
    if 'id="post-suggestions"' in answer.value.text():
        page.locator("#post-suggestions .publish-anyway-btn").click()


class Phone(PageErrors):
    """One browser context (its own cookies), one page, every error it reports."""

    def __init__(self, browser, server: servers.DaphneServer, label: str, viewport: dict[str, int]) -> None:
        self.server = server
        self.label = label
        self.context = browser.new_context(viewport=viewport, is_mobile=True, has_touch=True, locale="fr-FR")
        self.context.set_default_timeout(LIVE_MS)
        self.page = self.context.new_page()
        self.watch(self.page)

    def join(self, code: str, name: str, role: str) -> None:
        """Type the code on the home page, then fill the join form, like a person would."""
        from playwright.sync_api import expect

        page = self.page
        page.goto(self.server.url + "/")
        # As read from the slide: lower case, with a dash.
        page.locator("#id_code").fill(f"{code[:3]}-{code[3:]}".lower())
        page.locator("main form button[type=submit]").click()
        expect(page).to_have_url(re.compile(rf"/a/{code}/join/$"))
        page.locator("#id_name").fill(name)
        page.locator("#id_organisation").fill(f"{name} SARL")
        page.locator(f"input[name=role][value={role}]").check()
        page.locator("main form button[type=submit]").click()
        expect(page).to_have_url(re.compile(rf"/a/{code}/$"))
        expect(page.locator("#live-status")).to_have_attribute("data-state", "online", timeout=LIVE_MS)
        page.evaluate(f"window.{MARKER} = {self.label!r}")

    def assert_not_reloaded(self) -> None:
        assert self.page.evaluate(f"window.{MARKER}") == self.label, f"phone {self.label} reloaded the page"

    def card(self, statement: str):
        return self.page.locator("#impossible-list .card").filter(
            has=self.page.locator(".statement").get_by_text(statement, exact=True)
        )

    def post_impossible(self, statement: str, category: str = "recrutement") -> None:
        from playwright.sync_api import expect

        page = self.page
        form = page.locator("#post-form")
        if not form.is_visible():
            page.locator("details:has(#post-form) > summary").click()
        form.locator("[name=statement]").fill(statement)
        form.locator("[name=category]").select_option(category)
        publish(page, form.locator("button[type=submit]"))
        # htmx swaps a fresh form in place, with a confirmation and an empty statement.
        expect(page.locator("#post-form .success")).to_be_visible()
        expect(page.locator("#post-form [name=statement]")).to_have_value("")

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}-phone-{self.label.lower()}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def browser(transactional_db):
    """Chromium, started after the database is set up and stopped before it is flushed."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: the browser tests are required in CI")
        pytest.skip(message)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=LIVE_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def phones(request, daphne_server, live_atelier, browser):
    """Phone A (360×740) and phone B (412×915), both joined to the atelier and live."""
    code = live_atelier.code  # read now: no ORM once the browser runs
    a = Phone(browser, daphne_server, "A", {"width": 360, "height": 740})
    b = Phone(browser, daphne_server, "B", {"width": 412, "height": 915})
    try:
        a.join(code, "Alice", "entrepreneur")
        b.join(code, "Bruno", "elu")
        yield a, b
    finally:
        for phone in (a, b):
            try:
                phone.screenshot(request.node.name)
            finally:
                if phone.errors:
                    print(f"phone {phone.label} errors:", *phone.errors, sep="\n  ")
                phone.close()


def assert_no_errors(*phones: Phone) -> None:
    errors = [f"phone {phone.label}: {error}" for phone in phones for error in phone.errors]
    assert not errors, "\n".join(errors)


def test_two_phones_see_each_other_live(phones):
    from playwright.sync_api import expect

    a, b = phones
    statement = "Impossible de trouver un local pour l'atelier de soudure"
    a.post_impossible(statement, category="foncier")
    a.assert_not_reloaded()

    # The author's own card arrives by the push too; then the other phone's.
    expect(a.card(statement)).to_have_count(1, timeout=LIVE_MS)
    expect(b.card(statement)).to_have_count(1, timeout=LIVE_MS)
    card_id = a.card(statement).get_attribute("id")
    assert card_id and re.fullmatch(r"imp-\d+", card_id), card_id
    expect(b.page.locator(f"#{card_id}-metoo")).to_have_text("0")

    a.page.locator(f"#{card_id} .metoo-btn").click()
    expect(a.page.locator(f"#{card_id}-metoo")).to_have_text("1", timeout=LIVE_MS)
    expect(a.page.locator(f"#{card_id} .metoo-btn")).to_have_attribute("aria-pressed", "true")
    expect(b.page.locator(f"#{card_id}-metoo")).to_have_text("1", timeout=LIVE_MS)
    # The count is shared; "I said it" is not.
    expect(b.page.locator(f"#{card_id} .metoo-btn")).to_have_attribute("aria-pressed", "false")

    for phone in (a, b):
        phone.assert_not_reloaded()
        expect(phone.page.locator("#live-status")).to_have_attribute("data-state", "online")
        # Presence is pushed too (unversioned, coalesced over a second).
        expect(phone.page.locator("#stat-online")).to_have_text("2", timeout=LIVE_MS)
    assert_no_errors(a, b)


def test_a_hostile_statement_is_pushed_as_plain_text(phones):
    from playwright.sync_api import expect

    a, b = phones
    a.post_impossible(HOSTILE)

    for phone in (a, b):
        card = phone.card(HOSTILE)
        expect(card).to_have_count(1, timeout=LIVE_MS)
        assert card.locator(".statement").inner_text().strip() == HOSTILE
        page = phone.page
        assert page.locator("#impossible-list img, #impossible-list [onerror]").count() == 0
        assert page.locator('#impossible-list [hx-get="/"]').count() == 0
        assert page.evaluate("typeof window.__xss") == "undefined", f"script ran on phone {phone.label}"
        phone.assert_not_reloaded()
    assert_no_errors(a, b)
