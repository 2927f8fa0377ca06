"""Who may use the facilitators' pages and actions: the atelier's facilitators,
and nobody else. Anonymous visitors and participants (who have no account)
are sent to the login page; a facilitator of another atelier gets a 404, as
if the pages did not exist. Whoever is refused changes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from pytest_django.asserts import assertRedirects

from boards.models import (
    Atelier,
    DismissedDuplicate,
    HelpKind,
    HelpOffer,
    Impossible,
    Invitation,
    MeToo,
    Participant,
    PlanAction,
    Precision,
)
from boards.services import facilitation, participation, plan
from tests.conftest import post_impossible

if TYPE_CHECKING:
    from collections.abc import Callable

HTMX = {"HTTP_HX_REQUEST": "true"}
FACILITATORS = ["facilitator", "co_facilitator"]
NOT_LOGGED_IN = ["outsider", "alice"]


@pytest.fixture
def scene(atelier, other_atelier, alice, bob, charlie):
    """A board with something to act on, in `atelier` and in `other_atelier`."""
    impossible = post_impossible(alice.participant, "Impossible de recruter des soudeurs")
    duplicate = post_impossible(bob.participant, "Pas de soudeurs à moins de 50 km")
    participation.set_me_too(charlie.participant, impossible.pk, on=True)
    participation.set_me_too(charlie.participant, duplicate.pk, on=True)
    offer = participation.offer_help(
        charlie.participant, impossible.pk, kind=HelpKind.INTRODUCTION, message="Je connais un CFA", submission_key="o"
    )
    precision = participation.add_precision(charlie.participant, impossible.pk, text="Pareil ici", submission_key="p")
    stranger = participation.join_atelier(other_atelier, name="Zoé", organisation="", role="autre")
    foreign = post_impossible(stranger, "Impossible ailleurs")
    foreign_precision = participation.add_precision(stranger, foreign.pk, text="Ailleurs aussi", submission_key="fp")
    foreign_offer = participation.offer_help(
        stranger, foreign.pk, kind=HelpKind.EXPERTISE, message="Je sais faire", submission_key="fo"
    )
    User.objects.create_user("nadia", email="nadia@example.org")
    # Both boards reach the plan phase with one action each.
    planner = User.objects.create_user("planner")
    for board in (atelier, other_atelier):
        facilitation.set_phase(board.pk, "plan")
    action = plan.create_action(
        atelier.pk,
        impossible.pk,
        actor=plan.Actor.facilitator(planner),
        title="Réunir les soudeurs retraités",
        pilot=plan.PilotChoice(participant_id=bob.participant.pk),
        submission_key="a",
    )
    foreign_action = plan.create_action(
        other_atelier.pk,
        foreign.pk,
        actor=plan.Actor.facilitator(planner),
        title="Ailleurs",
        pilot=plan.PilotChoice(name="Zoé"),
        submission_key="fa",
    )
    return SimpleNamespace(
        atelier=atelier,
        other=other_atelier,
        code=atelier.code,
        imp=impossible.pk,
        dup=duplicate.pk,
        offer=offer.pk,
        precision=precision.pk,
        foreign_precision=foreign_precision.pk,
        foreign=foreign.pk,
        foreign_offer=foreign_offer.pk,
        action=action.pk,
        foreign_action=foreign_action.pk,
        pilot=bob.participant.pk,
    )


def board_state(atelier_id: int) -> dict[str, Any]:
    """Everything a facilitator's action could change in one atelier."""
    return {
        "atelier": Atelier.objects.filter(pk=atelier_id).values().first(),
        "facilitators": sorted(
            Atelier.facilitators.through.objects.filter(atelier_id=atelier_id).values_list("user_id", flat=True)
        ),
        "impossibles": list(Impossible.objects.filter(atelier_id=atelier_id).order_by("pk").values()),
        "offers": list(HelpOffer.objects.filter(impossible__atelier_id=atelier_id).order_by("pk").values()),
        "me_toos": sorted(
            MeToo.objects.filter(impossible__atelier_id=atelier_id).values_list("impossible_id", "participant_id")
        ),
        "participants": sorted(Participant.objects.filter(atelier_id=atelier_id).values_list("pk", flat=True)),
        "invitations": sorted(Invitation.objects.filter(atelier_id=atelier_id).values_list("who", flat=True)),
        "actions": list(PlanAction.objects.filter(atelier_id=atelier_id).order_by("pk").values()),
        "precisions": list(Precision.objects.filter(impossible__atelier_id=atelier_id).order_by("pk").values()),
        "dismissed": sorted(
            DismissedDuplicate.objects.filter(atelier_id=atelier_id).values_list("first_id", "second_id")
        ),
    }


