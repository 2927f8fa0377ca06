"""How far an impossible travels: chosen when posting, kept with it; themes
and the « observatoire » role in the database."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import translation
from pytest_django.asserts import assertContains

from boards.models import Category, Impossible, Reach
from boards.observatoire.models import CURATE_PERMISSION, CURATORS_GROUP
from tests.conftest import post_impossible

POST_URL = "/a/TST234/impossibles/"


def _form(**overrides) -> dict:
    return {
        "statement": "Impossible de trouver un local de 200 m²",
        "category": Category.PREMISES,
        "submission_key": "key-1",
        **overrides,
    }


def test_the_posting_form_offers_the_three_reaches_counted_by_default(alice):
    with translation.override("fr"):
        response = alice.get("/a/TST234/", HTTP_ACCEPT_LANGUAGE="fr")

    assertContains(response, 'name="reach"', count=3)
    html = response.content.decode()
    for value in ("salle", "compte", "publiable"):
        assert f'value="{value}"' in html
    checked = [part for part in html.split("<input") if 'name="reach"' in part and "checked" in part]
    assert len(checked) == 1 and 'value="compte"' in checked[0]
    assert "Dans la salle seulement" in html and "Texte publiable" in html
    assert "sans jamais publier de nom" in html


def test_the_chosen_reach_is_kept_with_the_impossible(alice):
    alice.post(POST_URL, _form(reach=Reach.PUBLISHABLE))

    assert Impossible.objects.get().reach == Reach.PUBLISHABLE


def test_a_post_without_the_choice_is_counted(alice):
    alice.post(POST_URL, _form())

    assert Impossible.objects.get().reach == Reach.COUNTED


def test_an_unknown_reach_is_refused(alice):
    response = alice.post(POST_URL, _form(reach="partout"))

    assert response.status_code == 422
    assert not Impossible.objects.exists()


def test_the_service_keeps_the_room_only_choice(alice):
    impossible = post_impossible(alice.participant, reach=Reach.ROOM)

    assert Impossible.objects.get(pk=impossible.pk).reach == Reach.ROOM


def test_the_observatoire_group_holds_the_curation_permission(db):
    group = Group.objects.get(name=CURATORS_GROUP)
    app_label, codename = CURATE_PERMISSION.split(".")
    assert group.permissions.filter(content_type__app_label=app_label, codename=codename).exists()

    member = User.objects.create_user("nadia", password="x")
    member.groups.add(group)
    assert User.objects.get(pk=member.pk).has_perm(CURATE_PERMISSION)
    assert not User.objects.create_user("other", password="x").has_perm(CURATE_PERMISSION)


@pytest.mark.django_db(transaction=True)
def test_impossibles_posted_before_the_choice_count_but_are_not_publishable():
    executor = MigrationExecutor(connection)
    before = [("boards", "0009_precisions")]
    after = [("boards", "0010_observatoire")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    atelier = old.get_model("boards", "Atelier").objects.create(title="Ancien", code="OLD234")
    author = old.get_model("boards", "Participant").objects.create(atelier=atelier, name="A", role="entrepreneur")
    old.get_model("boards", "Impossible").objects.create(
        atelier=atelier, author=author, statement="Avant", category="autre", submission_key="k"
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    impossible = Impossible.objects.get(statement="Avant")
    assert impossible.reach == Reach.COUNTED
    assert impossible.theme is None
    assert Group.objects.filter(name=CURATORS_GROUP).exists()
    assert Permission.objects.filter(codename="curate_themes").count() == 1


def test_erasing_my_data_withdraws_my_words_from_the_observatoire_but_keeps_them_counted(alice):
    from boards.services import privacy

    quotable = post_impossible(alice.participant, "Mes mots publiables", reach=Reach.PUBLISHABLE)
    kept = post_impossible(alice.participant, "Resté dans la salle", reach=Reach.ROOM)

    privacy.forget_participant(alice.participant)

    assert Impossible.objects.get(pk=quotable.pk).reach == Reach.COUNTED
    assert Impossible.objects.get(pk=kept.pk).reach == Reach.ROOM


def test_erasing_my_data_withdraws_my_consent_as_a_pilot(alice):
    from boards.models import Pilot
    from boards.services import privacy

    pilot = Pilot.objects.create(
        atelier=alice.participant.atelier, participant=alice.participant, name="Alice", show_organisation=True
    )

    privacy.forget_participant(alice.participant)

    pilot.refresh_from_db()
    assert not pilot.show_organisation and pilot.organisation == ""
