"""The projector, read from the back of the room, in Chromium.

A 3-m-wide image read from 10 m: nothing the room reads is under 32 px on a
1080p projector, sizes follow the screen, the spotlight never cuts a line
(a 280-character impossible with long details and 12 offers of help), and
the QR code is big enough to scan from 6 m.

Left out of the 32-px rule, because the room need not read them: the live
status in the corner (a dot for the facilitator; its words only when the
connection drops) and the link to the accessibility statement, which shows
only when the facilitator's keyboard focuses it.
"""

from __future__ import annotations

import re
import time

import pytest

from tests import scene, servers

pytestmark = [pytest.mark.browser, pytest.mark.once]

django_db_setup = scene.django_db_setup
daphne_server = servers.daphne_server
evening = scene.evening
chromium = scene.chromium

MIN_TEXT_PX = 32
NOT_FOR_THE_ROOM = "#live-status, .p-footer"
HD_READY = {"width": 1280, "height": 720}

TEXT_SIZES = """(excluded) => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const found = [];
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!node.textContent.trim() || el.closest(excluded) || el.closest('svg')) continue;
    if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const box = range.getBoundingClientRect();
    if (!box.width || box.right < 0 || box.left > innerWidth) continue;
    found.push({text: node.textContent.trim().slice(0, 40), px: parseFloat(getComputedStyle(el).fontSize)});
  }
  return found;
}"""

OVERFLOWS = """(selector) => {
  const box = document.querySelector(selector);
  return [box, ...box.querySelectorAll('*')]
    .filter((el) => el.getClientRects().length && el.scrollHeight > el.clientHeight + 1
      && getComputedStyle(el).display !== 'inline')
    .map((el) => ({what: el.className || el.tagName, scroll: el.scrollHeight, client: el.clientHeight}));
}"""


def fitted(tab, selector: str) -> list[dict]:
    """What still overflows in `selector` once the page has fitted it: a live
    update swaps a panel in whole, and projector.js fits it when htmx settles
    it, a few milliseconds later (longer on a busy machine)."""
    deadline = time.monotonic() + 5
    while (overflowing := tab.evaluate(OVERFLOWS, selector)) and time.monotonic() < deadline:
        tab.wait_for_timeout(50)
    return overflowing


def open_projector(chromium, server, evening, viewport, *, plan=False, clock=False):
    ateliers = evening.plan if plan else evening.live
    context = scene.new_context(chromium, server, "fr", viewport, session=evening.facilitator_session)
    tab = context.new_page()
    if clock:
        tab.clock.install()  # time flows, and the test may jump ahead
    tab.goto(f"{server.url}/a/{ateliers['fr'].code}/projector/")
    from playwright.sync_api import expect

    expect(tab.locator("#live-status")).to_have_attribute("data-state", "online")
    tab.evaluate("document.fonts.ready")
    return context, tab


@pytest.mark.parametrize("plan", [False, True], ids=["impossibles-phase", "plan-phase"])
def test_nothing_the_room_reads_is_under_32_px_at_1080p(chromium, daphne_server, evening, plan):
    context, tab = open_projector(chromium, daphne_server, evening, scene.PROJECTOR, plan=plan)
    try:
        texts = tab.evaluate(TEXT_SIZES, NOT_FOR_THE_ROOM)
        assert len(texts) > 15, texts
        small = [text for text in texts if text["px"] < MIN_TEXT_PX - 0.01]
        assert not small, small
        print(f"\n[projector text sizes, 1080p] smallest {min(t['px'] for t in texts):.1f} px")
    finally:
        context.close()


def test_sizes_follow_the_screen(chromium, daphne_server, evening):
    sizes = {}
    for label, viewport in (("1080p", scene.PROJECTOR), ("720p", HD_READY)):
        context, tab = open_projector(chromium, daphne_server, evening, viewport)
        try:
            sizes[label] = tab.evaluate(
                "() => ['body', '.p-spotlight-statement', '.p-counters dd', '.qr svg']"
                ".map((s) => document.querySelector(s).getBoundingClientRect().height"
                " || parseFloat(getComputedStyle(document.querySelector(s)).fontSize))"
            )
            sizes[label][0] = tab.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
        finally:
            context.close()
    ratios = [small / big for small, big in zip(sizes["720p"], sizes["1080p"], strict=True)]
    assert all(ratio == pytest.approx(720 / 1080, rel=0.05) for ratio in ratios), (sizes, ratios)


@pytest.mark.parametrize("viewport", [scene.PROJECTOR, HD_READY], ids=["1080p", "720p"])
def test_the_spotlight_never_cuts_a_line(chromium, daphne_server, evening, viewport):
    context, tab = open_projector(chromium, daphne_server, evening, viewport, clock=True)
    try:
        spotlight = tab.locator(".p-spotlight")
        assert spotlight.locator(".p-spotlight-statement").inner_text() == scene.LONG_STATEMENT
        shown_pages = set()
        # Every page of offers, as the clock turns them.
        for _ in range(4):
            overflowing = fitted(tab, ".p-spotlight")
            assert not overflowing, overflowing
            box = spotlight.bounding_box()
            assert box["y"] + box["height"] <= viewport["height"]
            shown_pages.add(spotlight.locator(".p-offers > li:not([hidden])").first.inner_text())
            label = spotlight.locator(".p-offers-pages")
            if not label.is_visible():
                break
            assert re.fullmatch(r"Offres d'aide \d+ à \d+ sur 12", label.inner_text()), label.inner_text()
            tab.clock.fast_forward(8000)
            tab.wait_for_timeout(100)
        # Offers that do not fit all at once are all shown in turn.
        count = spotlight.locator(".p-offers > li:not([hidden])").count()
        assert count == 12 or len(shown_pages) > 1
        print(f"\n[spotlight {viewport['width']}x{viewport['height']}] {count} offers per page")
    finally:
        context.close()


def test_the_qr_code_scans_from_the_back_of_the_room(chromium, daphne_server, evening):
    context, tab = open_projector(chromium, daphne_server, evening, scene.PROJECTOR)
    try:
        qr = tab.locator(".p-join .qr svg")
        box = qr.bounding_box()
        modules = float(qr.get_attribute("viewBox").split()[2])
        module_px = box["width"] / modules
        # On a 3-m-wide image, 1 px of 1920 is 1.56 mm.
        module_mm = module_px * 3000 / 1920
        print(f"\n[qr] {box['width']:.0f} px wide, {modules:.0f} modules, {module_px:.1f} px = {module_mm:.1f} mm each")
        # A tenth of the distance for the code's width: 60 cm at 6 m, 384 px.
        assert box["width"] * 3000 / 1920 >= 600
        assert module_mm >= 15
        assert box["y"] >= 0 and box["y"] + box["height"] <= scene.PROJECTOR["height"]
    finally:
        context.close()
