"""« Où en est-on ? »: a new atelier carries on the open actions of earlier
ateliers of its territory, with their history, into its own plan."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client

from boards.models import ActionChange, ActionStatus, Atelier, Impossible, PlanAction, Reach
from boards.phases import Phase
from boards.services import facilitation
from tests import observatoire_season as season

pytestmark = pytest.mark.django_db
LATER = datetime.datetime(2027, 1, 20, 18, 30, tzinfo=datetime.UTC)


@pytest.fixture
def camille():
    user = User.objects.create_user("camille", first_name="Camille", last_name="Animation")
    client = Client(HTTP_ACCEPT_LANGUAGE="fr")
    client.force_login(user)
    client.user = user
    return client


def _run_by(atelier: Atelier, client: Client) -> Atelier:
    atelier.facilitators.add(client.user)
    return atelier


def _earlier(
    insee: str, *, reach=Reach.COUNTED, statuses=(ActionStatus.TODO, ActionStatus.IN_PROGRESS, ActionStatus.DONE)
):
    atelier = season.atelier(insee, title=f"Atelier passé {insee}")
    season.room(atelier, people=3, reach=reach, statements=(f"Impossible à {insee}",), actions=statuses)
    for action in atelier.actions.all():
        ActionChange.objects.create(
            action=action,
            by_kind="pilote",
            by_name="Pilote",
            changes=[{"field": "next_step", "old": "", "new": "Appeler le lycée"}],
        )
    return atelier


def _new(client: Client, insee: str = "16102", phase: str = Phase.PLAN) -> Atelier:
    atelier = _run_by(season.atelier(insee, when=LATER, title="Atelier nouveau"), client)
    facilitation.set_phase(atelier.pk, phase)
    return atelier


def _listed(client: Client, atelier: Atelier, scope: str = "departement") -> list[int]:
    response = client.get(f"/a/{atelier.code}/plan/", {"scope": scope})
    return [action.pk for action in response.context["nearby_actions"]]


def test_open_actions_of_my_earlier_ateliers_are_offered(camille):
    mine = _run_by(_earlier("16167"), camille)
    new = _new(camille)

    listed = _listed(camille, new)

    open_ones = list(mine.actions.exclude(status=ActionStatus.DONE).values_list("pk", flat=True))
    assert sorted(listed) == sorted(open_ones) and len(listed) == 2


def test_importing_carries_the_action_on_with_its_history_and_pushes_it_live(
    camille, events, django_capture_on_commit_callbacks
):
    mine = _run_by(_earlier("16167"), camille)
    new = _new(camille)
    source = mine.actions.get(status=ActionStatus.IN_PROGRESS)

    with django_capture_on_commit_callbacks(execute=True):
        response = camille.post(f"/a/{new.code}/plan/import/", {"actions": [source.pk]})

    assert response.status_code == 302
    action = PlanAction.objects.get(atelier=new)
    assert (action.title, action.status, action.continues) == (source.title, ActionStatus.IN_PROGRESS, source)
    assert action.pilot.name == source.pilot.name and action.pilot.atelier == new
    impossible = action.impossible
    assert impossible.statement == "Impossible à 16167"  # my own atelier, counted: the words come along
    assert impossible.anonymous and impossible.reach == Reach.ROOM
    history = list(action.changes.order_by("at", "pk"))
    assert [c.changes for c in history[:-1]] == [c.changes for c in source.changes.order_by("at", "pk")]
    assert history[-1].changes == [{"field": "atelier", "old": mine.title, "new": new.title}]
    assert [event for _atelier, _version, event in events if _atelier == new.pk] == [
        {"type": "impossible.posted", "impossible": impossible.pk}
    ]
    # Not offered twice, and importing again changes nothing.
    assert source.pk not in _listed(camille, new)
    camille.post(f"/a/{new.code}/plan/import/", {"actions": [source.pk]})
    assert PlanAction.objects.filter(atelier=new).count() == 1


def test_other_facilitators_ateliers_count_only_when_their_plan_is_published(camille):
    hidden = _earlier("16015")
    published = _earlier("16015", reach=Reach.COUNTED)
    published_words = _earlier("16015", reach=Reach.PUBLISHABLE)
    for atelier in (published, published_words):
        Atelier.objects.filter(pk=atelier.pk).update(share_token=f"token-{atelier.pk}")
    new = _new(camille)

    listed = set(_listed(camille, new))

    assert not listed & set(hidden.actions.values_list("pk", flat=True))
    assert set(published.actions.exclude(status=ActionStatus.DONE).values_list("pk", flat=True)) <= listed
    counted = published.actions.filter(status=ActionStatus.TODO).get()
    quotable = published_words.actions.filter(status=ActionStatus.TODO).get()
    camille.post(f"/a/{new.code}/plan/import/", {"actions": [counted.pk, quotable.pk]})
    statements = set(Impossible.objects.filter(atelier=new).values_list("statement", flat=True))
    # Words not made publishable stay behind: the action's title stands in.
    assert statements == {counted.title, "Impossible à 16015"}


def test_the_scope_narrows_to_the_commune_or_the_epci(camille):
    jarnac = _run_by(_earlier("16167"), camille)  # same EPCI as Cognac
    angouleme = _run_by(_earlier("16015"), camille)  # same département only
    cognac = _run_by(_earlier("16102"), camille)
    new = _new(camille, "16102")

    def ateliers(scope):
        return {PlanAction.objects.get(pk=pk).atelier_id for pk in _listed(camille, new, scope)}

    assert ateliers("commune") == {cognac.pk}
    assert ateliers("epci") == {cognac.pk, jarnac.pk}
    assert ateliers("departement") == {cognac.pk, jarnac.pk, angouleme.pk}


def test_later_ateliers_and_other_departements_are_not_offered(camille):
    new = _new(camille)
    later = _run_by(season.atelier("16167", when=LATER + datetime.timedelta(days=30)), camille)
    season.room(later, people=2, actions=(ActionStatus.TODO,))
    gironde = _run_by(_earlier("33063"), camille)

    listed = set(_listed(camille, new))

    assert not listed & set(PlanAction.objects.filter(atelier__in=[later, gironde]).values_list("pk", flat=True))


def test_outside_the_plan_phases_nothing_is_imported(camille):
    mine = _run_by(_earlier("16167"), camille)
    new = _new(camille, phase=Phase.IMPOSSIBLES)
    source = mine.actions.filter(status=ActionStatus.TODO).get()

    camille.post(f"/a/{new.code}/plan/import/", {"actions": [source.pk]})

    assert not PlanAction.objects.filter(atelier=new).exists()


def test_only_the_ateliers_facilitators_may_import(camille):
    mine = _run_by(_earlier("16167"), camille)
    new = _new(camille)
    source = mine.actions.filter(status=ActionStatus.TODO).get()
    stranger = Client()
    stranger.force_login(User.objects.create_user("stranger"))

    response = stranger.post(f"/a/{new.code}/plan/import/", {"actions": [source.pk]})

    assert response.status_code == 404
    assert not PlanAction.objects.filter(atelier=new).exists()


def test_carried_on_impossibles_are_not_counted_twice(camille):
    welders = season.theme("Recruter des soudeurs")
    season.big_season(welders)
    sources = PlanAction.objects.filter(atelier__departement_code="16", status=ActionStatus.IN_PROGRESS)
    for atelier in Atelier.objects.filter(departement_code="16"):
        _run_by(atelier, camille)
    new = _new(camille)
    camille.post(f"/a/{new.code}/plan/import/", {"actions": list(sources.values_list("pk", flat=True))})
    assert PlanAction.objects.filter(atelier=new).count() == 5

    season.compute()

    from boards.observatoire.models import Figure

    assert Figure.objects.get(role="", departement_code="16").impossibles == 5
