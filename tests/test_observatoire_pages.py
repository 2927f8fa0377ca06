"""The observatoire's public pages: the ranking of themes, the map and its
table, the filters (a GET form), the pages per territory and per theme, «
levé ailleurs », and a query count that does not grow with the data."""

from __future__ import annotations

import re
import secrets
import xml.etree.ElementTree as ET

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from boards.models import ActionStatus, Atelier, Category, Participant, Pilot, Reach, Role
from tests import observatoire_season as season

pytestmark = pytest.mark.django_db
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def client():
    return Client(HTTP_ACCEPT_LANGUAGE="fr")


@pytest.fixture
def welders():
    welders = season.theme("Recruter des soudeurs")
    season.big_season(welders)
    return welders


def _main(response) -> str:
    html = response.content.decode()
    return html[html.index("<main") :]


def test_themes_are_ranked_by_ateliers_then_me_too(client, welders):
    premises = season.theme("Trouver un local", category=Category.PREMISES)
    for insee in season.COMMUNES["16"] + season.COMMUNES["33"][:1]:
        season.room(season.atelier(insee), people=2, theme=premises, category=Category.PREMISES)
    loans = season.theme("Obtenir un prêt", category=Category.FUNDING)
    for insee in season.COMMUNES["16"] + season.COMMUNES["33"][:1]:
        season.room(season.atelier(insee), people=4, theme=loans, category=Category.FUNDING)
    season.compute()

    html = _main(client.get("/observatoire/"))

    order = [html.index(name) for name in ("Recruter des soudeurs", "Obtenir un prêt", "Trouver un local")]
    assert order == sorted(order)


def test_the_ranking_shows_the_share_that_became_an_action_and_the_lifting_rate(client, welders):
    season.compute()

    row = re.search(
        r"<tr>\s*<th scope=\"row\"><a href=\"/observatoire/theme/recruter-des-soudeurs/\">.*?</tr>",
        _main(client.get("/observatoire/")),
        re.S,
    ).group(0)

    cells = re.findall(r'<td class="number">(.*?)</td>', row)
    assert cells == ["9", "9", "18", "100\u202f%", "50\u202f%"]


def test_the_map_says_what_its_table_says(client, welders):
    season.compute()

    html = _main(client.get("/observatoire/"))

    svg = ET.fromstring(re.search(r"<svg.*?</svg>", html, re.S).group(0))
    on_map = {p.get("data-code"): p.get("data-value") for p in svg.iter(f"{SVG}path") if p.get("data-value")}
    in_table = dict(re.findall(r'<td class="number" data-code="([^"]+)">(\d+)</td>', html))
    assert on_map == in_table == {"16": "5", "33": "4"}


def test_filters_narrow_the_figures_and_work_without_javascript(client, welders):
    for insee in season.COMMUNES["16"]:
        season.room(season.atelier(insee, when=season.SPRING), people=3, theme=welders, role=Role.ELECTED)
    season.compute()

    page = _main(client.get("/observatoire/"))
    autumn = _main(client.get("/observatoire/", {"quarter": "2026-T4"}))
    elected = _main(client.get("/observatoire/", {"role": Role.ELECTED}))
    gironde = _main(client.get("/observatoire/", {"departement": "33"}))
    other_region = _main(client.get("/observatoire/", {"region": "52"}))

    assert '<form method="get"' in page
    for name in ("quarter", "region", "departement", "category", "role", "status"):
        assert f'<select name="{name}"' in page
    assert 'data-code="16">10<' in page
    assert 'data-code="16">5<' in autumn
    assert 'data-code="16">5<' in elected and 'data-code="33">sans donnée<' in elected
    assert "/observatoire/theme/recruter-des-soudeurs/" in gironde
    assert "/observatoire/theme/recruter-des-soudeurs/" not in other_region


def test_the_action_status_filter(client, welders):
    quiet = season.theme("Trouver un local", category=Category.PREMISES)
    for insee in season.COMMUNES["16"]:
        season.room(season.atelier(insee), people=3, theme=quiet, category=Category.PREMISES)
    season.compute()

    without = _main(client.get("/observatoire/", {"status": "sans-action"}))
    lifted = _main(client.get("/observatoire/", {"status": "levee"}))

    assert "Trouver un local" in without and "Recruter des soudeurs" not in without
    assert "Recruter des soudeurs" in lifted and "Trouver un local" not in lifted


def test_unknown_filter_values_are_ignored(client, welders):
    season.compute()

    response = client.get("/observatoire/", {"quarter": "1999-T9", "region": "<script>", "role": "roi"})

    assert response.status_code == 200
    assert "<script>" not in _main(response)
    assert "/observatoire/theme/recruter-des-soudeurs/" in _main(response)