def _impossible(state: dict, pk: int) -> dict:
    return next(row for row in state["impossibles"] if row["id"] == pk)


def _offer(state: dict, pk: int) -> dict:
    return next(row for row in state["offers"] if row["id"] == pk)


def _settings_form(scene) -> dict:
    return {
        "title": "Atelier renommé",
        "venue": "Salle des fêtes",
        "commune": "Cognac",
        "departement": "Charente",
        "region": "Nouvelle-Aquitaine",
        "insee_code": "16102",
        "territory": "",
        "language": "fr",
        "categories": ["recrutement", "financement"],
        "starts_at": "2030-05-04T18:30",
    }


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # formatted with the scene: {code}, {imp}, {dup}, {offer}, {precision}, {action}
    data: Callable[[Any], dict] = lambda scene: {}
    # For a facilitator's POST: did the expected change happen? (before, after, scene)
    changed: Callable[[dict, dict, Any], bool] | None = None

    def url(self, scene, code: str | None = None) -> str:
        return self.path.format(
            code=code or scene.code,
            imp=scene.imp,
            dup=scene.dup,
            offer=scene.offer,
            precision=scene.precision,
            action=scene.action,
        )

    def __str__(self) -> str:
        return self.name


ENDPOINTS = [
    Endpoint("console", "get", "/a/{code}/console/"),
    Endpoint("console panels", "get", "/a/{code}/console/panels/"),
    Endpoint("settings page", "get", "/a/{code}/console/settings/"),
    Endpoint(
        "settings save",
        "post",
        "/a/{code}/console/settings/",
        _settings_form,
        lambda before, after, s: after["atelier"]["title"] == "Atelier renommé",
    ),
    Endpoint(
        "team add",
        "post",
        "/a/{code}/console/team/",
        lambda s: {"who": "nadia"},
        # An invitation, which nadia accepts herself (test_facilitator_accounts.py).
        lambda before, after, s: Invitation.objects.filter(atelier=s.atelier, who="nadia").exists(),
    ),
    Endpoint("delete page", "get", "/a/{code}/console/delete/"),
    Endpoint(
        "delete",
        "post",
        "/a/{code}/console/delete/",
        lambda s: {"confirm": s.code},
        lambda before, after, s: after["atelier"] is None and after["impossibles"] == after["participants"] == [],
    ),
    Endpoint(
        "new join code",
        "post",
        "/a/{code}/console/code/",
        changed=lambda before, after, s: after["atelier"]["code"] != before["atelier"]["code"],
    ),
    Endpoint(
        "phase",
        "post",
        "/a/{code}/console/phase/",
        lambda s: {"phase": "entraide"},
        lambda before, after, s: after["atelier"]["phase"] == "entraide",
    ),
    Endpoint(
        "lock",
        "post",
        "/a/{code}/console/lock/",
        lambda s: {"locked": "1"},
        lambda before, after, s: after["atelier"]["locked"] is True,
    ),
    Endpoint(
        "premoderation",
        "post",
        "/a/{code}/console/premoderation/",
        lambda s: {"on": "1"},
        lambda before, after, s: after["atelier"]["premoderation"] is True,
    ),
    Endpoint(
        "timer",
        "post",
        "/a/{code}/console/timer/",
        lambda s: {"op": "start", "minutes": "5", "label": "Écrivez vos impossibles"},
        lambda before, after, s: after["atelier"]["timer_ends_at"] is not None,
    ),
    Endpoint(
        "spotlight",
        "post",
        "/a/{code}/console/spotlight/",
        lambda s: {"impossible": str(s.imp)},
        lambda before, after, s: after["atelier"]["spotlight_id"] == s.imp,
    ),
    Endpoint(
        "hide impossible",
        "post",
        "/a/{code}/console/impossibles/{imp}/moderate/",
        lambda s: {"op": "hide"},
        lambda before, after, s: _impossible(after, s.imp)["hidden"] is True,
    ),
    Endpoint("edit page", "get", "/a/{code}/console/impossibles/{imp}/edit/"),
    Endpoint(
        "edit",
        "post",
        "/a/{code}/console/impossibles/{imp}/edit/",
        lambda s: {
            "statement": "Impossible de recruter des soudeurs qualifiés",
            "details": "",
            "category": "recrutement",
        },
        lambda before, after, s: (
            _impossible(after, s.imp)["statement"] == "Impossible de recruter des soudeurs qualifiés"
        ),
    ),
    Endpoint("merge page", "get", "/a/{code}/console/impossibles/{dup}/merge/"),
    Endpoint(
        "merge",
        "post",
        "/a/{code}/console/impossibles/{dup}/merge/",
        lambda s: {"into": str(s.imp)},
        lambda before, after, s: _impossible(after, s.dup)["merged_into_id"] == s.imp,
    ),
    Endpoint(
        "hide offer",
        "post",
        "/a/{code}/console/offers/{offer}/moderate/",
        lambda s: {"op": "hide"},
        lambda before, after, s: _offer(after, s.offer)["hidden"] is True,
    ),
    Endpoint(
        "hide precision",
        "post",
        "/a/{code}/console/precisions/{precision}/moderate/",
        lambda s: {"op": "hide"},
        lambda before, after, s: after["precisions"][0]["hidden"] is True,
    ),
    Endpoint(
        "merge duplicate",
        "post",
        "/a/{code}/console/duplicates/merge/",
        lambda s: {"kept": str(s.imp), "merged": str(s.dup)},
        lambda before, after, s: _impossible(after, s.dup)["merged_into_id"] == s.imp,
    ),
    Endpoint(
        "dismiss duplicate",
        "post",
        "/a/{code}/console/duplicates/dismiss/",
        lambda s: {"first": str(s.dup), "second": str(s.imp)},
        lambda before, after, s: after["dismissed"] == [(s.imp, s.dup)],
    ),
    Endpoint(
        "authors plan",
        "post",
        "/a/{code}/console/authors-plan/",
        lambda s: {"on": "1"},
        lambda before, after, s: after["atelier"]["authors_can_plan"] is True,
    ),
    Endpoint("new action page", "get", "/a/{code}/console/impossibles/{imp}/actions/new/"),
    Endpoint(
        "new action",
        "post",
        "/a/{code}/console/impossibles/{imp}/actions/new/",
        lambda s: (
            {"title": "Ouvrir une formation", "pilot_participant": str(s.pilot), "status": "a_lancer"}
            | {"submission_key": "new-action"}
        ),
        lambda before, after, s: len(after["actions"]) == len(before["actions"]) + 1,
    ),
    Endpoint("action page", "get", "/a/{code}/console/actions/{action}/"),
    Endpoint(
        "action edit",
        "post",
        "/a/{code}/console/actions/{action}/",
        lambda s: {"title": "Réunir les soudeurs", "pilot_participant": str(s.pilot), "status": "en_cours"},
        lambda before, after, s: after["actions"][0]["status"] == "en_cours",
    ),
    Endpoint(
        "action delete",
        "post",
        "/a/{code}/console/actions/{action}/delete/",
        changed=lambda before, after, s: after["actions"] == [],
    ),
    Endpoint("projector", "get", "/a/{code}/projector/"),
    Endpoint("projector panels", "get", "/a/{code}/projector/panels/"),
    Endpoint("poster", "get", "/a/{code}/poster/"),
]
POST_ONLY = ["team add", "new join code", "phase", "lock", "premoderation", "timer", "spotlight", "hide impossible"]
POST_ONLY += ["hide offer", "authors plan", "action delete", "hide precision", "merge duplicate", "dismiss duplicate"]
GET_ONLY = ["console", "console panels", "projector", "projector panels", "poster"]
BY_NAME = {endpoint.name: endpoint for endpoint in ENDPOINTS}


