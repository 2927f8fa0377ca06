"""Under `make run` (DEBUG on), a link revoked while its page is open says so
with the site's own banner, as in production (Chromium).

django-htmx adds a debug error handler in DEBUG that replaces the whole page
with any 400/403/404/500 answer to an htmx request; the site's 403 and 404
are answers it explains itself, so board.js keeps them from that handler.
"""

from __future__ import annotations

import pytest

from tests import servers, test_browser, test_browser_outbox

# The page's own banner: the same on any backend.
pytestmark = [pytest.mark.browser, pytest.mark.once]

live_atelier = servers.live_atelier
browser = test_browser.browser

LIVE_MS = test_browser.LIVE_MS
MARKER = test_browser.MARKER


@pytest.fixture(scope="module")
def debug_server(django_db_setup, tmp_path_factory):
    """One daphne process with DJANGO_DEBUG=1, as `make run` serves."""
    env = {**servers.server_environment(), "DJANGO_DEBUG": "1"}
    with servers.running_servers(1, tmp_path_factory.mktemp("daphne-debug"), env=env) as (server,):
        yield server


@pytest.fixture
def shared(live_atelier):
    from boards.services import plan

    account = servers.create_facilitator(live_atelier, "sacha")
    return live_atelier.code, plan.publish_plan(live_atelier.pk), account


def test_a_revoked_public_link_shows_the_sites_banner_in_debug_mode(debug_server, shared, browser):
    from playwright.sync_api import expect

    code, token, account = shared
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fr-FR")
    context.set_default_timeout(LIVE_MS)
    try:
        page = context.new_page()
        page.goto(f"{debug_server.url}/plan/{token}/")
        # The debug error handler is on this page: the test is about it.
        assert page.locator("script[src*='django-htmx']").count() == 1
        expect(page.locator("#live-status")).to_have_attribute("data-state", "online")
        page.evaluate(f"window.{MARKER} = 'plan'")

        facilitator = test_browser_outbox.facilitator_client(debug_server, account)
        try:
            response = facilitator.post(
                f"{debug_server.url}/a/{code}/plan/share/",
                data={"csrfmiddlewaretoken": facilitator.cookies.get("csrftoken"), "op": "revoke"},
                headers={"Referer": debug_server.url + "/"},
            )
            assert response.status_code == 302, response.text[:2000]
        finally:
            facilitator.close()

        # The page refreshes its panels, gets the 404, and says why.
        expect(page.locator("#link-gone")).to_be_visible()
        expect(page.locator("#link-gone")).to_contain_text("Ce lien ne fonctionne plus")
        # Still the same page: not replaced by the answer.
        assert page.evaluate(f"window.{MARKER}") == "plan"
        expect(page.locator("#plan-panels")).to_have_count(1)
        assert "Page not found" not in page.content()

        # A refresh asked again (another push) changes nothing either.
        page.evaluate("htmx.trigger(document.body, 'cerveau:refresh')")
        page.wait_for_timeout(2500)
        assert page.evaluate(f"window.{MARKER}") == "plan"
        expect(page.locator("#link-gone")).to_be_visible()
    finally:
        context.close()
