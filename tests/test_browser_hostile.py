"""Hostile text in Chromium: three phones post every payload of
tests/test_hostile_text.py, and watch each other's arrive live, as does the
projector.

Nothing runs (`window.__xss` stays undefined, no dialog opens), no request
leaves for an address the page did not mean, htmx obeys none of the
attributes typed in, every text is shown as typed, and a 360-pixel phone
never scrolls sideways, even for a 280-character word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlparse

import pytest

from tests import servers
from tests.test_browser import ARTIFACTS, LIVE_MS, PageErrors, Phone, browser, publish  # noqa: F401 (fixture)
from tests.test_hostile_text import PAYLOADS, fit

pytestmark = [pytest.mark.browser, pytest.mark.once]

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier

NAME_MAX = 60
# What a payload could have slipped into the page, were it markup.
INJECTED = (
    "img, iframe, template, math, style, base, meta[http-equiv], object, embed,"
    " [onerror], [onload], [onfocus], [onmouseover], [srcdoc], [data-hx-get], [data-hx-trigger],"
    " [hx-get^='/__evil__'], [hx-post^='/__evil__'], [hx-trigger='load']"
)
EXACT_TEXT = """([selector, text]) => [...document.querySelectorAll(selector)].some((e) => e.textContent === text)"""


@dataclass
class Watch:
    """What a page did that it should not have: dialogs and foreign requests."""

    origin: str
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def attach(self, page) -> None:
        def dialog(d) -> None:
            self.dialogs.append(f"{d.type}: {d.message}")
            d.dismiss()

        page.on("dialog", dialog)
        page.on("request", lambda request: self.requests.append(request.url))

    def unexpected_requests(self) -> list[str]:
        host = urlparse(self.origin).netloc
        bad = []
        for url in self.requests:
            parsed = urlparse(url)
            if (
                parsed.netloc != host
                or parsed.scheme not in {"http", "ws"}
                or "evil" in url
                or re.search(r"/x$", parsed.path)
            ):
                bad.append(url)
        return bad


@pytest.fixture
def account(live_atelier):
    """Created before the browser starts (the ORM refuses to run beside it)."""
    return servers.create_facilitator(live_atelier)


def _post(phone: Phone, statement: str, details: str) -> tuple[str, str]:
    """Type an impossible and publish it; return the texts as the browser sent them."""
    from playwright.sync_api import expect

    page = phone.page
    form = page.locator("#post-form")
    if not form.is_visible():
        page.locator("details:has(#post-form) > summary").click()
    form.locator("[name=statement]").fill(statement)
    form.locator("[name=details]").fill(details)
    form.locator("[name=category]").select_option("recrutement")
    typed = (form.locator("[name=statement]").input_value(), form.locator("[name=details]").input_value())
    publish(page, form.locator("button[type=submit]"))
    expect(page.locator("#post-form .success")).to_be_visible()
    expect(page.locator("#post-form [name=statement]")).to_have_value("")
    # The server strips the ends, as any form does.
    return typed[0].strip(), typed[1].strip()


def _offer(phone: Phone, card_id: str, message: str) -> str:
    from playwright.sync_api import expect

    page = phone.page
    page.locator(f"#{card_id} .btn-help").click()
    form = page.locator(f"#{card_id}-help form")
    form.locator("input[name=kind][value=expertise]").check()
    form.locator("[name=message]").fill(message)
    typed = form.locator("[name=message]").input_value()
    form.locator("button[type=submit]").click()
    expect(page.locator(f"#{card_id}-help .success")).to_be_visible()
    return typed.strip()


def _wait_for_text(page, selector: str, text: str) -> None:
    page.wait_for_function(EXACT_TEXT, arg=[selector, text], timeout=LIVE_MS)


def _card_id(page, statement: str) -> str:
    return page.evaluate(
        """(text) => [...document.querySelectorAll('#impossible-list .card')]
            .find((card) => card.querySelector('.statement a').textContent === text).id""",
        statement,
    )


def _assert_inert(page, label: str, watch: Watch, scope: str) -> None:
    assert page.evaluate("typeof window.__xss") == "undefined", f"a payload ran on {label}"
    assert watch.dialogs == [], f"{label} opened {watch.dialogs}"
    assert watch.unexpected_requests() == [], f"{label} requested {watch.unexpected_requests()}"
    injected = page.evaluate(
        "([scope, selector]) => [...document.querySelectorAll(scope)].flatMap("
        "(root) => [...root.querySelectorAll(selector)].map((e) => e.outerHTML.slice(0, 120)))",
        [scope, INJECTED],
    )
    assert injected == [], f"{label}: elements from user text: {injected}"
    for version in page.locator("#live-version").evaluate_all("(all) => all.map((e) => e.dataset.version)"):
        assert int(version) < 999_999, f"{label}: the version marker was replaced"
    # A page just loaded is still connecting: its socket must come online, not stay down.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#live-status')].every((e) => e.dataset.state === 'online')",
        timeout=LIVE_MS,
    )


def _assert_fits(page, label: str) -> None:
    """Nothing wider than the screen: no sideways scroll, no text cut off."""
    width = page.viewport_size["width"]
    too_wide = page.evaluate(
        """(width) => {
            // Past the edge of a scrolling strip (the category chips) is the design;
            // past the edge of a box that hides its overflow is text cut off.
            const limit = (e) => {
                for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
                    const overflow = getComputedStyle(p).overflowX;
                    if (overflow === 'auto' || overflow === 'scroll') return Infinity;
                    if (overflow !== 'visible') return Math.min(width, p.getBoundingClientRect().right);
                }
                return width;
            };
            const shown = (e) => e.getClientRects().length && !e.closest('.visually-hidden, [hidden]');
            return [...document.querySelectorAll('body *')]
                .filter((e) => shown(e) && e.getBoundingClientRect().right > limit(e) + 0.5)
                .map((e) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`
                    + ` ${(e.textContent || '').trim().slice(0, 30)}`)
                .slice(0, 12);
        }""",
        width,
    )
    assert too_wide == [], f"{label} ({width} px): wider than the screen: {too_wide}"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{label} ({width} px) scrolls sideways by {overflow} px"


def _assert_no_sideways_scroll(phone: Phone) -> None:
    page = phone.page
    width = page.viewport_size["width"]
    _assert_fits(page, f"phone {phone.label}")
    for box in page.locator("#impossible-list .card").evaluate_all(
        "(cards) => cards.map((c) => c.getBoundingClientRect().width)"
    ):
        assert box <= width


def test_hostile_texts_arrive_live_as_plain_text(request, daphne_server, live_atelier, account, browser):  # noqa: F811
    from playwright.sync_api import expect

    server = daphne_server
    code = live_atelier.code  # read now: no ORM once the browser runs
    texts = list(PAYLOADS.values())
    names = ["img-onerror", "hx-get", "attribute-break"]
    phones = [
        Phone(browser, server, "A", {"width": 360, "height": 740}),
        Phone(browser, server, "B", {"width": 412, "height": 915}),
        Phone(browser, server, "C", {"width": 360, "height": 640}),
    ]
    desk = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="fr-FR")
    desk.set_default_timeout(LIVE_MS)
    watches: dict[str, Watch] = {}
    try:
        wall = desk.new_page()
        walls = PageErrors()
        walls.watch(wall)
        wall.goto(f"{server.url}/a/{code}/projector/")
        wall.locator("#id_username").fill(account.username)
        wall.locator("#id_password").fill(account.password)
        wall.locator("main form button[type=submit]").click()
        expect(wall).to_have_url(re.compile(rf"/a/{code}/projector/$"))
        expect(wall.locator("#live-status")).to_have_attribute("data-state", "online")
        watches["projector"] = Watch(server.url)
        watches["projector"].attach(wall)

        for phone, name in zip(phones, names, strict=True):
            watches[phone.label] = Watch(server.url)
            watches[phone.label].attach(phone.page)
            # The display name is a payload too: it comes with every card.
            phone.join(code, fit(PAYLOADS[name], NAME_MAX), "entrepreneur")

        # Two payloads per impossible (statement, details): a phone posts eight.
        pairs = [(texts[k], texts[k + 1] if k + 1 < len(texts) else "") for k in range(0, len(texts), 2)]
        pairs = [(b, a) if b == PAYLOADS["long-word"] else (a, b) for a, b in pairs]
        posted: list[tuple[str, str]] = []
        for k, (statement, details) in enumerate(pairs):
            poster = phones[k % len(phones)]
            statement, details = _post(poster, statement, details)
            posted.append((statement, details))
            for phone in phones:
                _wait_for_text(phone.page, "#impossible-list .card .statement a", statement)
            # The projector ranks by « moi aussi », newest first: the new one is on it.
            _wait_for_text(wall, ".p-ranking .p-statement", statement)

        # Phone B offers help with payloads on cards posted by A and C.
        offers = []
        for n, (statement, _details) in enumerate(posted[:8]):
            card_id = _card_id(phones[1].page, statement)
            offers.append((card_id, _offer(phones[1], card_id, texts[-1 - n])))
        for card_id, message in offers:
            for phone in phones:
                _wait_for_text(phone.page, f"#{card_id}-offers .offer-message", message)

        for phone in phones:
            page = phone.page
            for statement, details in posted:
                card_id = _card_id(page, statement)
                card = page.locator(f"#{card_id}")
                expect(card.locator(".statement")).to_be_visible()
                if details:
                    assert card.locator(".details p").text_content() == details, (phone.label, details)
            bylines = page.locator("#impossible-list .byline").all_text_contents()
            for name in names:
                assert any(fit(PAYLOADS[name], NAME_MAX) in byline for byline in bylines), (phone.label, name)
            _assert_inert(page, f"phone {phone.label}", watches[phone.label], "#impossible-list")
            phone.assert_not_reloaded()
            _assert_no_sideways_scroll(phone)
        _assert_inert(wall, "the projector", watches["projector"], "#projector")
        _assert_fits(wall, "the projector")

        # The 280-character word on the projector's spotlight, large.
        long_word = next(text for text, _ in posted if text == PAYLOADS["long-word"])
        long_id = _card_id(phones[0].page, long_word).removeprefix("imp-")
        console = desk.new_page()
        watches["console"] = Watch(server.url)
        watches["console"].attach(console)
        console.goto(f"{server.url}/a/{code}/console/")
        console.locator(f"#console-imp-{long_id} button[name=impossible][value='{long_id}']").click()
        _wait_for_text(wall, ".p-spotlight-statement", long_word)
        for size in ({"width": 1920, "height": 1080}, {"width": 1280, "height": 720}, {"width": 1024, "height": 768}):
            wall.set_viewport_size(size)
            _assert_fits(wall, "the projector")
        _assert_inert(console, "the console", watches["console"], "main")
        console.set_viewport_size({"width": 1024, "height": 768})
        _assert_fits(console, "the console")

        # The facilitators' own texts, as long: title, venue, territory, timer label.
        word = PAYLOADS["long-word"]
        console.goto(f"{server.url}/a/{code}/console/settings/")
        for name, value in (("title", word[:200]), ("venue", word[:200]), ("territory", word[:200])):
            console.locator(f"#id_{name}").fill(value)
        console.locator("main form.stack button[type=submit]").first.click()
        expect(console).to_have_url(re.compile(rf"/a/{code}/console/$"))
        console.locator(".timer-form [name=minutes]").fill("5")
        console.locator(".timer-form [name=label]").fill(word[:120])
        console.locator(".timer-form button[type=submit]").click()
        _wait_for_text(wall, ".p-timer .timer-label", word[:120])
        for size in ({"width": 1280, "height": 720}, {"width": 1920, "height": 1080}):
            wall.set_viewport_size(size)
            _assert_fits(wall, "the projector")
        for phone in phones:
            _wait_for_text(phone.page, "#atelier-state .timer-label", word[:120])
            _assert_fits(phone.page, f"phone {phone.label} with the timer")
        for path in (f"/a/{code}/console/", "/facilitate/", f"/a/{code}/console/settings/"):
            console.goto(server.url + path)
            _assert_fits(console, f"the facilitator's {path}")

        # Pages as loaded, not pushed: the board with « Vos impossibles », an
        # impossible with its offers, the offer form, the join page.
        phone = phones[0]
        for path in (
            f"/a/{code}/",
            f"/a/{code}/impossibles/{long_id}/",
            f"/a/{code}/impossibles/{long_id}/offers/",
            f"/a/{code}/me/",
            "/",
        ):
            phone.page.goto(server.url + path)
            expect(phone.page.locator("main")).to_be_visible()
            _assert_inert(phone.page, f"phone A on {path}", watches["A"], "main")
            _assert_fits(phone.page, f"phone A on {path}")

        errors = [f"phone {phone.label}: {error}" for phone in phones for error in phone.errors]
        errors += [f"projector: {error}" for error in walls.errors]
        assert not errors, "\n".join(errors)
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        for phone in phones:
            try:
                phone.screenshot(request.node.name)
            finally:
                phone.close()
        try:
            for page, screen in zip(desk.pages, ("projector", "console"), strict=False):
                page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{screen}.png"))
        finally:
            desk.close()


def test_a_phone_posting_too_fast_is_told_why_and_keeps_its_text(request, daphne_server, live_atelier, browser):  # noqa: F811
    from playwright.sync_api import expect

    from boards.ratelimit import DEFAULT_LIMITS, TOO_MANY_IMPOSSIBLES

    phone = Phone(browser, daphne_server, "A", {"width": 360, "height": 740})
    try:
        phone.join(live_atelier.code, "Alice", "entrepreneur")
        for n in range(DEFAULT_LIMITS["impossible"].count):
            _post(phone, f"Impossible n° {n} de recruter des soudeurs", "")
        page = phone.page
        form = page.locator("#post-form")
        form.locator("[name=statement]").fill("Un de trop")
        form.locator("[name=category]").select_option("recrutement")
        form.locator("button[type=submit]").click()

        expect(page.locator("#toast")).to_have_text(str(TOO_MANY_IMPOSSIBLES))
        expect(page.locator("#toast")).to_be_visible()
        # Nothing swapped: what was typed is still there, to publish later.
        expect(form.locator("[name=statement]")).to_have_value("Un de trop")
        expect(page.locator("#impossible-list .card")).to_have_count(DEFAULT_LIMITS["impossible"].count)
        phone.assert_not_reloaded()
        # The refusal is the only error the page saw.
        assert [error for error in phone.errors if "429" not in error] == []
    finally:
        phone.screenshot(request.node.name)
        phone.close()