def test_a_page_per_region_and_departement(client, welders):
    season.compute()

    region = client.get("/observatoire/region/75/")
    charente = client.get("/observatoire/departement/16/")

    assert region.status_code == charente.status_code == 200
    assert "Nouvelle-Aquitaine" in _main(region) and "16 Charente" in _main(region)
    assert "Charente" in _main(charente) and "recruter-des-soudeurs" in _main(charente)
    assert client.get("/observatoire/region/99/").status_code == 404
    assert client.get("/observatoire/departement/00/").status_code == 404


def test_a_theme_page_with_its_trend_over_quarters(client, welders):
    for insee in season.COMMUNES["16"]:
        season.room(season.atelier(insee, when=season.SPRING), people=3, theme=welders)
    season.compute()

    html = _main(client.get("/observatoire/theme/recruter-des-soudeurs/"))

    chart = ET.fromstring(re.search(r'<svg[^>]*class="trend".*?</svg>', html, re.S).group(0))
    assert chart.get("role") == "img" and chart.get("aria-label")
    texts = [t.text for t in chart.iter(f"{SVG}text")]
    # Every value and quarter is written on the chart: it reads without colour.
    assert texts == ["5", "T2 2026", "9", "T4 2026"]
    assert '<th scope="row">T2 2026</th>' in html


def test_quarters_are_written_as_each_language_writes_them(welders):
    season.compute()

    french = Client(HTTP_ACCEPT_LANGUAGE="fr")
    english = Client(HTTP_ACCEPT_LANGUAGE="en")
    theme = "/observatoire/theme/recruter-des-soudeurs/"

    assert '<th scope="row">T4 2026</th>' in _main(french.get(theme))
    assert '<th scope="row">Q4 2026</th>' in _main(english.get(theme))
    # The filter keeps the quarter's key in the address (and in open data).
    assert '<option value="2026-T4">T4 2026</option>' in _main(french.get("/observatoire/"))
    assert '<option value="2026-T4">Q4 2026</option>' in _main(english.get("/observatoire/"))


def test_only_accepted_themes_have_a_page(client):
    suggested = season.theme("Soudure", accepted=False)

    assert client.get(f"/observatoire/theme/{suggested.slug}/").status_code == 404


def _published(atelier: Atelier) -> None:
    Atelier.objects.filter(pk=atelier.pk).update(share_token=secrets.token_urlsafe(16))


def test_lifted_elsewhere_shows_done_actions_of_published_plans_without_names(client, welders):
    nantes = season.atelier("44109")
    season.room(
        nantes,
        people=3,
        theme=welders,
        reach=Reach.PUBLISHABLE,
        statements=("Pas de soudeurs à Nantes",),
        actions=(ActionStatus.DONE,),
        organisation="Chantiers Secrets",
    )
    _published(nantes)
    unpublished = season.atelier("35238")
    season.room(unpublished, people=3, theme=welders, statements=("Soudeurs rennais",), actions=(ActionStatus.DONE,))
    counted_only = season.atelier("13055")
    season.room(
        counted_only, people=3, theme=welders, statements=("Soudeurs marseillais",), actions=(ActionStatus.DONE,)
    )
    _published(counted_only)
    season.compute()

    charente = _main(client.get("/observatoire/departement/16/"))
    theme = _main(client.get("/observatoire/theme/recruter-des-soudeurs/"))

    for html in (charente, theme):
        assert f"Action fait {nantes.code}" in html and "Pays de la Loire" in html
        assert "Pas de soudeurs à Nantes" in html
        assert f"Action fait {unpublished.code}" not in html
        # A published plan's action, but words its author did not make publishable.
        assert f"Action fait {counted_only.code}" in html and "Soudeurs marseillais" not in html
        for private in ("Chantiers Secrets", "Mairie", "Pilote", "Personne", nantes.title):
            assert private not in html
    # Done in Charente itself: not « ailleurs » on Charente's page.
    assert "Action fait OB" in charente
    codes = set(re.findall(r"Action fait (OB\w+)", charente))
    assert all(Atelier.objects.get(code=code).departement_code != "16" for code in codes)


def _nantes_lifted(welders) -> Atelier:
    nantes = season.atelier("44109")
    season.room(nantes, people=3, theme=welders, statements=("Pas de soudeurs à Nantes",), actions=(ActionStatus.DONE,))
    _published(nantes)
    season.compute()
    return nantes


def _lifted_section(html: str) -> str:
    start = html.index('aria-labelledby="lifted-title"')
    return html[start : html.index("</section>", start)]