def _call(client, endpoint: Endpoint, scene, code: str | None = None, **extra):
    url = endpoint.url(scene, code)
    if endpoint.method == "get":
        return client.get(url, **extra)
    return client.post(url, endpoint.data(scene), **extra)


def test_the_matrix_covers_every_facilitator_url_of_an_atelier():
    from boards.urls import urlpatterns

    atelier_scoped = {
        str(pattern.pattern)
        for pattern in urlpatterns
        if str(pattern.pattern).startswith("a/<str:code>/")
        and (
            "console" in str(pattern.pattern) or "projector" in str(pattern.pattern) or "poster" in str(pattern.pattern)
        )
    }
    covered = {
        endpoint.path.replace("{code}", "<str:code>")
        .replace("{imp}", "<int:impossible_id>")
        .replace("{dup}", "<int:impossible_id>")
        .replace("{offer}", "<int:offer_id>")
        .replace("{precision}", "<int:precision_id>")
        .replace("{action}", "<int:action_id>")
        .removeprefix("/")
        for endpoint in ENDPOINTS
    }
    assert atelier_scoped == covered


# --- Facilitators -----------------------------------------------------------------------------


@pytest.mark.parametrize("persona", FACILITATORS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_facilitators_of_the_atelier_get_through_and_the_change_happens(request, scene, persona, endpoint):
    client = request.getfixturevalue(persona)
    before = board_state(scene.atelier.pk)
    other_before = board_state(scene.other.pk)

    response = _call(client, endpoint, scene)

    after = board_state(scene.atelier.pk)
    if endpoint.method == "get":
        assert response.status_code == 200
        assert after == before
    else:
        assert response.status_code == 302, response.content.decode()[:2000]
        assert endpoint.changed(before, after, scene), endpoint.name
        assert after != before
    assert board_state(scene.other.pk) == other_before


HTMX_ACTIONS = ["phase", "lock", "premoderation", "timer", "spotlight", "hide impossible", "hide offer"]
HTMX_ACTIONS += ["authors plan", "hide precision", "merge duplicate", "dismiss duplicate"]


@pytest.mark.parametrize("name", HTMX_ACTIONS)
def test_facilitators_actions_answer_htmx_with_204_and_a_refresh(scene, facilitator, name):
    endpoint = BY_NAME[name]
    before = board_state(scene.atelier.pk)

    response = _call(facilitator, endpoint, scene, **HTMX)

    assert response.status_code == 204
    assert "cerveau:refresh" in json.loads(response["HX-Trigger"])
    assert endpoint.changed(before, board_state(scene.atelier.pk), scene)


# --- Everyone else ----------------------------------------------------------------------------


@pytest.mark.parametrize("persona", NOT_LOGGED_IN)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_visitors_without_an_account_are_sent_to_the_login_page_and_change_nothing(
    request, scene, persona, endpoint, events, django_capture_on_commit_callbacks
):
    client = request.getfixturevalue(persona)
    before = board_state(scene.atelier.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = _call(client, endpoint, scene)

    url = endpoint.url(scene)
    assertRedirects(response, f"/accounts/login/?next={url}", fetch_redirect_response=False)
    assert board_state(scene.atelier.pk) == before
    assert events == []


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_a_facilitator_of_another_atelier_gets_a_404_and_changes_nothing(
    scene, other_facilitator, endpoint, events, django_capture_on_commit_callbacks
):
    before = board_state(scene.atelier.pk)
    other_before = board_state(scene.other.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = _call(other_facilitator, endpoint, scene)

    assert response.status_code == 404
    assert board_state(scene.atelier.pk) == before
    assert board_state(scene.other.pk) == other_before
    assert events == []


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_an_account_that_facilitates_nothing_gets_a_404(scene, endpoint):
    stranger = User.objects.create_user("sam", email="sam@example.org")
    client = Client()
    client.force_login(stranger)
    before = board_state(scene.atelier.pk)

    response = _call(client, endpoint, scene)

    assert response.status_code == 404
    assert board_state(scene.atelier.pk) == before


@pytest.mark.parametrize("persona", ["facilitator", "outsider"])
@pytest.mark.parametrize("name", POST_ONLY)
def test_post_only_endpoints_refuse_get(request, scene, persona, name):
    client = request.getfixturevalue(persona)
    before = board_state(scene.atelier.pk)

    response = client.get(BY_NAME[name].url(scene))

    assert response.status_code == 405
    assert board_state(scene.atelier.pk) == before


@pytest.mark.parametrize("name", GET_ONLY)
def test_pages_refuse_post(scene, facilitator, name):
    response = facilitator.post(BY_NAME[name].url(scene))
    assert response.status_code == 405


# --- Ids of another atelier, through one's own atelier's URLs ---------------------------------

FOREIGN_IDS = [
    ("hide foreign impossible", "post", "/a/{code}/console/impossibles/{foreign}/moderate/", {"op": "hide"}),
    ("approve foreign impossible", "post", "/a/{code}/console/impossibles/{foreign}/moderate/", {"op": "approve"}),
    ("edit foreign page", "get", "/a/{code}/console/impossibles/{foreign}/edit/", {}),
    (
        "edit foreign",
        "post",
        "/a/{code}/console/impossibles/{foreign}/edit/",
        {"statement": "Réécrit", "details": "", "category": "recrutement"},
    ),
    ("merge foreign page", "get", "/a/{code}/console/impossibles/{foreign}/merge/", {}),
    ("merge foreign duplicate", "post", "/a/{code}/console/impossibles/{foreign}/merge/", {"into": "{imp}"}),
    ("merge into foreign", "post", "/a/{code}/console/impossibles/{dup}/merge/", {"into": "{foreign}"}),
    ("spotlight foreign", "post", "/a/{code}/console/spotlight/", {"impossible": "{foreign}"}),
    ("hide foreign offer", "post", "/a/{code}/console/offers/{foreign_offer}/moderate/", {"op": "hide"}),
    ("hide foreign precision", "post", "/a/{code}/console/precisions/{foreign_precision}/moderate/", {"op": "hide"}),
    (
        "merge foreign duplicate pair",
        "post",
        "/a/{code}/console/duplicates/merge/",
        {"kept": "{imp}", "merged": "{foreign}"},
    ),
    (
        "merge into foreign pair",
        "post",
        "/a/{code}/console/duplicates/merge/",
        {"kept": "{foreign}", "merged": "{dup}"},
    ),
    (
        "dismiss foreign pair",
        "post",
        "/a/{code}/console/duplicates/dismiss/",
        {"first": "{imp}", "second": "{foreign}"},
    ),
    ("new action on foreign page", "get", "/a/{code}/console/impossibles/{foreign}/actions/new/", {}),
    (
        "new action on foreign",
        "post",
        "/a/{code}/console/impossibles/{foreign}/actions/new/",
        {"title": "Chez les autres", "pilot_name": "Moi", "status": "a_lancer", "submission_key": "x"},
    ),
    ("foreign action page", "get", "/a/{code}/console/actions/{foreign_action}/", {}),
    (
        "edit foreign action",
        "post",
        "/a/{code}/console/actions/{foreign_action}/",
        {"title": "Réécrite", "pilot_name": "Moi", "status": "fait"},
    ),
    ("delete foreign action", "post", "/a/{code}/console/actions/{foreign_action}/delete/", {}),
]


@pytest.mark.parametrize(("name", "method", "path", "data"), FOREIGN_IDS, ids=[row[0] for row in FOREIGN_IDS])
def test_a_facilitator_cannot_reach_another_ateliers_content_through_their_own_atelier(
    scene, facilitator, events, django_capture_on_commit_callbacks, name, method, path, data
):
    ids = {"code": scene.code, "imp": scene.imp, "dup": scene.dup, "foreign": scene.foreign}
    ids["foreign_offer"] = scene.foreign_offer
    ids["foreign_precision"] = scene.foreign_precision
    ids["foreign_action"] = scene.foreign_action
    url = path.format(**ids)
    data = {key: value.format(**ids) for key, value in data.items()}
    before = board_state(scene.atelier.pk)
    other_before = board_state(scene.other.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = getattr(facilitator, method)(url, data)

    assert response.status_code == 404
    assert board_state(scene.atelier.pk) == before
    assert board_state(scene.other.pk) == other_before
    assert events == []


# --- Pages that are not tied to one atelier ----------------------------------------------------


@pytest.mark.parametrize("url", ["/facilitate/", "/facilitate/new/"])
@pytest.mark.parametrize("persona", NOT_LOGGED_IN)
def test_the_facilitators_home_and_new_atelier_pages_require_an_account(request, atelier, persona, url):
    client = request.getfixturevalue(persona)
    assertRedirects(client.get(url), f"/accounts/login/?next={url}", fetch_redirect_response=False)


def test_creating_an_atelier_requires_an_account(atelier, alice):
    response = alice.post("/facilitate/new/", {"title": "Pirate", "language": "fr", "categories": ["autre"]})
    assertRedirects(response, "/accounts/login/?next=/facilitate/new/", fetch_redirect_response=False)
    assert Atelier.objects.count() == 1


@pytest.mark.parametrize("url", ["/facilitate/", "/facilitate/new/"])
def test_the_facilitators_home_and_new_atelier_pages_open_for_facilitators(facilitator, url):
    assert facilitator.get(url).status_code == 200
