"""The phone's small frictions, in Chromium (390×844) against a real daphne.

After « Publier » or « Envoyer ma proposition » the confirmation shows where
the eye is (next to the button, on screen), takes the focus and is announced
(role="status"). These tests write: each posts on its own atelier of the
evening (the English ones), which no other test of this module reads.
"""

from __future__ import annotations

import pytest

from tests import scene, servers

pytestmark = [pytest.mark.browser, pytest.mark.once]

django_db_setup = scene.django_db_setup
daphne_server = servers.daphne_server
evening = scene.evening
chromium = scene.chromium

IN_VIEW = """(el) => { const box = el.getBoundingClientRect();
  return {top: box.top, bottom: box.bottom, focused: document.activeElement === el, role: el.getAttribute('role')}; }"""


def open_board(chromium, server, atelier: scene.Atelier):
    context = scene.new_context(
        chromium, server, "fr", scene.PHONE, session=atelier.sessions["bruno"], is_mobile=True, has_touch=True
    )
    tab = context.new_page()
    tab.goto(f"{server.url}/a/{atelier.code}/")
    from playwright.sync_api import expect

    expect(tab.locator("#live-status")).to_have_attribute("data-state", "online")
    return context, tab


def assert_shown_where_the_eye_is(message, button_top: float, within: float) -> None:
    """On screen, focused, announced, and at most `within` px from the button just tapped."""
    seen = message.evaluate(IN_VIEW)
    assert seen["role"] == "status" and seen["focused"], seen
    assert seen["top"] >= 0 and seen["bottom"] <= scene.PHONE["height"], seen
    assert abs(seen["top"] - button_top) < within, (seen, button_top)


def test_the_confirmation_of_a_post_is_next_to_the_button_and_announced(chromium, daphne_server, evening):
    from playwright.sync_api import expect

    context, tab = open_board(chromium, daphne_server, evening.live["en"])
    try:
        if not tab.locator("#post-form").is_visible():
            tab.locator("details:has(#post-form) > summary").click()
        form = tab.locator("#post-form")
        form.locator("[name=statement]").fill("Impossible de trouver un expert-comptable qui parle japonais")
        form.locator("[name=category]").select_option("marche")
        form.locator("[name=details]").fill("Pour exporter du cognac à Osaka.\n" * 6)
        button = form.locator("button[type=submit]")
        button.scroll_into_view_if_needed()
        button_top = button.evaluate("(el) => el.getBoundingClientRect().top")
        button.click()
        message = tab.locator("#post-form .success")
        expect(message).to_be_visible()
        expect(message).to_be_focused()
        # Right above the button, which stays where it was.
        assert_shown_where_the_eye_is(message, button_top, within=100)
    finally:
        context.close()


def test_the_thanks_for_an_offer_is_where_the_form_was_and_announced(chromium, daphne_server, evening):
    from playwright.sync_api import expect

    atelier = evening.live["en"]
    context, tab = open_board(chromium, daphne_server, atelier)
    try:
        card = tab.locator(f"#imp-{atelier.impossible_ids['anonymous']}")
        card.locator(".btn-help").click()
        form = card.locator(".help-slot form")
        form.locator("input[name=kind]").first.check()
        form.locator("[name=message]").fill("Je connais une traductrice à Cognac")
        button = form.locator("button[type=submit]")
        button.scroll_into_view_if_needed()
        button_top = button.evaluate("(el) => el.getBoundingClientRect().top")
        button.click()
        message = card.locator(".help-slot .success")
        expect(message).to_be_visible()
        expect(message).to_be_focused()
        # The form folds into the thanks: on screen where the form began.
        assert_shown_where_the_eye_is(message, button_top, within=scene.PHONE["height"] / 2)
    finally:
        context.close()
