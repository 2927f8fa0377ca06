"""Live swaps leave a keyboard or screen-reader user where they were (Chromium).

The console fetches its panels again at every change in the room and the
phone's board takes pushes and snapshots: the focused control keeps the
focus and stays where it was on screen. What the room does is read out in
short sentences, at most one every few seconds, never as the whole list.
"""

from __future__ import annotations

import re

import pytest

from tests import servers, test_browser

# What the page does with a push it got: the same on any backend (pushes through
# Redis are tested in the second run by test_browser.py and test_two_processes.py).
pytestmark = [pytest.mark.browser, pytest.mark.once]

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier
visitors = servers.visitors
browser = test_browser.browser

LIVE_MS = test_browser.LIVE_MS

FOCUSED_JS = """() => {
    const element = document.activeElement;
    const item = element && element.closest('[id]');
    return {tag: element.tagName, text: element.textContent.trim(), within: item ? item.id : null,
            top: Math.round(element.getBoundingClientRect().top), scroll: Math.round(window.scrollY)};
}"""

STATEMENTS = [f"Impossible numéro {n} : trouver un local pour l'activité {n}" for n in range(1, 13)]


@pytest.fixture
def account(live_atelier) -> servers.Account:
    return servers.create_facilitator(live_atelier, "dominique")


def test_the_console_keeps_focus_and_scroll_when_a_phone_says_me_too(
    daphne_server, live_atelier, account, visitors, browser
):
    from playwright.sync_api import expect

    code = live_atelier.code
    # Each person may post ten impossibles in ten minutes: two authors.
    bruno = visitors(daphne_server, code, "Bruno", "elu")
    claire = visitors(daphne_server, code, "Claire", "entrepreneur")
    ids = [(bruno, claire)[n % 2].post_impossible(statement) for n, statement in enumerate(STATEMENTS)]
    alice = visitors(daphne_server, code, "Alice", "entrepreneur")
    target = ids[3]

    desk = browser.new_context(viewport={"width": 1366, "height": 700}, locale="fr-FR")
    desk.set_default_timeout(LIVE_MS)
    console = test_browser.PageErrors()
    try:
        page = desk.new_page()
        console.watch(page)
        page.goto(f"{daphne_server.url}/a/{code}/console/")
        page.locator("#id_username").fill(account.username)
        page.locator("#id_password").fill(account.password)
        page.locator("main form button[type=submit]").click()
        expect(page).to_have_url(re.compile(rf"/a/{code}/console/$"))
        expect(page.locator("#live-status")).to_have_text("En direct")

        hide = page.locator(f"#console-imp-{target} button[name=op][value=hide]")
        hide.scroll_into_view_if_needed()
        page.mouse.wheel(0, 150)
        page.wait_for_timeout(300)
        hide.focus()
        before = page.evaluate(FOCUSED_JS)
        assert before["text"] == "Masquer" and before["within"] == f"console-imp-{target}", before
        assert before["scroll"] > 0, before

        # On the newest impossible, first on the console already: nothing moves.
        alice.me_too(ids[-1])
        expect(page.locator(f"#console-imp-{ids[-1]} .muted strong").first).to_have_text("1")
        page.wait_for_timeout(300)
        after = page.evaluate(FOCUSED_JS)
        assert after == before
        # The keyboard goes on from there.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('[id]').id") == f"console-imp-{target}"
        assert not console.errors, console.errors
    finally:
        desk.close()


