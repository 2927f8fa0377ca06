"""« Vos impossibles », where an author finds the help offered to them, follows live (Chromium)."""

from __future__ import annotations

import re

import pytest

from tests import servers, test_browser

pytestmark = pytest.mark.browser

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier
visitors = servers.visitors
browser = test_browser.browser

STATEMENT = "Impossible de trouver un apprenti boulanger à Segonzac"


def test_the_authors_list_appears_and_counts_offers_without_a_reload(daphne_server, live_atelier, visitors, browser):
    from playwright.sync_api import expect

    code = live_atelier.code
    bruno = visitors(daphne_server, code, "Bruno", "elu")
    phone = test_browser.Phone(browser, daphne_server, "A", {"width": 390, "height": 844})
    try:
        phone.join(code, "Alice", "entrepreneur")
        page = phone.page
        mine = page.locator("#mine")
        expect(mine).to_be_hidden()

        phone.post_impossible(STATEMENT)
        expect(mine).to_be_visible()
        expect(mine.locator("li")).to_have_count(1)
        expect(mine.locator("li")).to_contain_text(STATEMENT)
        expect(mine.locator("li")).to_contain_text(re.compile(r"\b0 offres? d'aide"))
        card_id = phone.card(STATEMENT).get_attribute("id")
        impossible_id = int(re.fullmatch(r"imp-(\d+)", card_id).group(1))

        bruno.offer_help(impossible_id, "Mon neveu cherche un apprentissage")
        expect(mine.locator("li")).to_contain_text("1 offre d'aide")
        bruno.offer_help(impossible_id, "La chambre des métiers a une liste")
        expect(mine.locator("li")).to_contain_text("2 offres d'aide")
        # Someone else's impossible does not make the list fetch itself again.
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        other = bruno.post_impossible("Impossible de recruter un chauffeur poids lourd")
        bruno.offer_help(other, "Pôle emploi organise un job dating")
        expect(page.locator(f"#imp-{other}-offers")).to_have_attribute("data-count", "1")
        page.wait_for_timeout(500)
        assert not [url for url in requests if "/impossibles/mine/" in url], requests
        phone.assert_not_reloaded()
        test_browser.assert_no_errors(phone)
    finally:
        phone.close()
