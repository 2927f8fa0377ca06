"""A facilitator runs the evening from the console; a phone and the projector follow live.

Debian's Chromium against a real daphne process: the facilitator logs in
through the login page (1366×900), opens the console and, in a second page
of the same browser, the projector (1920×1080); a participant's phone
(360×740, its own context) joins through the form. Every change is made by
clicking the console's own buttons, and must reach the phone and the
projector over the WebSocket without a reload. Screenshots of the three
screens land in test-artifacts/ (console.png, projector.png, phone.png).

As in test_browser.py, no Django ORM call runs while Playwright's sync API
does: the atelier and the facilitator's account are committed before the
browser starts; the other participant talks HTTP only.
"""

from __future__ import annotations

import re
import time

import pytest

from tests import servers, test_browser

pytestmark = pytest.mark.browser

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier
visitors = servers.visitors
browser = test_browser.browser

LIVE_MS = test_browser.LIVE_MS
ARTIFACTS = test_browser.ARTIFACTS
MARKER = test_browser.MARKER
CLOCK = re.compile(r"^(\d\d):(\d\d)$")


class Screen(test_browser.PageErrors):
    """One page of the facilitator's browser, and every error it reports."""

    def __init__(self, page, label: str) -> None:
        self.page = page
        self.label = label
        self.watch(page)

    def mark(self) -> None:
        self.page.evaluate(f"window.{MARKER} = {self.label!r}")

    def assert_not_reloaded(self) -> None:
        assert self.page.evaluate(f"window.{MARKER}") == self.label, f"the {self.label} reloaded the page"


def seconds_left(locator) -> int:
    text = locator.inner_text().strip()
    match = CLOCK.match(text)
    assert match, f"not a running clock: {text!r}"
    return int(match.group(1)) * 60 + int(match.group(2))


def assert_counting_down(locator) -> None:
    """The clock shows a little under three minutes, then less."""
    from playwright.sync_api import expect

    expect(locator).to_have_text(re.compile(r"^0[23]:\d\d$"))
    first = seconds_left(locator)
    assert 170 <= first <= 180, first
    deadline = time.monotonic() + 3
    while (now := seconds_left(locator)) >= first:
        assert time.monotonic() < deadline, f"the clock stays at {now} s"
        locator.page.wait_for_timeout(100)


@pytest.fixture
def facilitator_account(live_atelier) -> servers.Account:
    return servers.create_facilitator(live_atelier, "camille")