def test_a_phone_keeps_its_focus_through_a_snapshot(daphne_server, live_atelier, visitors, browser):
    from playwright.sync_api import expect

    code = live_atelier.code
    bruno = visitors(daphne_server, code, "Bruno", "elu")
    ids = [bruno.post_impossible(statement) for statement in STATEMENTS[:6]]
    phone = test_browser.Phone(browser, daphne_server, "A", {"width": 390, "height": 844})
    try:
        phone.join(code, "Alice", "entrepreneur")
        page = phone.page
        target = ids[1]
        button = page.locator(f"#imp-{target} .metoo-btn")
        button.scroll_into_view_if_needed()
        button.focus()
        before = page.evaluate(FOCUSED_JS)
        assert before["within"] == f"imp-{target}", before

        # The page believes it missed an update: the next push makes it ask
        # for the whole board, which replaces every card.
        page.evaluate("document.getElementById('live-version').dataset.version = '1'")
        bruno.me_too(target)
        expect(page.locator("#live-version[data-kind=snapshot]")).to_be_attached(timeout=LIVE_MS)
        expect(page.locator(f"#imp-{target}-metoo")).to_have_text("1")
        after = page.evaluate(FOCUSED_JS)
        assert after["tag"] == "BUTTON" and after["within"] == f"imp-{target}", after
        assert (after["top"], after["scroll"]) == (before["top"], before["scroll"])
        phone.assert_not_reloaded()
        test_browser.assert_no_errors(phone)
    finally:
        phone.close()


ANNOUNCED_JS = """
window.__announced = [];
document.addEventListener('DOMContentLoaded', () => {
  const region = document.getElementById('live-announcer');
  if (region) new MutationObserver(() => {
    const text = region.textContent.trim();
    if (text) window.__announced.push([text, Date.now()]);
  }).observe(region, {childList: true, characterData: true, subtree: true});
});
"""


def test_the_room_is_read_out_in_short_throttled_sentences(daphne_server, live_atelier, visitors, browser):
    from playwright.sync_api import expect

    code = live_atelier.code
    bruno = visitors(daphne_server, code, "Bruno", "elu")
    phone = test_browser.Phone(browser, daphne_server, "A", {"width": 390, "height": 844})
    phone.context.add_init_script(ANNOUNCED_JS)
    try:
        phone.join(code, "Alice", "entrepreneur")
        page = phone.page
        # The live region is the announcer alone: the state panel and the
        # pushed sentences are not read out as they are swapped.
        assert page.locator("[aria-live]").evaluate_all("els => els.map(el => el.id)") == ["live-announcer"]
        for statement in STATEMENTS[:4]:
            bruno.post_impossible(statement)
        expect(page.locator("#impossible-list > .card")).to_have_count(4)
        page.wait_for_timeout(6000)
        announced = page.evaluate("window.__announced")
        texts = [text for text, _at in announced]
        assert texts[0] == f"Nouvel impossible\u202f: {STATEMENTS[0]}", texts
        assert texts[1:] == ["3 nouveautés sur le tableau"], texts
        assert announced[1][1] - announced[0][1] >= 4900, announced
        test_browser.assert_no_errors(phone)
    finally:
        phone.close()


def test_a_phase_change_and_the_lock_are_read_out_in_a_sentence(daphne_server, live_atelier, account, browser):
    from playwright.sync_api import expect

    from tests import test_browser_outbox

    code = live_atelier.code
    phone = test_browser.Phone(browser, daphne_server, "A", {"width": 390, "height": 844})
    phone.context.add_init_script(ANNOUNCED_JS)
    facilitator = test_browser_outbox.facilitator_client(daphne_server, account)

    def console(path: str, data: dict[str, str]) -> None:
        token = facilitator.cookies.get("csrftoken")
        response = facilitator.post(
            f"{daphne_server.url}/a/{code}/console/{path}/",
            data={"csrfmiddlewaretoken": token, **data},
            headers={"Referer": daphne_server.url + "/"},
        )
        assert response.status_code == 302, response.text[:2000]

    try:
        phone.join(code, "Alice", "entrepreneur")
        page = phone.page
        announcer = page.locator("#live-announcer")
        console("phase", {"phase": "moi_aussi"})
        expect(announcer).to_contain_text("Moi aussi Lisez les impossibles")
        page.wait_for_timeout(5500)
        console("lock", {"locked": "1"})
        expect(announcer).to_contain_text("Tableau verrouillé")
        texts = [text for text, _at in page.evaluate("window.__announced")]
        assert len(texts) == 2, texts
        test_browser.assert_no_errors(phone)
    finally:
        facilitator.close()
        phone.close()
