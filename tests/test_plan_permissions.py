"""Who may open the plan's pages, exports and links.

- The plan page, its exports and its controls: the atelier's facilitators.
  Anyone without an account is sent to the login page; another atelier's
  facilitator gets a 404. Whoever is refused changes nothing.
- The public link: anyone holding it, until it is revoked (then a 404 at
  once, downloads included).
- A pilot's follow-up link: anyone holding it, until it is renewed; it only
  ever reaches that pilot's actions.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from pytest_django.asserts import assertRedirects

from boards import exporters
from boards.models import ActionChange, ActionStatus, Atelier, Pilot, PlanAction, Role
from boards.services import facilitation, participation, plan
from boards.services.plan import Actor, PilotChoice
from tests.conftest import post_impossible
from tests.test_plan_pages import build_scene

FORMATS = [exporter.identifier for exporter in exporters.all_exporters()]
FACILITATORS = ["facilitator", "co_facilitator"]
WITHOUT_ACCOUNT = ["anonymous", "outsider", "alice"]
EVERYONE = ["anonymous", "outsider", "alice", "facilitator", "co_facilitator", "other_facilitator"]


@pytest.fixture
def anonymous(db) -> Client:
    return Client()


@pytest.fixture
def scene(atelier, other_atelier, alice, bob, charlie, facilitator):
    scene = build_scene(atelier, alice, bob, charlie, facilitator)
    scene.token = plan.publish_plan(atelier.pk)
    scene.code = atelier.code
    return scene


def plan_state(atelier_id: int) -> dict[str, Any]:
    """Everything the plan's views could change."""
    return {
        "share_token": Atelier.objects.values_list("share_token", flat=True).get(pk=atelier_id),
        "pilots": sorted(Pilot.objects.filter(atelier_id=atelier_id).values_list("pk", "token", "show_organisation")),
        "actions": list(PlanAction.objects.filter(atelier_id=atelier_id).order_by("pk").values()),
        "history": ActionChange.objects.filter(action__atelier_id=atelier_id).count(),
    }


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # formatted with {code}, {token} (public link), {pilot}, {pilot_token}, {action}, {format}
    data: dict | None = None

    def url(self, scene, **overrides: str) -> str:
        values = {
            "code": scene.code,
            "token": scene.token,
            "pilot": scene.mayor_pilot.pk,
            "pilot_token": scene.mayor_pilot.token,
            "action": scene.meeting.pk,
            "format": "csv",
            **overrides,
        }
        return self.path.format(**values)

    def call(self, client: Client, scene, **overrides: str):
        if self.method == "get":
            return client.get(self.url(scene, **overrides))
        return client.post(self.url(scene, **overrides), self.data or {})

    def __str__(self) -> str:
        return self.name


FACILITATOR_PAGES = [
    Endpoint("plan", "get", "/a/{code}/plan/"),
    Endpoint("plan panels", "get", "/a/{code}/plan/panels/"),
    Endpoint("export", "get", "/a/{code}/plan/export/{format}/"),
]
FACILITATOR_ACTIONS = [
    Endpoint("revoke public link", "post", "/a/{code}/plan/share/", {"op": "revoke"}),
    Endpoint("renew pilot link", "post", "/a/{code}/plan/pilots/{pilot}/renew/"),
    Endpoint("carry on open actions", "post", "/a/{code}/plan/import/"),
]
PUBLIC_LINK = [
    Endpoint("public plan", "get", "/plan/{token}/"),
    Endpoint("public panels", "get", "/plan/{token}/panels/"),
    Endpoint("public export", "get", "/plan/{token}/export/{format}/"),
]
FOLLOW_UP_PAGES = [
    Endpoint("follow-up", "get", "/suivi/{pilot_token}/"),
    Endpoint("follow-up panels", "get", "/suivi/{pilot_token}/panels/"),
]
FOLLOW_UP_ACTION = Endpoint(
    "follow-up update",
    "post",
    "/suivi/{pilot_token}/actions/{action}/",
    {"status": ActionStatus.DONE, "next_step": "Réunion tenue le 3"},
)
FOLLOW_UP_CONSENT = Endpoint("follow-up consent", "post", "/suivi/{pilot_token}/observatoire/", {"show": "1"})
FOLLOW_UP_WRITES = [FOLLOW_UP_ACTION, FOLLOW_UP_CONSENT]
ALL = [*FACILITATOR_PAGES, *FACILITATOR_ACTIONS, *PUBLIC_LINK, *FOLLOW_UP_PAGES, *FOLLOW_UP_WRITES]
POST_ONLY = [*FACILITATOR_ACTIONS, *FOLLOW_UP_WRITES, Endpoint("publish", "post", "/a/{code}/plan/share/")]
GET_ONLY = [*FACILITATOR_PAGES, *PUBLIC_LINK, *FOLLOW_UP_PAGES]


