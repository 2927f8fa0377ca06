"""The facilitators' « comparé au département » panel on the plan page."""

from __future__ import annotations

import secrets

import pytest
from django.contrib.auth.models import User
from django.test import Client

from boards.models import ActionStatus, Atelier, Pilot
from tests import observatoire_season as season

pytestmark = pytest.mark.django_db


def _facilitated(atelier: Atelier) -> Client:
    user = User.objects.create_user(f"fac-{atelier.code}")
    atelier.facilitators.add(user)
    client = Client(HTTP_ACCEPT_LANGUAGE="fr")
    client.force_login(user)
    return client


def _panel(client: Client, atelier: Atelier) -> str:
    html = client.get(f"/a/{atelier.code}/plan/").content.decode()
    start = html.find('class="panel compare-panel')
    return html[start : html.index("</section>", start)] if start >= 0 else ""


def test_the_plan_page_compares_the_atelier_with_its_departement():
    welders = season.theme("Recruter des soudeurs")
    season.big_season(welders)
    mine = season.atelier("16102")
    season.room(mine, people=4, theme=welders, statements=("a", "b", "c", "d"), actions=(ActionStatus.TODO,))
    elsewhere = season.atelier("33063")
    season.room(elsewhere, people=3, theme=welders, actions=(ActionStatus.DONE,))
    Atelier.objects.filter(pk=elsewhere.pk).update(share_token=secrets.token_urlsafe(16))
    season.compute()

    panel = _panel(_facilitated(mine), mine)

    assert "Comparé au département" in panel and "Charente" in panel
    # Four impossibles, one with an action: 25 %; none done: 0 %.
    assert "<td>4</td>" in panel and "<td>25\u202f%</td>" in panel and "<td>0\u202f%</td>" in panel
    # Charente's published figures: 6 ateliers now (the big season's 5 and this one).
    assert "<td>6</td>" in panel
    assert "/observatoire/theme/recruter-des-soudeurs/" in panel
    assert f"Action fait {elsewhere.code}" in panel
    assert "Action fait" in panel and all(
        f"Action fait {a.code}" not in panel for a in Atelier.objects.filter(departement_code="16")
    )


def test_lifted_elsewhere_in_the_panel_shows_an_organisation_only_with_its_pilots_consent():
    welders = season.theme("Recruter des soudeurs")
    season.big_season(welders)
    mine = season.atelier("16102")
    season.room(mine, people=4, theme=welders, statements=("a", "b", "c", "d"), actions=(ActionStatus.TODO,))
    elsewhere = season.atelier("33063")
    season.room(elsewhere, people=3, theme=welders, actions=(ActionStatus.DONE,))
    Atelier.objects.filter(pk=elsewhere.pk).update(share_token=secrets.token_urlsafe(16))
    season.compute()
    client = _facilitated(mine)

    assert f"Action fait {elsewhere.code}" in _panel(client, mine)
    assert f"Mairie {elsewhere.code}" not in _panel(client, mine)

    Pilot.objects.filter(atelier=elsewhere).update(show_organisation=True)
    panel = _panel(client, mine)
    assert f"<strong>Action fait {elsewhere.code}</strong> · Mairie {elsewhere.code} —" in panel
    assert "Pilote" not in panel


def test_without_enough_ateliers_around_it_says_so():
    lone = season.atelier("69123")
    season.room(lone, people=3)
    season.compute()

    panel = _panel(_facilitated(lone), lone)

    assert "Pas encore assez d'ateliers autour de vous" in panel


def test_an_atelier_without_a_territory_has_no_panel():
    atelier = Atelier.objects.create(title="Sans lieu", code="NOWHERE2")

    assert _panel(_facilitated(atelier), atelier) == ""
