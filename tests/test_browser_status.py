"""The phone tells the truth about its connection (Chromium).

« Hors ligne » within a second of the browser going offline; « Reconnexion… »
within ~10 s of a connection that died without a word (the server beats every
few seconds); « En direct » again only once the page holds the server's
version, and never while the server says its live updates are interrupted;
and never a count of people online that the page does not know.
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from boards.live import protocol
from tests import servers, test_browser

# The page's status line, fed by the process's own beats: the same on any backend
# (Redis going away is tests/test_faults.py's).
pytestmark = [pytest.mark.browser, pytest.mark.once]

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier
browser = test_browser.browser

LIVE_MS = test_browser.LIVE_MS

# Every change of #live-status (state, text, the version the page holds then)
# and every count of people online the page showed.
WATCH_JS = """
window.__statusLog = [];
window.__onlineShown = [];
document.addEventListener('DOMContentLoaded', () => {
  const status = document.getElementById('live-status');
  const version = () => { const m = document.getElementById('live-version'); return m ? m.dataset.version : null; };
  if (status) {
    const log = () => window.__statusLog.push([status.dataset.state, status.textContent, version()]);
    new MutationObserver(log).observe(status, {attributes: true, childList: true, characterData: true, subtree: true});
  }
  const seen = () => {
    const count = document.getElementById('stat-online');
    const stat = count && count.closest('.stat-online');
    if (stat && !stat.hidden) window.__onlineShown.push(count.textContent.trim());
  };
  new MutationObserver(seen)
    .observe(document.body, {attributes: true, childList: true, subtree: true, characterData: true});
});
"""


@pytest.fixture
def watched(request, daphne_server, live_atelier, browser):
    code = live_atelier.code  # read now: no ORM once the browser runs
    phone = test_browser.Phone(browser, daphne_server, "A", {"width": 390, "height": 844})
    phone.context.add_init_script(WATCH_JS)
    bruno = servers.join_atelier(daphne_server, code, "Bruno", "elu")
    try:
        yield phone, bruno
    finally:
        try:
            phone.screenshot(request.node.name)
        finally:
            phone.close()
            bruno.close()


def _status(phone):
    return phone.page.locator("#live-status")


def test_offline_is_said_at_once_and_live_only_after_the_resync(watched):
    from playwright.sync_api import expect

    phone, bruno = watched
    phone.join(bruno.code, "Alice", "entrepreneur")
    page = phone.page
    expect(_status(phone)).to_have_text("En direct")

    phone.context.set_offline(True)
    went_offline = time.monotonic()
    expect(_status(phone)).to_have_text("Hors ligne", timeout=1000)
    assert time.monotonic() - went_offline < 1.5
    expect(page.locator(".stat-online")).to_be_hidden()

    # Meanwhile the board moves on.
    posted = bruno.post_impossible("Impossible de trouver un local avec une vitrine")
    version = bruno.board_version()
    page.wait_for_timeout(1500)
    assert _status(phone).text_content() == "Hors ligne"

    phone.context.set_offline(False)
    expect(_status(phone)).to_have_text("En direct", timeout=LIVE_MS)
    expect(page.locator(f"#imp-{posted}")).to_have_count(1)
    # Every time the page said « En direct », it held the server's version.
    log = page.evaluate("window.__statusLog")
    back = [entry for entry in log if entry[1] == "En direct"]
    assert back, log
    assert back[-1][2] == str(version), log
    phone.assert_not_reloaded()


class Relayed:
    """The page's sockets pass through here (Playwright's WebSocket routes):
    what the server sends reaches the page unless `pushes_stop`, which keeps
    from it what the server no longer pushes while its channel layer is away
    (the room's changes, the count online), letting through what it still
    says without the layer (beats, ping replies and snapshots read from the
    database)."""

    def __init__(self, context) -> None:
        self.pages: list = []
        self.pushes_stop = False
        context.route_web_socket(re.compile(r"/ws/a/"), self.route)

    def route(self, page_side) -> None:
        server_side = page_side.connect_to_server()
        page_side.on_message(server_side.send)
        server_side.on_message(lambda message: self.to_page(page_side, message))
        self.pages.append(page_side)

    def to_page(self, page_side, message) -> None:
        kind = (protocol.parse_version(message) or (0, None))[1]
        without_layer = message.startswith((f'<div id="{protocol.PING_ID}"', protocol.BEAT))
        if not self.pushes_stop or without_layer or kind == protocol.Kind.SNAPSHOT:
            page_side.send(message)

    def say(self, message: str) -> None:
        self.pages[-1].send(message)


def test_while_live_updates_are_interrupted_the_page_never_says_it_is_live(watched):
    from playwright.sync_api import expect

    phone, bruno = watched
    relayed = Relayed(phone.context)
    phone.join(bruno.code, "Alice", "entrepreneur")
    page = phone.page
    expect(_status(phone)).to_have_text("En direct")

    # The server's channel layer goes away: it says so, and pushes stop.
    relayed.pushes_stop = True
    relayed.say(protocol.LAYER_DOWN)
    expect(_status(phone)).to_have_text("Mise à jour en direct interrompue…")
    interrupted = len(page.evaluate("window.__statusLog"))

    # The board moves on; the page catches up from the database (its ping
    # finds it behind, it asks for the board), and still says the truth.
    posted = bruno.post_impossible("Impossible de trouver un local avec une vitrine")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator(f"#imp-{posted}")).to_have_count(1)
    page.wait_for_timeout(500)
    expect(_status(phone)).to_have_text("Mise à jour en direct interrompue…")
    expect(page.locator(".stat-online")).to_be_hidden()
    log = page.evaluate("window.__statusLog")
    assert all(state != "online" for state, _, _ in log[interrupted:]), log

    # Live updates resume: « En direct » once the page holds the server's version.
    relayed.pushes_stop = False
    version = bruno.board_version()
    relayed.say(protocol.LAYER_UP)
    expect(_status(phone)).to_have_text("En direct", timeout=LIVE_MS)
    back = [entry for entry in page.evaluate("window.__statusLog") if entry[1] == "En direct"]
    assert back[-1][2] == str(version)
    phone.assert_not_reloaded()
    test_browser.assert_no_errors(phone)


def test_a_connection_that_dies_silently_is_noticed_within_ten_seconds(watched, daphne_server):
    from playwright.sync_api import expect

    phone, bruno = watched
    phone.join(bruno.code, "Alice", "entrepreneur")
    expect(_status(phone)).to_have_text("En direct")
    process = daphne_server.process
    assert process is not None
    # A frozen server keeps its TCP connections open and says nothing: what a
    # phone sees when its Wi-Fi lost the way out without dropping the link.
    os.kill(process.pid, signal.SIGSTOP)
    try:
        frozen = time.monotonic()
        expect(_status(phone)).to_have_attribute("data-state", "offline", timeout=12_000)
        noticed = time.monotonic() - frozen
        assert noticed < 11, f"noticed after {noticed:.1f} s"
        expect(phone.page.locator(".stat-online")).to_be_hidden()
    finally:
        os.kill(process.pid, signal.SIGCONT)
    expect(_status(phone)).to_have_text("En direct", timeout=30_000)
    phone.assert_not_reloaded()


def test_no_count_of_people_online_is_shown_before_the_socket_brings_one(watched):
    from playwright.sync_api import expect

    phone, bruno = watched
    # Alice is the first one on the board: the page is rendered before her
    # socket is counted, with « 0 ».
    phone.join(bruno.code, "Alice", "entrepreneur")
    expect(phone.page.locator(".stat-online")).to_be_visible(timeout=LIVE_MS)
    expect(phone.page.locator("#stat-online")).to_have_text("1")
    shown = phone.page.evaluate("window.__onlineShown")
    assert shown and "0" not in shown, shown
    test_browser.assert_no_errors(phone)
