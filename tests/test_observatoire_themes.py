"""Themes across ateliers: suggested by the similarity engine from the
impossibles the observatoire counts, curated by the « observatoire » team
only (permission matrix), never changing an atelier's board."""

from __future__ import annotations

import secrets

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from django.utils.html import escape

from boards.models import Atelier, Category, Impossible, Reach, Role, Theme
from boards.observatoire.models import CURATORS_GROUP
from boards.services import participation

WELDERS = [
    "Impossible de recruter des soudeurs",
    "On ne trouve pas de soudeurs",
    "Impossible de recruter des soudeurs qualifiés",
    "Aucun soudeur à recruter dans le bassin",
]


def _atelier(code: str) -> Atelier:
    return Atelier.objects.create(title=f"Atelier {code}", code=code, insee_code="16102", departement_code="16")


def _post(atelier: Atelier, statement: str, *, reach=Reach.COUNTED, category=Category.RECRUITMENT, **flags):
    author = participation.join_atelier(atelier, name="P", organisation="", role=Role.ENTREPRENEUR)
    impossible = participation.post_impossible(
        author, statement=statement, category=category, reach=reach, submission_key=secrets.token_urlsafe(8)
    )
    if flags:
        Impossible.objects.filter(pk=impossible.pk).update(**flags)
    return impossible


@pytest.fixture
def welders(db):
    ateliers = [_atelier(code) for code in ("AAA222", "BBB333", "CCC444", "DDD555")]
    return [_post(atelier, text) for atelier, text in zip(ateliers, WELDERS, strict=True)]


def _themes() -> list[Theme]:
    call_command("observatoire_themes")
    return list(Theme.objects.all())


def test_similar_impossibles_of_several_ateliers_become_one_suggested_theme(welders):
    themes = _themes()

    assert len(themes) == 1
    theme = themes[0]
    assert theme.status == Theme.Status.SUGGESTED
    assert theme.category == Category.RECRUITMENT
    assert set(theme.impossibles.values_list("pk", flat=True)) == {i.pk for i in welders}


def test_running_it_again_changes_nothing(welders):
    _themes()
    before = list(Impossible.objects.order_by("pk").values_list("pk", "theme_id"))

    _themes()

    assert Theme.objects.count() == 1
    assert list(Impossible.objects.order_by("pk").values_list("pk", "theme_id")) == before


def test_a_new_similar_impossible_joins_the_existing_theme(welders):
    theme = _themes()[0]
    late = _post(_atelier("EEE666"), "Impossible de recruter des soudeurs en CDI")

    _themes()

    assert Theme.objects.count() == 1
    assert Impossible.objects.get(pk=late.pk).theme == theme


def test_impossibles_kept_in_the_room_hidden_pending_or_merged_are_never_grouped(db):
    ateliers = [_atelier(code) for code in ("AAA222", "BBB333", "CCC444", "DDD555", "EEE666")]
    kept = _post(ateliers[0], WELDERS[0], reach=Reach.ROOM)
    hidden = _post(ateliers[1], WELDERS[1], hidden=True)
    pending = _post(ateliers[2], WELDERS[2], pending=True)
    merged = _post(ateliers[3], WELDERS[3], merged_into=kept)
    alone = _post(ateliers[4], WELDERS[0])

    assert _themes() == []
    left_out = [kept.pk, hidden.pk, pending.pk, merged.pk, alone.pk]
    assert not Impossible.objects.filter(pk__in=left_out, theme__isnull=False).exists()


def test_similar_impossibles_of_one_atelier_only_make_no_theme(db):
    atelier = _atelier("AAA222")
    for text in WELDERS:
        _post(atelier, text)

    assert _themes() == []


def test_suggested_names_use_publishable_words_only(db):
    ateliers = [_atelier(code) for code in ("AAA222", "BBB333")]
    _post(ateliers[0], WELDERS[0])
    _post(ateliers[1], WELDERS[1])

    theme = _themes()[0]

    assert theme.name not in WELDERS
    assert "2" in theme.name


def test_suggested_names_take_a_publishable_statement(db):
    ateliers = [_atelier(code) for code in ("AAA222", "BBB333")]
    _post(ateliers[0], WELDERS[0])
    _post(ateliers[1], WELDERS[1], reach=Reach.PUBLISHABLE)

    assert _themes()[0].name == WELDERS[1]


# --- Curation ------------------------------------------------------------------------


@pytest.fixture
def curator(db):
    user = User.objects.create_user("nadia", password="x")
    user.groups.add(Group.objects.get(name=CURATORS_GROUP))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def theme(welders):
    return _themes()[0]


def _other_client(kind: str) -> Client:
    client = Client()
    if kind == "facilitator":
        client.force_login(User.objects.create_user("fac", password="x"))
    elif kind == "staff":
        client.force_login(User.objects.create_user("staff", password="x", is_staff=True))
    return client


def _urls(theme: Theme) -> list[tuple[str, str]]:
    first = theme.impossibles.order_by("pk").first()
    base = f"/observatoire/themes/{theme.pk}"
    return [
        ("get", "/observatoire/themes/"),
        ("get", f"{base}/"),
        ("post", f"{base}/accept/"),
        ("post", f"{base}/rename/"),
        ("post", f"{base}/merge/"),
        ("post", f"{base}/split/"),
        ("post", f"{base}/impossibles/{first.pk}/detach/"),
    ]