LIFTED_PAGES = ("/observatoire/departement/16/", "/observatoire/theme/recruter-des-soudeurs/")


def test_lifted_elsewhere_never_shows_a_pilots_organisation_without_their_consent(client, welders):
    nantes = _nantes_lifted(welders)
    for url in LIFTED_PAGES:
        lifted = _lifted_section(_main(client.get(url)))
        assert f"Action fait {nantes.code}" in lifted
        assert "Mairie" not in lifted and "Pilote" not in lifted


def test_lifted_elsewhere_shows_the_organisation_a_pilot_agreed_to_show_never_their_name(client, welders):
    nantes = _nantes_lifted(welders)
    pilot = Pilot.objects.get(atelier=nantes)
    assert not pilot.show_organisation  # never by default

    assert Client().post(f"/suivi/{pilot.token}/observatoire/", {"show": "1"}).status_code == 302

    for url in LIFTED_PAGES:
        lifted = _lifted_section(_main(client.get(url)))
        assert f"<strong>Action fait {nantes.code}</strong> · Mairie {nantes.code} — Pays de la Loire" in lifted
        assert "Pilote" not in lifted and nantes.title not in lifted
    # The open data are figures only: no organisation, no name, consent or not.
    for url in ("/observatoire/donnees.csv", "/observatoire/donnees.json"):
        data = client.get(url).content.decode()
        assert "Mairie" not in data and "Pilote" not in data

    # Withdrawn: gone at the next page load.
    Client().post(f"/suivi/{pilot.token}/observatoire/", {})
    for url in LIFTED_PAGES:
        assert "Mairie" not in _lifted_section(_main(client.get(url)))


def test_a_participant_pilot_shows_their_own_current_organisation(client, welders):
    nantes = _nantes_lifted(welders)
    member = Participant.objects.filter(atelier=nantes).first()
    Pilot.objects.filter(atelier=nantes).update(participant=member, show_organisation=True)
    Participant.objects.filter(pk=member.pk).update(organisation="Forge Ouverte")
    lifted = _lifted_section(_main(client.get(LIFTED_PAGES[1])))
    assert "· Forge Ouverte —" in lifted
    assert member.name not in lifted and "Mairie" not in lifted


PAGES = [
    "/observatoire/",
    "/observatoire/?quarter=2026-T4&region=75&category=recrutement&role=entrepreneur&status=levee",
    "/observatoire/region/75/",
    "/observatoire/departement/16/",
    "/observatoire/theme/recruter-des-soudeurs/",
    "/observatoire/donnees.csv",
    "/observatoire/donnees.json",
]


def _queries(client) -> dict[str, int]:
    counts = {}
    for url in PAGES:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        counts[url] = len(captured)
    return counts


def test_the_query_count_does_not_grow_with_the_data(client):
    welders = season.theme("Recruter des soudeurs")
    season.big_season(welders)
    season.compute()
    small = _queries(client)

    for index in range(6):
        theme = season.theme(f"Thème {index}", category=Category.FUNDING)
        season.big_season(theme, scale=2)
    for insee in ("44109", "35238", "13055", "69123"):
        season.room(season.atelier(insee, when=season.SPRING), people=3, theme=welders, actions=(ActionStatus.DONE,))
    season.compute()
    large = _queries(client)

    assert large == small
    assert max(small.values()) <= 8


def test_the_pages_speak_english_too(welders):
    season.compute()
    english = Client(HTTP_ACCEPT_LANGUAGE="en")

    page = _main(english.get("/observatoire/"))
    theme = _main(english.get("/observatoire/theme/recruter-des-soudeurs/"))
    region = _main(english.get("/observatoire/region/75/"))

    assert "The observatory of impossibles" in page and "Lifting rate" in page
    assert "Impossibles counted by département" in page and "Lifted elsewhere" in region
    assert "Quarter by quarter" in theme and "impossibles counted by quarter" in theme
    for html in (page, theme, region):
        assert escape("L'observatoire des impossibles") not in html
        assert "Taux de levée" not in html
    # The open data keeps its French column names whatever the language.
    csv_header = english.get("/observatoire/donnees.csv").content.decode().splitlines()[0]
    assert csv_header.startswith("trimestre,niveau,code_region")


def test_percentages_follow_each_languages_typography(welders):
    season.compute()

    french = _main(Client(HTTP_ACCEPT_LANGUAGE="fr").get("/observatoire/"))
    english = _main(Client(HTTP_ACCEPT_LANGUAGE="en").get("/observatoire/"))

    assert '<td class="number">50\u202f%</td>' in french
    assert '<td class="number">50%</td>' in english
