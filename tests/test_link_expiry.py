"""Pilots' follow-up links can expire (CERVEAU_PILOT_LINK_DAYS): so many days
after the latest due date of the pilot's actions, or after the link was
renewed, whichever is later. Unset, they never do. An expired link is like a
revoked one: « Ce lien ne fonctionne plus… », on the page and on its socket;
a facilitator renews it from the plan page."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.utils import timezone
from django.utils.html import escape

from boards import access
from boards.models import ActionStatus, Atelier, PlanAction, default_time_zone
from boards.services import facilitation, plan
from boards.services.plan import Actor, PilotChoice
from tests.conftest import post_impossible

GONE = "Ce lien ne fonctionne plus"


def _days(n: int) -> datetime.date:
    """n days from today in the atelier's time zone (the one its links
    expire in), read when called: a run may cross midnight."""
    today = timezone.localdate(timezone=zoneinfo.ZoneInfo(default_time_zone()))
    return today + datetime.timedelta(days=n)


@pytest.fixture
def pilot_action(atelier, alice, facilitator):
    Atelier.objects.filter(pk=atelier.pk).update(starts_at=timezone.now() - datetime.timedelta(days=400))
    impossible = post_impossible(alice.participant, "Impossible de recruter des soudeurs")
    facilitation.set_phase(atelier.pk, "plan")
    action = plan.create_action(
        atelier.pk,
        impossible.pk,
        actor=Actor.facilitator(facilitator.user),
        title="Réunir les banques",
        pilot=PilotChoice(name="Mairie de Cognac"),
        submission_key="k1",
    )
    return action


def _due(action: PlanAction, day: datetime.date | None) -> None:
    PlanAction.objects.filter(pk=action.pk).update(due_on=day)


def _follow_up(client, token: str, action: PlanAction):
    return client.post(f"/suivi/{token}/actions/{action.pk}/", {"status": ActionStatus.DONE, "next_step": "C'est fait"})


def _assert_gone(response) -> None:
    assert response.status_code == 404
    assert escape(GONE) in response.content.decode()


def test_without_the_setting_a_link_never_expires(settings, pilot_action, outsider):
    settings.PILOT_LINK_DAYS = None
    _due(pilot_action, _days(-3000))

    assert outsider.get(f"/suivi/{pilot_action.pilot.token}/").status_code == 200


def test_a_link_works_until_the_last_day_then_stops(settings, pilot_action, outsider):
    settings.PILOT_LINK_DAYS = 30
    token = pilot_action.pilot.token
    _due(pilot_action, _days(-30))
    assert outsider.get(f"/suivi/{token}/").status_code == 200

    _due(pilot_action, _days(-31))

    _assert_gone(outsider.get(f"/suivi/{token}/"))
    _assert_gone(outsider.get(f"/suivi/{token}/panels/"))
    _assert_gone(_follow_up(outsider, token, pilot_action))
    assert PlanAction.objects.get(pk=pilot_action.pk).status == ActionStatus.TODO
    assert access.viewer_for_link("suivi", token) is None  # its socket is refused (4404): the banner


def test_the_latest_due_date_of_the_pilots_actions_counts(settings, pilot_action, alice, facilitator, outsider):
    settings.PILOT_LINK_DAYS = 30
    later = plan.create_action(
        pilot_action.atelier_id,
        pilot_action.impossible_id,
        actor=Actor.facilitator(facilitator.user),
        title="Deuxième action",
        pilot=PilotChoice(name="Mairie de Cognac"),
        submission_key="k2",
    )
    assert later.pilot_id == pilot_action.pilot_id
    _due(pilot_action, _days(-100))
    _due(later, _days(-10))

    assert outsider.get(f"/suivi/{pilot_action.pilot.token}/").status_code == 200


def test_actions_without_a_due_date_count_from_the_atelier(settings, pilot_action, outsider):
    settings.PILOT_LINK_DAYS = 30
    _due(pilot_action, None)

    # The atelier was 400 days ago.
    _assert_gone(outsider.get(f"/suivi/{pilot_action.pilot.token}/"))

    Atelier.objects.filter(pk=pilot_action.atelier_id).update(starts_at=timezone.now() - datetime.timedelta(days=5))
    assert outsider.get(f"/suivi/{pilot_action.pilot.token}/").status_code == 200


def test_a_facilitator_renews_an_expired_link_for_the_same_number_of_days(
    settings, pilot_action, facilitator, outsider
):
    settings.PILOT_LINK_DAYS = 30
    _due(pilot_action, _days(-200))
    pilot = pilot_action.pilot
    code = pilot_action.atelier.code
    page = facilitator.get(f"/a/{code}/plan/").content.decode()
    assert "Lien expiré" in page

    response = facilitator.post(f"/a/{code}/plan/pilots/{pilot.pk}/renew/")

    assert response.status_code == 302
    pilot.refresh_from_db()
    assert outsider.get(f"/suivi/{pilot.token}/").status_code == 200
    assert _follow_up(outsider, pilot.token, pilot_action).status_code == 302
    page = facilitator.get(f"/a/{code}/plan/").content.decode()
    assert "Lien expiré" not in page
    assert "Valable jusqu'au" in page


def test_a_revoked_or_unknown_link_says_it_no_longer_works(pilot_action, facilitator, outsider):
    old = pilot_action.pilot.token
    plan.renew_pilot_link(pilot_action.atelier_id, pilot_action.pilot_id)

    _assert_gone(outsider.get(f"/suivi/{old}/"))
    _assert_gone(outsider.get("/plan/inconnu/"))