@pytest.mark.parametrize("kind", ["anonymous", "facilitator", "staff"])
def test_everyone_but_the_observatoire_team_gets_403_everywhere(theme, kind):
    client = _other_client(kind)
    for method, url in _urls(theme):
        response = getattr(client, method)(url, {"name": "Soudure"} if method == "post" else None)
        assert response.status_code == 403, (kind, url)
    theme.refresh_from_db()
    assert theme.status == Theme.Status.SUGGESTED
    assert theme.impossibles.count() == len(WELDERS)


def test_the_observatoire_team_sees_the_themes_and_their_impossibles(theme, curator):
    listing = curator.get("/observatoire/themes/")
    page = curator.get(f"/observatoire/themes/{theme.pk}/")

    assert listing.status_code == page.status_code == 200
    assert escape(theme.name) in listing.content.decode()
    for text in WELDERS:
        assert text in page.content.decode()
    # Never the authors' names.
    assert ">P<" not in page.content.decode()


def test_accepting_publishes_the_theme(theme, curator):
    response = curator.post(f"/observatoire/themes/{theme.pk}/accept/")

    assert response.status_code == 302
    theme.refresh_from_db()
    assert theme.status == Theme.Status.ACCEPTED


def test_renaming_changes_name_and_slug(theme, curator):
    curator.post(f"/observatoire/themes/{theme.pk}/rename/", {"name": "Recruter des soudeurs"})

    theme.refresh_from_db()
    assert (theme.name, theme.slug) == ("Recruter des soudeurs", "recruter-des-soudeurs")


def test_an_empty_name_is_refused(theme, curator):
    response = curator.post(f"/observatoire/themes/{theme.pk}/rename/", {"name": "  "})

    assert response.status_code == 422


def test_splitting_moves_the_chosen_impossibles_to_a_new_theme(theme, welders, curator):
    moved = [welders[0].pk, welders[2].pk]

    curator.post(f"/observatoire/themes/{theme.pk}/split/", {"name": "Soudeurs qualifiés", "impossibles": moved})

    new = Theme.objects.get(name="Soudeurs qualifiés")
    assert set(new.impossibles.values_list("pk", flat=True)) == set(moved)
    assert set(theme.impossibles.values_list("pk", flat=True)) == {welders[1].pk, welders[3].pk}


def test_merging_moves_everything_and_removes_the_merged_theme(theme, welders, curator):
    curator.post(f"/observatoire/themes/{theme.pk}/split/", {"name": "Autre", "impossibles": [welders[0].pk]})
    other = Theme.objects.get(name="Autre")

    curator.post(f"/observatoire/themes/{other.pk}/merge/", {"target": theme.pk})

    assert not Theme.objects.filter(pk=other.pk).exists()
    assert theme.impossibles.count() == len(WELDERS)


def test_merging_a_theme_into_itself_is_not_offered(theme, curator):
    response = curator.post(f"/observatoire/themes/{theme.pk}/merge/", {"target": theme.pk})

    assert response.status_code == 422
    assert Theme.objects.filter(pk=theme.pk).exists()


def test_a_detached_impossible_is_never_suggested_again(theme, welders, curator):
    curator.post(f"/observatoire/themes/{theme.pk}/impossibles/{welders[0].pk}/detach/")
    _themes()

    assert Impossible.objects.get(pk=welders[0].pk).theme is None
    assert theme.impossibles.count() == len(WELDERS) - 1


def test_curating_never_changes_the_ateliers_boards(theme, welders, curator):
    before = list(Atelier.objects.order_by("pk").values_list("pk", "version"))
    fields = ("statement", "category", "hidden", "me_too_count")
    boards = list(Impossible.objects.order_by("pk").values_list(*fields))

    curator.post(f"/observatoire/themes/{theme.pk}/accept/")
    curator.post(f"/observatoire/themes/{theme.pk}/rename/", {"name": "Soudure"})
    curator.post(f"/observatoire/themes/{theme.pk}/split/", {"name": "Autre", "impossibles": [welders[0].pk]})
    curator.post(f"/observatoire/themes/{theme.pk}/impossibles/{welders[1].pk}/detach/")

    assert list(Atelier.objects.order_by("pk").values_list("pk", "version")) == before
    assert list(Impossible.objects.order_by("pk").values_list(*fields)) == boards


def test_the_team_no_longer_sees_what_a_facilitator_hid_since(theme, welders, curator):
    Impossible.objects.filter(pk=welders[0].pk).update(hidden=True)

    page = curator.get(f"/observatoire/themes/{theme.pk}/").content.decode()

    assert f"<q>{WELDERS[0]}</q>" not in page and f"<q>{WELDERS[1]}</q>" in page


def test_an_accepted_theme_keeps_its_address_when_renamed(theme, curator):
    curator.post(f"/observatoire/themes/{theme.pk}/rename/", {"name": "Recruter des soudeurs"})
    curator.post(f"/observatoire/themes/{theme.pk}/accept/")

    curator.post(f"/observatoire/themes/{theme.pk}/rename/", {"name": "Souder, un métier qui manque"})

    theme.refresh_from_db()
    assert (theme.name, theme.slug) == ("Souder, un métier qui manque", "recruter-des-soudeurs")