def test_the_console_runs_the_room_live(daphne_server, live_atelier, facilitator_account, visitors, browser):
    from playwright.sync_api import expect

    code = live_atelier.code  # read now: no ORM once the browser runs
    server = daphne_server
    # Someone else's impossible, already on the board when the room arrives.
    statement = "Impossible de trouver un local pour un atelier de soudure"
    bruno = visitors(server, code, "Bruno", "elu")
    impossible_id = bruno.post_impossible(statement, category="foncier")
    card = f"#imp-{impossible_id}"

    desk = browser.new_context(viewport={"width": 1366, "height": 900}, locale="fr-FR")
    desk.set_default_timeout(LIVE_MS)
    phone = test_browser.Phone(browser, server, "phone", {"width": 360, "height": 740})
    screens: list[Screen] = []
    try:
        # The facilitator asks for the console and is sent to the login page first.
        console = Screen(desk.new_page(), "console")
        screens.append(console)
        page = console.page
        page.goto(f"{server.url}/a/{code}/console/")
        expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
        page.locator("#id_username").fill(facilitator_account.username)
        page.locator("#id_password").fill(facilitator_account.password)
        page.locator("main form button[type=submit]").click()
        expect(page).to_have_url(re.compile(rf"/a/{code}/console/$"))
        expect(page.locator("#live-status")).to_have_attribute("data-state", "online")
        console.mark()

        projector = Screen(desk.new_page(), "projector")
        screens.append(projector)
        wall = projector.page
        wall.set_viewport_size({"width": 1920, "height": 1080})
        wall.goto(f"{server.url}/a/{code}/projector/")
        expect(wall.locator("#live-status")).to_have_attribute("data-state", "online")
        expect(wall.locator(".p-phase .phase-name")).to_have_text("Impossibles")
        expect(wall.locator(".p-spotlight")).to_have_count(0)
        projector.mark()

        phone.join(code, "Alice", "entrepreneur")
        hand = phone.page
        expect(hand.locator("#atelier-state")).to_have_attribute("data-phase", "impossibles")
        expect(hand.locator(".post-panel")).to_be_visible()
        # The console hears about the newcomer, without a reload.
        expect(page.locator(".people")).to_contain_text("Alice")

        # 1. Phase « Moi aussi »: no more posting, the phone follows without a reload.
        page.locator("button.phase-btn[value=moi_aussi]").click()
        expect(hand.locator("#atelier-state[data-phase=moi_aussi]")).to_have_count(1)
        expect(hand.locator("#atelier-state .phase-name")).to_have_text("Moi aussi")
        expect(hand.locator(".post-panel")).to_be_hidden()
        expect(hand.locator(f"{card} .metoo-btn")).to_be_visible()
        expect(wall.locator(".p-phase .phase-name")).to_have_text("Moi aussi")
        expect(page.locator("button.phase-btn[value=moi_aussi]")).to_have_attribute("aria-current", "step")

        # 2. Bruno's impossible on screen: highlighted on the phone, large on the projector.
        page.locator(f"#console-imp-{impossible_id} button[name=impossible][value='{impossible_id}']").click()
        expect(hand.locator(card)).to_have_class(re.compile(r"\bis-spotlight\b"))
        expect(hand.locator("#atelier-state .spotlight-note")).to_contain_text(statement)
        spotlight = wall.locator(".p-spotlight")
        expect(spotlight.locator(".p-spotlight-statement")).to_have_text(statement)
        expect(spotlight.locator(".p-spotlight-count strong").first).to_have_text("0")
        expect(page.locator(f"#console-imp-{impossible_id}")).to_have_class(re.compile(r"\bis-spotlight\b"))

        # 3. The phone says « moi aussi » on it: the projector's count follows.
        hand.locator(f"{card} .metoo-btn").click()
        expect(hand.locator(f"{card}-metoo")).to_have_text("1")
        expect(hand.locator(f"{card} .metoo-btn")).to_have_attribute("aria-pressed", "true")
        expect(spotlight.locator(".p-spotlight-count strong").first).to_have_text("1")

        # 4. A three-minute timer counts down on the phone and on the projector.
        page.locator(".timer-form [name=minutes]").fill("3")
        page.locator(".timer-form [name=label]").fill("Dites « moi aussi » !")
        page.locator(".timer-form button[type=submit]").click()
        expect(hand.locator("#atelier-state .timer-label")).to_have_text("Dites « moi aussi » !")
        expect(wall.locator(".p-timer .timer-label")).to_have_text("Dites « moi aussi » !")
        assert_counting_down(hand.locator("#atelier-state .timer-clock"))
        assert_counting_down(wall.locator(".p-timer .timer-clock"))
        assert_counting_down(page.locator(".timer-status .timer-clock"))

        for screen in (console, projector):
            screen.assert_not_reloaded()
            expect(screen.page.locator("#live-status")).to_have_attribute("data-state", "online")
        phone.assert_not_reloaded()
        expect(hand.locator("#live-status")).to_have_attribute("data-state", "online")

        ARTIFACTS.mkdir(exist_ok=True)
        wall.screenshot(path=str(ARTIFACTS / "projector.png"))
        hand.screenshot(path=str(ARTIFACTS / "phone.png"), full_page=True)
        page.screenshot(path=str(ARTIFACTS / "console.png"), full_page=True)

        errors = [f"{screen.label}: {error}" for screen in screens for error in screen.errors]
        errors += [f"phone: {error}" for error in phone.errors]
        assert not errors, "\n".join(errors)
    finally:
        # Shown by pytest when the test fails.
        for label, errors in [(screen.label, screen.errors) for screen in screens] + [("phone", phone.errors)]:
            if errors:
                print(f"{label} errors:", *errors, sep="\n  ")
        print(server.log_tail(3000))
        phone.close()
        desk.close()