def test_the_matrix_covers_every_plan_url():
    from boards.urls import urlpatterns

    plan_urls = {
        str(pattern.pattern)
        for pattern in urlpatterns
        if str(pattern.pattern).startswith(("a/<str:code>/plan/", "plan/", "suivi/"))
    }
    covered = {
        endpoint.path.removeprefix("/")
        .replace("{code}", "<str:code>")
        .replace("{format}", "<str:format>")
        .replace("{pilot}", "<int:pilot_id>")
        .replace("{pilot_token}", "<str:token>")
        .replace("{token}", "<str:token>")
        .replace("{action}", "<int:action_id>")
        for endpoint in ALL
    }
    assert plan_urls == covered


# --- Facilitators' pages -----------------------------------------------------------------------


@pytest.mark.parametrize("persona", FACILITATORS)
@pytest.mark.parametrize("endpoint", FACILITATOR_PAGES, ids=str)
def test_facilitators_of_the_atelier_open_the_plan_pages(request, scene, persona, endpoint):
    client = request.getfixturevalue(persona)
    before = plan_state(scene.atelier.pk)

    response = endpoint.call(client, scene)

    assert response.status_code == 200
    assert plan_state(scene.atelier.pk) == before


@pytest.mark.parametrize("persona", FACILITATORS)
@pytest.mark.parametrize("identifier", FORMATS)
def test_facilitators_download_every_export_format(request, scene, persona, identifier):
    client = request.getfixturevalue(persona)

    response = client.get(f"/a/{scene.code}/plan/export/{identifier}/")

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response["Cache-Control"] == "private, no-store"
    assert response.content


@pytest.mark.parametrize("persona", FACILITATORS)
def test_facilitators_revoke_the_public_link(request, scene, persona):
    client = request.getfixturevalue(persona)

    response = FACILITATOR_ACTIONS[0].call(client, scene)

    assert response.status_code == 302
    assert plan_state(scene.atelier.pk)["share_token"] is None


@pytest.mark.parametrize("persona", FACILITATORS)
def test_facilitators_renew_a_pilots_link(request, scene, persona):
    client = request.getfixturevalue(persona)
    old = scene.mayor_pilot.token

    response = FACILITATOR_ACTIONS[1].call(client, scene)

    assert response.status_code == 302
    assert Pilot.objects.get(pk=scene.mayor_pilot.pk).token != old


