"""The observatoire's pages in Chromium, in French and in English: axe-core
finds no critical or serious violation (the public pages, on a phone and a
laptop, and the curation pages), and the map and the trend chart read
without JavaScript or colour. The demo season is committed once for the
module (the daphne server reads it) and deleted after."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tests import scene, servers

if TYPE_CHECKING:
    from collections.abc import Iterator

# Public pages read the same on any backend (their figures are tested on both).
pytestmark = [pytest.mark.browser, pytest.mark.once]

django_db_setup = scene.django_db_setup
daphne_server = servers.daphne_server
chromium = scene.chromium
AXE_OPTIONS = {"resultTypes": ["violations"], "rules": {"label-content-name-mismatch": {"enabled": True}}}
BLOCKING = ("critical", "serious")


@dataclass(frozen=True)
class Season:
    theme_slug: str
    theme_id: int
    curator_session: str


@pytest.fixture(scope="module")
def evening(django_db_setup, django_db_blocker) -> Iterator[Season]:
    """The demo season (named `evening` for scene.chromium, which starts once it is committed)."""
    from django.contrib.auth.models import Group, User

    from boards.models import Theme
    from boards.observatoire import demo
    from boards.observatoire.models import CURATORS_GROUP, Figure

    with django_db_blocker.unblock():
        user = User.objects.create_user("season-curator", first_name="Nadia", last_name="Observatoire")
        user.groups.add(Group.objects.get(name=CURATORS_GROUP))
        demo.load(user)
        theme = Theme.objects.order_by("name").first()
        built = Season(theme.slug, theme.pk, scene._user_session(user))
    try:
        yield built
    finally:
        with django_db_blocker.unblock():
            demo.delete()
            Figure.objects.all().delete()
            User.objects.filter(pk=user.pk).delete()


PAGES = [
    ("observatoire", lambda s: "/observatoire/", scene.PHONE, False),
    ("observatoire-laptop", lambda s: "/observatoire/?quarter=2026-T4&role=entrepreneur", scene.LAPTOP, False),
    ("region", lambda s: "/observatoire/region/75/", scene.PHONE, False),
    ("departement", lambda s: "/observatoire/departement/16/", scene.PHONE, False),
    ("theme", lambda s: f"/observatoire/theme/{s.theme_slug}/", scene.LAPTOP, False),
    ("curation", lambda s: "/observatoire/themes/", scene.LAPTOP, True),
    ("curation-theme", lambda s: f"/observatoire/themes/{s.theme_id}/", scene.LAPTOP, True),
    # A Charente atelier of the second quarter: « comparé au département » and « Où en est-on ? ».
    ("plan-panels", lambda s: "/a/SZN013/plan/", scene.LAPTOP, True),
]


@pytest.mark.parametrize("language", scene.LANGUAGES)
@pytest.mark.parametrize("page", PAGES, ids=[page[0] for page in PAGES])
def test_axe_finds_no_critical_or_serious_violation(chromium, daphne_server, evening, page, language):
    from axe_playwright_python.sync_playwright import Axe

    name, path, viewport, curator = page
    session = evening.curator_session if curator else ""
    context = scene.new_context(chromium, daphne_server, language, viewport, session=session)
    try:
        tab = context.new_page()
        response = tab.goto(daphne_server.url + path(evening))
        assert response is not None and response.status == 200, name
        assert tab.evaluate("document.documentElement.lang") == language
        violations = Axe().run(tab, options=AXE_OPTIONS).response["violations"]
        summary = [
            {"rule": v["id"], "impact": v["impact"], "targets": [n["target"] for n in v["nodes"]][:5]}
            for v in violations
        ]
        print(f"\n[axe {name} {language}] {json.dumps(summary, ensure_ascii=False)}")
        if name == "plan-panels":
            assert tab.locator(".compare-panel").count() == 1
            assert tab.locator(".follow-up-import input[name=actions]").count() >= 1
        if name in ("observatoire-laptop", "theme", "plan-panels"):
            scene.screenshot(tab, f"observatoire-{name}-{language}")
        blocking = [v for v in summary if v["impact"] in BLOCKING]
        assert not blocking, json.dumps(blocking, ensure_ascii=False, indent=1)
    finally:
        context.close()


def test_the_map_and_the_chart_need_no_javascript(chromium, daphne_server, evening):
    context = scene.new_context(chromium, daphne_server, "fr", scene.LAPTOP, java_script_enabled=False)
    try:
        tab = context.new_page()
        tab.goto(daphne_server.url + "/observatoire/")
        coloured = tab.locator("svg.map path[data-value]")
        assert coloured.count() >= 3
        tab.goto(daphne_server.url + f"/observatoire/theme/{evening.theme_slug}/")
        assert tab.locator("svg.trend rect").count() >= 1
        # Every bar says its value in words, beside its colour.
        assert tab.locator("svg.trend text").count() == 2 * tab.locator("svg.trend rect").count()
    finally:
        context.close()
