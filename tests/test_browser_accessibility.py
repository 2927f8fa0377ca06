"""Every page, audited by axe-core in Chromium, in French and in English.

axe-core (bundled by axe-playwright-python) runs every rule it has on each
page, as a participant's phone (390×844), a facilitator's laptop (1280×800)
or the projector (1920×1080) sees it. No page may have a critical or a
serious violation; the moderate and minor ones are printed (pytest -s) for
the accessibility statement.

The same module measures what axe cannot: tap targets on the phone, motion
when the visitor asks for less, disabled buttons that say why, and the live
status pill that must never cover content. Screenshots of the phone board,
the console and the projector land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tests import scene, servers

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = [pytest.mark.browser, pytest.mark.once]

django_db_setup = scene.django_db_setup
daphne_server = servers.daphne_server
evening = scene.evening
chromium = scene.chromium

BLOCKING = ("critical", "serious")
# For review: the screens the room sees, in both languages.
SCREENSHOTS = {"board", "console", "projector"}
# Every rule axe runs by default, plus WCAG 2.5.3 (Label in Name), which
# axe still tags experimental.
AXE_OPTIONS = {"resultTypes": ["violations"], "rules": {"label-content-name-mismatch": {"enabled": True}}}


@dataclass(frozen=True)
class Page:
    name: str
    path: Callable[[scene.Evening, str], str]
    viewport: dict[str, int]
    # "alice" (the live atelier's participant), "plan-alice", "facilitator" or "" (nobody).
    who: str = ""


PAGES = [
    Page("home", lambda e, lang: "/", scene.PHONE),
    Page("join", lambda e, lang: f"/a/{e.live[lang].code}/join/", scene.PHONE),
    Page("login", lambda e, lang: "/accounts/login/", scene.PHONE),
    Page("accessibility", lambda e, lang: "/accessibilite/", scene.PHONE),
    Page("board", lambda e, lang: f"/a/{e.live[lang].code}/", scene.PHONE, "alice"),
    Page("board-plan-phase", lambda e, lang: f"/a/{e.plan[lang].code}/", scene.PHONE, "plan-alice"),
    Page(
        "impossible",
        lambda e, lang: f"/a/{e.live[lang].code}/impossibles/{e.live[lang].impossible_ids['long']}/",
        scene.PHONE,
        "alice",
    ),
    Page(
        "offer",
        lambda e, lang: f"/a/{e.live[lang].code}/impossibles/{e.live[lang].impossible_ids['local']}/offers/",
        scene.PHONE,
        "alice",
    ),
    Page(
        "author-action",
        lambda e, lang: f"/a/{e.plan[lang].code}/impossibles/{e.plan[lang].impossible_ids['soudeurs']}/actions/new/",
        scene.PHONE,
        "plan-alice",
    ),
    Page("profile", lambda e, lang: f"/a/{e.live[lang].code}/me/", scene.PHONE, "alice"),
    Page("my-data", lambda e, lang: f"/a/{e.live[lang].code}/me/data/", scene.PHONE, "alice"),
    Page("facilitator-home", lambda e, lang: "/facilitate/", scene.LAPTOP, "facilitator"),
    Page("console", lambda e, lang: f"/a/{e.live[lang].code}/console/", scene.LAPTOP, "facilitator"),
    Page("settings", lambda e, lang: f"/a/{e.live[lang].code}/console/settings/", scene.LAPTOP, "facilitator"),
    Page("projector", lambda e, lang: f"/a/{e.live[lang].code}/projector/", scene.PROJECTOR, "facilitator"),
    Page("projector-plan", lambda e, lang: f"/a/{e.plan[lang].code}/projector/", scene.PROJECTOR, "facilitator"),
    Page("poster", lambda e, lang: f"/a/{e.live[lang].code}/poster/", scene.LAPTOP, "facilitator"),
    Page("plan", lambda e, lang: f"/a/{e.plan[lang].code}/plan/", scene.LAPTOP, "facilitator"),
    Page("public-plan", lambda e, lang: f"/plan/{e.plan[lang].share_token}/", scene.PHONE),
    Page("follow-up", lambda e, lang: f"/suivi/{e.plan[lang].pilot_token}/", scene.PHONE),
]


def session_for(evening: scene.Evening, who: str, language: str) -> str:
    if who == "facilitator":
        return evening.facilitator_session
    if who == "alice":
        return evening.live[language].sessions["alice"]
    if who == "plan-alice":
        return evening.plan[language].sessions["alice"]
    return ""


def open_page(chromium, server, evening, page: Page, language: str, **options):
    context = scene.new_context(
        chromium, server, language, page.viewport, session=session_for(evening, page.who, language), **options
    )
    tab = context.new_page()
    response = tab.goto(server.url + page.path(evening, language))
    assert response is not None and response.status == 200, f"{page.name}: HTTP {response and response.status}"
    if tab.locator("#live-status").count():
        from playwright.sync_api import expect

        expect(tab.locator("#live-status")).to_have_attribute("data-state", "online")
    return context, tab


@pytest.mark.parametrize("language", scene.LANGUAGES)
@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_axe_finds_no_critical_or_serious_violation(chromium, daphne_server, evening, page, language):
    from axe_playwright_python.sync_playwright import Axe

    context, tab = open_page(chromium, daphne_server, evening, page, language)
    try:
        # The projector, the poster and the plan's pages speak the atelier's
        # language: each atelier of the evening has the tested one.
        assert tab.evaluate("document.documentElement.lang") == language
        results = Axe().run(tab, options=AXE_OPTIONS)
        violations = results.response["violations"]
        summary = [
            {
                "rule": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "targets": [node["target"] for node in v["nodes"]][:5],
                "summary": v["nodes"][0].get("failureSummary", "")[:300],
            }
            for v in violations
        ]
        print(f"\n[axe {page.name} {language}] {json.dumps(summary, ensure_ascii=False)}")
        if page.name in SCREENSHOTS:
            scene.screenshot(tab, f"{page.name}-{language}", full_page=page.name != "projector")
        blocking = [v for v in summary if v["impact"] in BLOCKING]
        assert not blocking, json.dumps(blocking, ensure_ascii=False, indent=1)
    finally:
        context.close()


# --- What axe does not measure -------------------------------------------------------

INTERACTIVE = "a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex='-1'])"
MEASURE = """(selector) => Array.from(document.querySelectorAll(selector))
  .filter((el) => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden')
  .map((el) => {
    const box = el.getBoundingClientRect();
    return {what: el.outerHTML.slice(0, 120), width: box.width, height: box.height};
  })"""


PHONE_PAGES = [page for page in PAGES if page.viewport == scene.PHONE and page.name != "board"]


@pytest.mark.parametrize("page", PHONE_PAGES, ids=[page.name for page in PHONE_PAGES])
def test_every_tap_target_of_the_other_phone_pages_is_at_least_24_px(chromium, daphne_server, evening, page):
    context, tab = open_page(chromium, daphne_server, evening, page, "fr", is_mobile=True, has_touch=True)
    try:
        for closed in tab.locator("details:not([open]) > summary").all():
            if closed.is_visible():
                closed.click()
        targets = tab.evaluate(MEASURE, INTERACTIVE)
        small = [t for t in targets if t["width"] < 24 or t["height"] < 24]
        assert not small, small
    finally:
        context.close()


def test_every_tap_target_of_the_phone_board_is_at_least_24_px(chromium, daphne_server, evening):
    board = next(page for page in PAGES if page.name == "board")
    context, tab = open_page(chromium, daphne_server, evening, board, "fr", is_mobile=True, has_touch=True)
    try:
        # Everything a thumb may meet: the details and an offer form opened too.
        tab.locator(".card .details summary").first.click()
        tab.locator(".card .btn-help").first.click()
        tab.locator(".help-slot form button[type=submit]").wait_for()
        targets = tab.evaluate(MEASURE, INTERACTIVE)
        assert len(targets) > 40, targets
        small = [t for t in targets if t["width"] < 24 or t["height"] < 24]
        assert not small, small
        # The main actions: 44 px high at least (WCAG 2.5.5).
        for selector in ("#post-form button[type=submit]", ".metoo-btn", ".btn-help", ".help-slot form button"):
            main = tab.evaluate(MEASURE, selector)
            assert main and all(t["height"] >= 44 for t in main), (selector, main)
    finally:
        context.close()


def test_the_language_buttons_are_named_by_what_they_show(chromium, daphne_server, evening):
    context, tab = open_page(chromium, daphne_server, evening, PAGES[0], "fr")
    try:
        # WCAG 2.5.3: saying « click EN » must find the button.
        for code, name in (("FR", r"^FR français$"), ("EN", r"^EN English$")):
            button = tab.get_by_role("button", name=re.compile(name))
            assert button.count() == 1 and button.evaluate("el => el.firstChild.textContent") == code
            assert button.get_attribute("aria-label") is None
    finally:
        context.close()


def test_nothing_moves_when_the_visitor_asks_for_less_motion(chromium, daphne_server, evening):
    board = next(page for page in PAGES if page.name == "board")
    context, tab = open_page(chromium, daphne_server, evening, board, "fr", reduced_motion="reduce")
    try:
        moving = tab.evaluate(
            """() => Array.from(document.querySelectorAll('*')).flatMap((el) => [el, ...['::before', '::after']
                 .map((p) => [el, p])]).map((item) => {
                   const [el, pseudo] = Array.isArray(item) ? item : [item, null];
                   const style = getComputedStyle(el, pseudo);
                   const durations = (style.transitionDuration + ',' + style.animationDuration).split(',');
                   return durations.some((d) => parseFloat(d) > 0) ? el.outerHTML.slice(0, 80) : null;
                 }).filter(Boolean)"""
        )
        assert not moving, moving
    finally:
        context.close()


def test_every_css_animation_and_transition_stops_under_reduced_motion():
    """A rule that animates must sit in a no-preference block, or be cancelled by
    app.css's reduce block (loaded on every page but the poster, which has none)."""
    for path in sorted((servers.ROOT / "static" / "boards").glob("*.css")):
        css = path.read_text()
        animated = [line for line in css.splitlines() if re.search(r"(?<![-\w])(transition|animation)[\w-]*\s*:", line)]
        if path.name == "app.css":
            assert "@media (prefers-reduced-motion: reduce)" in css
            continue
        assert not animated or "prefers-reduced-motion" in css, (path.name, animated)


def test_buttons_a_phase_closes_are_disabled_and_say_why(chromium, daphne_server, evening):
    # The plan phase: « moi aussi » is closed, offers of help are not.
    board = next(page for page in PAGES if page.name == "board-plan-phase")
    context, tab = open_page(chromium, daphne_server, evening, board, "fr")
    try:
        reason = tab.locator("#atelier-closed")
        assert "fermés pendant cette phase" in reason.inner_text()
        for button in tab.locator(".metoo-btn").all():
            assert button.get_attribute("aria-disabled") == "true"
            assert button.get_attribute("aria-describedby") == "atelier-closed"
        for link in tab.locator(".btn-help").all():
            assert link.get_attribute("aria-disabled") is None
        # Closed means closed: tapping sends nothing.
        count = tab.locator(".metoo-btn .count").first.inner_text()
        requests = []
        tab.on("request", lambda request: requests.append(request.url))
        tab.locator(".metoo-btn").first.click(force=True)
        tab.locator(".metoo-btn").first.press("Enter")
        tab.wait_for_timeout(300)
        assert not [url for url in requests if "me-too" in url]
        assert tab.locator(".metoo-btn .count").first.inner_text() == count
    finally:
        context.close()


KEYBOARD_WALK = 40


@pytest.mark.parametrize("name", ["board", "console"])
def test_the_keyboard_reaches_every_control_in_reading_order_with_a_visible_focus(
    chromium, daphne_server, evening, name
):
    page = next(page for page in PAGES if page.name == name)
    context, tab = open_page(chromium, daphne_server, evening, page, "fr")
    try:
        seen = []
        for _ in range(KEYBOARD_WALK):
            tab.keyboard.press("Tab")
            focused = tab.evaluate(
                """() => { const el = document.activeElement; const style = getComputedStyle(el);
                   const order = Array.from(document.querySelectorAll('*')).indexOf(el);
                   return {what: el.outerHTML.slice(0, 80), order, body: el === document.body,
                           outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2}; }"""
            )
            if focused["body"]:
                break  # past the last control
            seen.append(focused)
        assert len(seen) >= 15, [f["what"] for f in seen]
        assert all(f["outline"] for f in seen), [f["what"] for f in seen if not f["outline"]]
        orders = [f["order"] for f in seen]
        assert orders == sorted(orders), "focus jumps back: " + repr([f["what"] for f in seen])
    finally:
        context.close()


@pytest.mark.parametrize(
    ("name", "viewport"),
    [("console", scene.LAPTOP), ("console", scene.PHONE), ("plan", scene.LAPTOP), ("plan", scene.PHONE)],
)
def test_the_live_status_covers_nothing(chromium, daphne_server, evening, name, viewport):
    page = next(page for page in PAGES if page.name == name)
    page = Page(page.name, page.path, viewport, page.who)
    context, tab = open_page(chromium, daphne_server, evening, page, "fr")
    try:
        overlaps = tab.evaluate(
            """() => {
              const pill = document.getElementById('live-status').getBoundingClientRect();
              const mine = (el) => el.id === 'live-status' || el.contains(document.getElementById('live-status'));
              return Array.from(document.body.querySelectorAll('*')).filter((el) => {
                const shown = el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden';
                if (mine(el) || !shown) return false;
                const box = el.getBoundingClientRect();
                return box.width && box.height && box.left < pill.right && pill.left < box.right
                  && box.top < pill.bottom && pill.top < box.bottom;
              }).map((el) => el.outerHTML.slice(0, 100));
            }"""
        )
        assert not overlaps, overlaps
        # And it is on screen when the page opens.
        box = tab.locator("#live-status").bounding_box()
        assert box and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]
    finally:
        context.close()
