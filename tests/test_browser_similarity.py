"""« Ça ressemble à… » on a phone (390×844) in Chromium, against daphne.

Alice's card is on the board before the phone opens it. The phone types the
same impossible in other words: « Publier » shows Alice's card; « Moi aussi,
c'est le même » adds one « moi aussi » to it, live, and posts nothing; the
next paraphrase, published anyway, becomes a card of its own.
"""

from __future__ import annotations

import pytest

from tests import servers
from tests.test_browser import LIVE_MS, Phone, browser  # noqa: F401 (fixture)

# The suggestions' screen: the same on any backend (the engine on PostgreSQL is
# tests/test_similarity_posting.py's, run on both).
pytestmark = [pytest.mark.browser, pytest.mark.once]

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier

PHONE = {"width": 390, "height": 844}
WELDERS = "Impossible de recruter des soudeurs"
PARAPHRASE = "On ne trouve pas de soudeurs qualifiés"
ANOTHER = "Pénurie de soudeurs dans le Cognaçais"


@pytest.fixture
def welders(live_atelier):
    """Alice's card, posted (and its features computed) before the browser starts."""
    from boards.models import ImpossibleFeatures
    from boards.services import participation

    alice = participation.join_atelier(live_atelier, name="Alice", organisation="", role="entrepreneur")
    impossible = participation.post_impossible(
        alice, statement=WELDERS, category="recrutement", anonymous=True, submission_key="alice-1"
    )
    # The service's own hook computed them when the post committed.
    assert ImpossibleFeatures.objects.filter(impossible=impossible).exists()
    return impossible.pk


def _assert_accessible(page) -> None:
    """axe-core on the page as it is now: no critical or serious violation."""
    from axe_playwright_python.sync_playwright import Axe

    from tests.test_browser_accessibility import AXE_OPTIONS, BLOCKING

    violations = Axe().run(page, options=AXE_OPTIONS).response["violations"]
    blocking = [
        (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in violations if v["impact"] in BLOCKING
    ]
    assert not blocking, blocking


def _type(phone: Phone, statement: str, details: str = "") -> None:
    page = phone.page
    if not page.locator("#post-form").is_visible():
        page.locator("details:has(#post-form) > summary").click()
    form = page.locator("#post-form")
    form.locator("[name=statement]").fill(statement)
    form.locator("[name=category]").select_option("recrutement")
    if details:
        form.locator("[name=details]").fill(details)
    form.locator("button[type=submit]").click()


def test_a_phone_is_shown_the_same_impossible_and_says_moi_aussi_instead_of_posting(
    request,
    daphne_server,
    live_atelier,
    welders,
    browser,  # noqa: F811 (the fixture)
):
    from playwright.sync_api import expect

    code = live_atelier.code
    phone = Phone(browser, daphne_server, "S", PHONE)
    try:
        phone.join(code, "Bruno", "elu")
        page = phone.page
        cards = page.locator("#impossible-list .card")
        expect(cards).to_have_count(1)
        count = page.locator(f"#imp-{welders}-metoo")
        expect(count).to_have_text("0")

        _type(phone, PARAPHRASE, details="Trois postes ouverts depuis un an")
        suggestions = page.locator("#post-suggestions")
        expect(suggestions.get_by_role("heading", name="Ça ressemble à…")).to_be_visible()
        expect(suggestions.locator(".suggestion")).to_have_count(1)
        expect(suggestions.locator(".suggestion-statement")).to_have_text(WELDERS)
        # Alice posted it without her name: the suggestion does not tell.
        assert "Alice" not in suggestions.inner_text()
        expect(suggestions.get_by_role("heading", name="Ça ressemble à…")).to_be_focused()
        phone.screenshot("similar-suggestions")
        _assert_accessible(page)

        suggestions.locator(f"#add-details-{welders}").check()
        suggestions.get_by_role("button", name="Moi aussi, c'est le même").click()

        expect(page.locator("#post-form .success")).to_be_visible()
        expect(count).to_have_text("1", timeout=LIVE_MS)  # pushed over the WebSocket
        expect(page.locator(f"#imp-{welders} .metoo-btn")).to_have_attribute("aria-pressed", "true")
        expect(page.locator(f"#imp-{welders}-precisions .precision-text")).to_have_text(
            "Trois postes ouverts depuis un an"
        )
        expect(cards).to_have_count(1)  # no duplicate card
        phone.assert_not_reloaded()

        # The other branch: « Non, le mien est différent — publier ».
        _type(phone, ANOTHER)
        expect(page.locator("#post-suggestions .suggestion")).to_have_count(1)
        page.get_by_role("button", name="Non, le mien est différent — publier").click()
        expect(page.locator("#post-form .success")).to_be_visible()
        expect(page.locator("#post-form [name=statement]")).to_have_value("")
        expect(cards).to_have_count(2, timeout=LIVE_MS)
        expect(phone.card(ANOTHER)).to_have_count(1)
        expect(count).to_have_text("1")
        phone.assert_not_reloaded()
        phone.screenshot("similar-published")
        assert not phone.errors, phone.errors
    finally:
        phone.close()