@pytest.mark.parametrize("persona", WITHOUT_ACCOUNT)
@pytest.mark.parametrize("endpoint", [*FACILITATOR_PAGES, *FACILITATOR_ACTIONS], ids=str)
def test_visitors_without_an_account_are_sent_to_the_login_page_and_change_nothing(
    request, scene, persona, endpoint, events, django_capture_on_commit_callbacks
):
    client = request.getfixturevalue(persona)
    before = plan_state(scene.atelier.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = endpoint.call(client, scene)

    assertRedirects(response, f"/accounts/login/?next={endpoint.url(scene)}", fetch_redirect_response=False)
    assert plan_state(scene.atelier.pk) == before
    assert events == []


@pytest.mark.parametrize("endpoint", [*FACILITATOR_PAGES, *FACILITATOR_ACTIONS], ids=str)
def test_a_facilitator_of_another_atelier_gets_a_404_and_changes_nothing(
    scene, other_facilitator, endpoint, events, django_capture_on_commit_callbacks
):
    before = plan_state(scene.atelier.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = endpoint.call(other_facilitator, scene)

    assert response.status_code == 404
    assert plan_state(scene.atelier.pk) == before
    assert events == []


def test_a_facilitator_cannot_renew_another_ateliers_pilot_through_their_own_atelier(
    scene, other_atelier, other_facilitator
):
    before = plan_state(scene.atelier.pk)

    response = other_facilitator.post(f"/a/{other_atelier.code}/plan/pilots/{scene.mayor_pilot.pk}/renew/")

    assert response.status_code == 404
    assert plan_state(scene.atelier.pk) == before


@pytest.mark.parametrize("identifier", ["exe", "CSV", "..%2Fsettings"])
def test_an_unknown_export_format_is_a_404(scene, facilitator, outsider, identifier):
    assert facilitator.get(f"/a/{scene.code}/plan/export/{identifier}/").status_code == 404
    assert outsider.get(f"/plan/{scene.token}/export/{identifier}/").status_code == 404


# --- The public link ------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", EVERYONE)
@pytest.mark.parametrize("endpoint", PUBLIC_LINK, ids=str)
def test_anyone_with_the_public_link_reads_the_plan(request, scene, persona, endpoint):
    client = request.getfixturevalue(persona)

    response = endpoint.call(client, scene)

    assert response.status_code == 200


@pytest.mark.parametrize("identifier", FORMATS)
def test_anyone_with_the_public_link_downloads_every_format(scene, anonymous, identifier):
    response = anonymous.get(f"/plan/{scene.token}/export/{identifier}/")

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response["Cache-Control"] == "private, no-store"


WRONG_TOKENS = {
    "random": lambda scene: secrets.token_urlsafe(32),
    "too long": lambda scene: "a" * 65,
    "a pilot's link": lambda scene: scene.mayor_pilot.token,
    "near miss": lambda scene: scene.token[:-1] + ("A" if scene.token[-1] != "A" else "B"),
}


@pytest.mark.parametrize("wrong", WRONG_TOKENS)
@pytest.mark.parametrize("endpoint", PUBLIC_LINK, ids=str)
def test_a_wrong_public_link_is_a_404(scene, outsider, endpoint, wrong):
    response = endpoint.call(outsider, scene, token=WRONG_TOKENS[wrong](scene))

    assert response.status_code == 404


@pytest.mark.parametrize("endpoint", PUBLIC_LINK, ids=str)
def test_a_revoked_public_link_is_a_404_at_once(scene, outsider, endpoint):
    assert endpoint.call(outsider, scene).status_code == 200  # cached panels included

    plan.revoke_plan_link(scene.atelier.pk)

    assert endpoint.call(outsider, scene).status_code == 404


def test_a_republished_plan_has_a_new_link_and_the_old_one_stays_dead(scene, outsider):
    plan.revoke_plan_link(scene.atelier.pk)
    token = plan.publish_plan(scene.atelier.pk)

    assert token != scene.token
    assert outsider.get(f"/plan/{scene.token}/").status_code == 404
    assert outsider.get(f"/plan/{token}/").status_code == 200


@pytest.mark.parametrize("identifier", FORMATS)
def test_a_revoked_public_link_stops_every_download(scene, outsider, identifier):
    plan.revoke_plan_link(scene.atelier.pk)

    assert outsider.get(f"/plan/{scene.token}/export/{identifier}/").status_code == 404


# --- A pilot's follow-up link -----------------------------------------------------------------------


@pytest.mark.parametrize("persona", EVERYONE)
@pytest.mark.parametrize("endpoint", FOLLOW_UP_PAGES, ids=str)
def test_anyone_with_a_pilots_link_opens_the_follow_up(request, scene, persona, endpoint):
    client = request.getfixturevalue(persona)

    assert endpoint.call(client, scene).status_code == 200


@pytest.mark.parametrize("persona", EVERYONE)
def test_anyone_with_a_pilots_link_updates_the_pilots_action(request, scene, persona):
    client = request.getfixturevalue(persona)

    response = FOLLOW_UP_ACTION.call(client, scene)

    assert response.status_code == 302
    assert PlanAction.objects.get(pk=scene.meeting.pk).status == ActionStatus.DONE


@pytest.mark.parametrize("persona", EVERYONE)
def test_anyone_with_a_pilots_link_sets_the_pilots_observatoire_consent(request, scene, persona):
    client = request.getfixturevalue(persona)

    response = FOLLOW_UP_CONSENT.call(client, scene)

    assert response.status_code == 302
    assert Pilot.objects.get(pk=scene.mayor_pilot.pk).show_organisation
    assert not Pilot.objects.exclude(pk=scene.mayor_pilot.pk).filter(show_organisation=True).exists()


WRONG_PILOT_TOKENS = {
    "random": lambda scene: secrets.token_urlsafe(32),
    "too long": lambda scene: "a" * 65,
    "the public link": lambda scene: scene.token,
}


@pytest.mark.parametrize("wrong", WRONG_PILOT_TOKENS)
@pytest.mark.parametrize("endpoint", [*FOLLOW_UP_PAGES, *FOLLOW_UP_WRITES], ids=str)
def test_a_wrong_follow_up_link_is_a_404_and_changes_nothing(scene, outsider, endpoint, wrong, events):
    before = plan_state(scene.atelier.pk)

    response = endpoint.call(outsider, scene, pilot_token=WRONG_PILOT_TOKENS[wrong](scene))

    assert response.status_code == 404
    assert plan_state(scene.atelier.pk) == before


@pytest.mark.parametrize("endpoint", [*FOLLOW_UP_PAGES, *FOLLOW_UP_WRITES], ids=str)
def test_a_renewed_follow_up_link_is_a_404_at_once(scene, outsider, endpoint):
    old = scene.mayor_pilot.token
    plan.renew_pilot_link(scene.atelier.pk, scene.mayor_pilot.pk)
    before = plan_state(scene.atelier.pk)

    response = endpoint.call(outsider, scene, pilot_token=old)

    assert response.status_code == 404
    assert plan_state(scene.atelier.pk) == before


@pytest.mark.parametrize(
    "data",
    [{"status": ActionStatus.DONE, "next_step": "Piraté"}, {"status": "inconnu", "next_step": "Piraté"}],
    ids=["valid", "invalid"],
)
def test_a_pilots_link_cannot_reach_another_pilots_action(
    scene, other_atelier, outsider, data, events, django_capture_on_commit_callbacks
):
    before = plan_state(scene.atelier.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = outsider.post(f"/suivi/{scene.mayor_pilot.token}/actions/{scene.training.pk}/", data)

    assert response.status_code == 404
    assert plan_state(scene.atelier.pk) == before
    assert events == []


def test_a_pilots_link_cannot_reach_an_action_of_another_atelier(scene, other_atelier, other_facilitator, outsider):
    zoe = participation.join_atelier(other_atelier, name="Zoé", organisation="", role=Role.OTHER)
    impossible = post_impossible(zoe, "Impossible ailleurs")
    facilitation.set_phase(other_atelier.pk, "plan")
    foreign = plan.create_action(
        other_atelier.pk,
        impossible.pk,
        actor=Actor.facilitator(other_facilitator.user),
        title="Action ailleurs",
        pilot=PilotChoice(participant_id=zoe.pk),
        submission_key="foreign",
    )
    before, other_before = plan_state(scene.atelier.pk), plan_state(other_atelier.pk)

    response = outsider.post(f"/suivi/{scene.mayor_pilot.token}/actions/{foreign.pk}/", FOLLOW_UP_ACTION.data)

    assert response.status_code == 404
    assert plan_state(scene.atelier.pk) == before
    assert plan_state(other_atelier.pk) == other_before


@pytest.mark.parametrize("endpoint", FOLLOW_UP_WRITES, ids=str)
def test_a_follow_up_update_needs_the_forms_csrf_token(scene, endpoint):
    # The link needs no account, so CSRF is what stops another site from
    # posting through a pilot's open browser.
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(f"/suivi/{scene.mayor_pilot.token}/")
    before = plan_state(scene.atelier.pk)

    forged = endpoint.call(browser, scene)

    assert forged.status_code == 403
    assert plan_state(scene.atelier.pk) == before
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    genuine = browser.post(endpoint.url(scene), {**endpoint.data, "csrfmiddlewaretoken": token})
    assert genuine.status_code == 302


# --- Methods -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["facilitator", "outsider"])
@pytest.mark.parametrize("endpoint", POST_ONLY, ids=str)
def test_post_only_endpoints_refuse_get(request, scene, persona, endpoint):
    client = request.getfixturevalue(persona)
    before = plan_state(scene.atelier.pk)

    response = client.get(endpoint.url(scene))

    assert response.status_code == 405
    assert plan_state(scene.atelier.pk) == before


@pytest.mark.parametrize("endpoint", GET_ONLY, ids=str)
def test_pages_refuse_post(scene, facilitator, endpoint):
    assert facilitator.post(endpoint.url(scene)).status_code == 405
