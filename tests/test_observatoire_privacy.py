"""Privacy on every public surface of the observatoire (pages, map, chart,
CSV, JSON), in French and in English: a small cell never shows, whatever
the filters; words appear only when their author made them publishable;
names, organisations, ateliers and communes never."""

from __future__ import annotations

import itertools
import json
import secrets

import pytest
from django.test import Client
from django.utils.html import escape

from boards.models import ActionStatus, Atelier, Category, Reach, Role
from boards.observatoire.models import Figure
from tests import observatoire_season as season

pytestmark = pytest.mark.django_db

LANGUAGES = ("fr", "en")


def _surfaces(themes: list[str]) -> list[str]:
    urls = ["/observatoire/", "/observatoire/donnees.csv", "/observatoire/donnees.json"]
    filters = {
        "quarter": ["", "2026-T4"],
        "category": ["", Category.RECRUITMENT, Category.FUNDING],
        "role": ["", Role.ENTREPRENEUR, Role.ELECTED],
        "status": ["", "sans-action", "levee"],
    }
    for values in itertools.product(*filters.values()):
        query = "&".join(f"{name}={value}" for name, value in zip(filters, values, strict=True) if value)
        urls.append(f"/observatoire/?{query}")
    for region in ("75", "84", "32", "52"):
        urls.append(f"/observatoire/region/{region}/")
        urls.append(f"/observatoire/?region={region}")
    for departement in ("16", "33", "69", "59", "44"):
        urls.append(f"/observatoire/departement/{departement}/")
        urls.append(f"/observatoire/?departement={departement}")
    urls += [f"/observatoire/theme/{slug}/" for slug in themes]
    return urls


def _read_everything(slugs: list[str]) -> str:
    """Every public surface, in both languages, as one text."""
    pages = []
    for language in LANGUAGES:
        client = Client(HTTP_ACCEPT_LANGUAGE=language)
        for url in _surfaces(slugs):
            response = client.get(url)
            if response.status_code == 404 and "/theme/" in url:
                continue
            assert response.status_code == 200, url
            pages.append(response.content.decode())
    return "\n".join(pages)


def _secret_texts(atelier: Atelier) -> list[str]:
    texts = [atelier.title, atelier.code, atelier.commune]
    for participant in atelier.participants.all():
        texts += [participant.name, participant.organisation]
    for impossible in atelier.impossibles.all():
        texts.append(impossible.statement)
    for action in atelier.actions.select_related("pilot"):
        texts += [action.title, action.pilot.name, action.pilot.organisation]
    return [text for text in texts if text]


def test_a_cell_of_two_ateliers_or_four_people_never_appears_anywhere():
    shown = season.theme("Recruter des soudeurs")
    season.big_season(shown)
    # Lyon: two ateliers with many people, alone in Auvergne-Rhône-Alpes.
    two = season.theme("Thème des deux ateliers", category=Category.FUNDING)
    small = [season.atelier("69123", title="Atelier lyonnais secret") for _ in range(2)]
    for atelier in small:
        season.room(
            atelier,
            people=10,
            theme=two,
            category=Category.FUNDING,
            statements=(f"Secret lyonnais {atelier.code}",),
            actions=(ActionStatus.DONE,),
            offers=3,
        )
    # Lille: three ateliers, four people in all, alone in Hauts-de-France.
    four = season.theme("Thème des quatre personnes", category=Category.FUNDING)
    lille = [season.atelier("59350", title="Atelier lillois secret") for _ in range(3)]
    season.room(lille[0], people=2, theme=four, category=Category.FUNDING, statements=("Secret lillois 1",))
    season.room(lille[1], people=1, theme=four, category=Category.FUNDING, statements=("Secret lillois 2",))
    season.room(lille[2], people=1, theme=four, category=Category.FUNDING, statements=("Secret lillois 3",))
    season.compute()

    assert not Figure.objects.filter(theme__in=[two, four]).exists()
    assert not Figure.objects.filter(region_code__in=["84", "32"]).exists()
    everything = _read_everything([shown.slug, two.slug, four.slug])

    for language in LANGUAGES:
        client = Client(HTTP_ACCEPT_LANGUAGE=language)
        assert client.get(f"/observatoire/theme/{two.slug}/").status_code == 404
        assert client.get(f"/observatoire/theme/{four.slug}/").status_code == 404
    for atelier in small + lille:
        for text in _secret_texts(atelier):
            assert text not in everything and escape(text) not in everything, text
    for text in (two.name, four.name, two.slug, four.slug):
        assert text not in everything and escape(text) not in everything, text
    # On the map, Rhône and Nord have no value; in the table, no number.
    for code in ("69", "59"):
        assert f'data-code="{code}" data-value' not in everything
        assert f'data-code="{code}">sans donnée<' in everything or f'data-code="{code}">no data<' in everything
    rows = json.loads(Client().get("/observatoire/donnees.json").content)["rows"]
    assert {row["code_region"] for row in rows} == {"75"}


def test_no_commune_name_or_code_and_no_participant_on_any_surface():
    shown = season.theme("Recruter des soudeurs")
    season.big_season(shown)
    season.compute()

    everything = _read_everything([shown.slug])

    for name in ("Cognac", "Jarnac", "Angoulême", "Bordeaux", "16102", "33063", "Personne ", "Société ", "Mairie"):
        assert name not in everything, name
    for atelier in Atelier.objects.all():
        assert atelier.title not in everything and atelier.code not in everything


def test_impossibles_kept_in_the_room_are_on_no_surface():
    shown = season.theme("Recruter des soudeurs")
    for departement in ("16", "33"):
        for insee in season.COMMUNES[departement]:
            season.room(season.atelier(insee), people=3, theme=shown, reach=Reach.ROOM, actions=(ActionStatus.DONE,))
    for atelier in Atelier.objects.all():
        Atelier.objects.filter(pk=atelier.pk).update(share_token=secrets.token_urlsafe(16))
    season.compute()

    assert not Figure.objects.exists()
    everything = _read_everything([shown.slug])
    assert shown.name not in everything
    assert "Action fait" not in everything


def test_words_appear_only_when_their_author_made_them_publishable():
    shown = season.theme("Recruter des soudeurs")
    for departement, reach in (("16", Reach.COUNTED), ("33", Reach.PUBLISHABLE)):
        for insee in season.COMMUNES[departement]:
            atelier = season.atelier(insee)
            season.room(
                atelier,
                people=3,
                theme=shown,
                reach=reach,
                statements=(f"Mots {reach} {atelier.code}",),
                actions=(ActionStatus.DONE,),
            )
            Atelier.objects.filter(pk=atelier.pk).update(share_token=secrets.token_urlsafe(16))
    season.compute()

    everything = _read_everything([shown.slug])

    assert f"Mots {Reach.COUNTED}" not in everything
    assert f"Mots {Reach.PUBLISHABLE}" in everything
