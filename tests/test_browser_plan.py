"""From board to plan, in Chromium against a real daphne process.

The facilitator moves the room to the plan phase from the console, turns
Bruno's impossible into an action (pilot, accepted offer, due date) through
the form; a participant's phone sees the action appear on the card without
a reload. The facilitator downloads the PDF and the XLSX from the plan page
(both read back), publishes the plan's public link, which the phone opens;
the pilot opens their follow-up link in their own browser and marks the
action done: the facilitator's plan page and the public page follow live.

As in test_browser.py, no Django ORM call runs while Playwright's sync API
does: everything the test needs is committed before the browser starts.
"""

from __future__ import annotations

import io
import re

import pytest

from tests import servers, test_browser
from tests.test_browser_facilitation import Screen

pytestmark = pytest.mark.browser

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier
visitors = servers.visitors
browser = test_browser.browser

LIVE_MS = test_browser.LIVE_MS
ARTIFACTS = test_browser.ARTIFACTS
TITLE = "Réunir les soudeurs retraités « prêts à transmettre » — 1 000 € de prime"


@pytest.fixture
def facilitator_account(live_atelier) -> servers.Account:
    return servers.create_facilitator(live_atelier, "camille-plan")


def _download(page, selector: str) -> bytes:
    with page.expect_download() as info:
        page.locator(selector).click()
    download = info.value
    assert download.failure() is None, download.failure()
    with open(download.path(), "rb") as file:
        return file.read()


def test_the_room_builds_the_plan_and_a_pilot_follows_it_up(
    daphne_server, live_atelier, facilitator_account, visitors, browser
):
    from openpyxl import load_workbook
    from playwright.sync_api import expect
    from pypdf import PdfReader

    code = live_atelier.code
    server = daphne_server
    bruno = visitors(server, code, "Bruno", "entrepreneur")
    impossible_id = bruno.post_impossible("Impossible de recruter des soudeurs à Cognac")
    chloe = visitors(server, code, "Chloé", "agent")
    chloe.offer_help(impossible_id, "Je connais le lycée professionnel de Barbezieux")

    desk = browser.new_context(viewport={"width": 1366, "height": 900}, locale="fr-FR", accept_downloads=True)
    desk.set_default_timeout(LIVE_MS)
    phone = test_browser.Phone(browser, server, "phone", {"width": 360, "height": 740})
    pilot_browser = test_browser.Phone(browser, server, "pilot", {"width": 390, "height": 800})
    screens: list[Screen] = []
    try:
        console = Screen(desk.new_page(), "console")
        screens.append(console)
        page = console.page
        page.goto(f"{server.url}/a/{code}/console/")
        page.locator("#id_username").fill(facilitator_account.username)
        page.locator("#id_password").fill(facilitator_account.password)
        page.locator("main form button[type=submit]").click()
        expect(page).to_have_url(re.compile(rf"/a/{code}/console/$"))
        expect(page.locator("#live-status")).to_have_attribute("data-state", "online")

        phone.join(code, "Alice", "entrepreneur")
        hand = phone.page
        card = f"#imp-{impossible_id}"

        # 1. The plan phase, from the console; the phone follows.
        page.locator("button.phase-btn[value=plan]").click()
        expect(hand.locator("#atelier-state")).to_have_attribute("data-phase", "plan")

        # 2. Bruno's impossible becomes an action, through the form.
        page.locator(f"#console-imp-{impossible_id}").get_by_role("link", name="Créer une action").click()
        expect(page).to_have_url(re.compile(rf"/console/impossibles/{impossible_id}/actions/new/$"))
        page.locator("#id_title").fill(TITLE)
        page.locator("#id_pilot_participant").select_option(label="Bruno · Bruno SARL")
        page.locator("input[name=helpers]").first.check()
        page.locator("#id_next_step").fill("Appeler le lycée lundi")
        page.locator("#id_due_on").fill("2031-03-31")
        page.locator("main form button[type=submit]").first.click()
        expect(page).to_have_url(re.compile(rf"/a/{code}/console/$"))
        expect(page.locator(f"#console-imp-{impossible_id} .mod-plan")).to_contain_text(TITLE)

        # The phone sees it on the card, live.
        expect(hand.locator(f"{card}-actions")).to_contain_text(TITLE)
        expect(hand.locator(f"{card}-actions")).to_contain_text("Bruno")
        expect(hand.locator(f"{card}-actions")).to_contain_text("31 mars 2031")
        phone.assert_not_reloaded()

        # 3. The plan page: PDF and XLSX downloads, read back.
        plan = Screen(desk.new_page(), "plan")
        screens.append(plan)
        sheet = plan.page
        sheet.goto(f"{server.url}/a/{code}/plan/")
        expect(sheet.locator("#live-status")).to_have_attribute("data-state", "online")
        expect(sheet.locator("main")).to_contain_text(TITLE)

        pdf = _download(sheet, "a[href$='/plan/export/pdf/']")
        assert pdf.startswith(b"%PDF")
        text = "\n".join(page_.extract_text() for page_ in PdfReader(io.BytesIO(pdf)).pages)
        assert "soudeurs retraités" in " ".join(text.split())
        assert "Bruno" in text

        xlsx = _download(sheet, "a[href$='/plan/export/xlsx/']")
        workbook = load_workbook(io.BytesIO(xlsx))
        cells = [cell for row in workbook.worksheets[0].iter_rows(values_only=True) for cell in row]
        assert TITLE in cells

        # 4. The public link, opened on the phone.
        sheet.locator("button[name=op][value=publish]").click()
        share_url = sheet.locator("#share-url")
        expect(share_url).to_have_value(re.compile(r"/plan/[\w-]{20,}/$"))
        hand.goto(share_url.input_value())
        expect(hand.locator("main")).to_contain_text(TITLE)
        expect(hand.locator("#live-status")).to_have_attribute("data-state", "online")

        # 5. The pilot's follow-up link: Bruno marks the action done.
        plan.mark()
        pilot_url = sheet.locator(".pilot-url a").first.get_attribute("href")
        follow = pilot_browser.page
        follow.goto(pilot_url)
        expect(follow.locator("main")).to_contain_text("Bonjour Bruno")
        follow.locator("select[name=status]").first.select_option("fait")
        follow.locator("textarea[name=next_step]").first.fill("Deux soudeurs embauchés")
        follow.locator("main form.follow-up-form button[type=submit]").first.click()
        expect(follow.locator("main")).to_contain_text("Enregistré")

        expect(sheet.locator("main")).to_contain_text("Deux soudeurs embauchés")
        expect(hand.locator("main")).to_contain_text("Deux soudeurs embauchés")
        plan.assert_not_reloaded()

        ARTIFACTS.mkdir(exist_ok=True)
        sheet.screenshot(path=str(ARTIFACTS / "plan.png"), full_page=True)
        hand.screenshot(path=str(ARTIFACTS / "plan-shared-phone.png"), full_page=True)
        follow.screenshot(path=str(ARTIFACTS / "plan-follow-up.png"), full_page=True)

        errors = [f"{screen.label}: {error}" for screen in screens for error in screen.errors]
        errors += [f"phone: {error}" for error in phone.errors] + [f"pilot: {error}" for error in pilot_browser.errors]
        assert not errors, "\n".join(errors)
    finally:
        print(server.log_tail(3000))
        pilot_browser.close()
        phone.close()
        desk.close()
