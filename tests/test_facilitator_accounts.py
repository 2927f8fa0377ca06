"""Facilitators' accounts seen from outside: password rules, the names the
public sees, and the co-facilitator invitation that tells nobody which
accounts exist.

- Passwords: 12 characters at least, not a common one, not only digits, not
  close to the user's name or e-mail (password change, reset, the admin).
- A login name is half of a credential: public pages and exports show a
  facilitator's full name, or « l'équipe d'animation », never it.
- Inviting a co-facilitator by user name or e-mail records an invitation and
  answers the same whether an account matches or not; the person sees it in
  « Mes ateliers » and accepts it. The team list shows full names, e-mail
  addresses or what the inviter typed, never a login name.
"""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils.html import escape
from pytest_django.asserts import assertContains, assertNotContains

from boards import exporters
from boards.models import ActionChange, Atelier, Invitation
from boards.services import facilitation, plan
from boards.services.plan import Actor, PilotChoice
from tests.conftest import post_impossible

GOOD = "Cognac-Jarnac-2031"
OLD = "Soudure-TIG-2030"
TEAM = "l'équipe d'animation"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- Password rules ---------------------------------------------------------------------------------


@pytest.fixture
def fanny_logged_in(atelier) -> Client:
    user = User.objects.create_user("fanny", email="fanny.dupont@example.org", password=OLD)
    atelier.facilitators.add(user)
    client = Client()
    client.force_login(user)
    client.user = user
    return client


WEAK = [
    ("a", "trop court"),
    ("Court-2031", "trop court"),
    ("123456789012345", "entièrement numérique"),
    ("password1234", "trop courant"),
    ("fanny.dupont@example", "trop semblable"),
]


@pytest.mark.parametrize(("password", "why"), WEAK, ids=[why for _password, why in WEAK])
def test_changing_to_a_weak_password_is_refused_with_the_reason(fanny_logged_in, password, why):
    response = fanny_logged_in.post(
        "/accounts/password_change/",
        {"old_password": OLD, "new_password1": password, "new_password2": password},
    )

    assert response.status_code == 200
    assert why in response.content.decode()
    fanny_logged_in.user.refresh_from_db()
    assert fanny_logged_in.user.check_password(OLD)


def test_a_long_uncommon_password_is_accepted(fanny_logged_in):
    response = fanny_logged_in.post(
        "/accounts/password_change/", {"old_password": OLD, "new_password1": GOOD, "new_password2": GOOD}
    )

    assert response.status_code == 302
    fanny_logged_in.user.refresh_from_db()
    assert fanny_logged_in.user.check_password(GOOD)


@pytest.fixture
def organiser(db) -> Client:
    user = User.objects.create_superuser("orga", "orga@example.org", "pw-orga-123")
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_refuses_a_weak_password_for_a_new_account(organiser):
    response = organiser.post(
        "/admin/auth/user/add/",
        {"username": "nadia", "usable_password": "true", "password1": "a", "password2": "a"},
    )

    assert response.status_code == 200
    assert "trop court" in response.content.decode()
    assert not User.objects.filter(username="nadia").exists()

    response = organiser.post(
        "/admin/auth/user/add/",
        {"username": "nadia", "usable_password": "true", "password1": GOOD, "password2": GOOD},
    )

    assert response.status_code == 302
    assert User.objects.get(username="nadia").check_password(GOOD)


def test_the_admin_refuses_a_weak_password_when_changing_one(organiser):
    nadia = User.objects.create_user("nadia", password=OLD)
    url = f"/admin/auth/user/{nadia.pk}/password/"

    response = organiser.post(url, {"password1": "a", "password2": "a"})

    assert response.status_code == 200
    assert "trop court" in response.content.decode()
    nadia.refresh_from_db()
    assert nadia.check_password(OLD)

    assert organiser.post(url, {"password1": GOOD, "password2": GOOD}).status_code == 302
    nadia.refresh_from_db()
    assert nadia.check_password(GOOD)


# --- The names the public sees ------------------------------------------------------------------------


@pytest.fixture
def planned(atelier, alice, facilitator):
    """A published plan with one action; Fanny (no full name) made it."""
    impossible = post_impossible(alice.participant, "Impossible de recruter des soudeurs")
    facilitation.set_phase(atelier.pk, "plan")
    action = plan.create_action(
        atelier.pk,
        impossible.pk,
        actor=Actor.facilitator(facilitator.user),
        title="Monter une formation soudure",
        pilot=PilotChoice(name="Mairie de Cognac"),
        due_on=None,
        submission_key="k-action",
    )
    plan.update_action(atelier.pk, action.pk, actor=Actor.facilitator(facilitator.user), next_step="Appeler le CFA")
    token = plan.publish_plan(atelier.pk)
    return atelier, action, token


def _public_texts(client: Client, atelier: Atelier, action, token: str) -> dict[str, str]:
    texts = {
        "public plan": client.get(f"/plan/{token}/").content.decode(),
        "public panels": client.get(f"/plan/{token}/panels/").content.decode(),
        "follow-up": client.get(f"/suivi/{action.pilot.token}/").content.decode(),
        "projector": "",
    }
    for exporter in exporters.all_exporters():
        if exporter.identifier in ("pdf", "xlsx"):
            continue  # binary: read through the plan they are built from below
        response = client.get(f"/plan/{token}/export/{exporter.identifier}/")
        assert response.status_code == 200
        texts[exporter.identifier] = response.content.decode("utf-8-sig")
    return texts


def test_public_pages_and_exports_never_show_a_login_name(planned, outsider, facilitator):
    atelier, action, token = planned

    texts = _public_texts(outsider, atelier, action, token)
    texts["projector"] = facilitator.get(f"/a/{atelier.code}/projector/").content.decode()

    for where, text in texts.items():
        assert not re.search(r"\bfanny\b", text), f"the login name shows on the {where}"
    assert escape(TEAM) in texts["public plan"]
    assert json.loads(texts["json"])["atelier"]["facilitators"] == [TEAM]
    assert TEAM in texts["md"]


def test_a_facilitator_with_a_full_name_is_shown_by_it(planned, outsider, facilitator):
    atelier, _action, token = planned
    User.objects.filter(pk=facilitator.user.pk).update(first_name="Fanny", last_name="Dupont")
    colin = User.objects.create_user("colin", email="colin@example.org")
    atelier.facilitators.add(colin)

    document = json.loads(outsider.get(f"/plan/{token}/export/json/").content)

    assert document["atelier"]["facilitators"] == ["Fanny Dupont", TEAM]
    assert "colin" not in json.dumps(document)


def test_an_email_used_as_login_name_is_not_shown_either(planned, outsider, facilitator):
    _atelier, _action, token = planned
    User.objects.filter(pk=facilitator.user.pk).update(username="fanny.dupont@example.org")

    page = outsider.get(f"/plan/{token}/").content.decode()

    assert "fanny.dupont" not in page


def test_the_history_keeps_no_login_name_for_a_facilitator_without_a_full_name(planned, facilitator):
    atelier, action, _token = planned

    assert set(ActionChange.objects.filter(action=action).values_list("by_name", flat=True)) == {""}
    page = facilitator.get(f"/a/{atelier.code}/plan/").content.decode()
    history = page[page.index('class="plan-history"') :]
    assert "fanny" not in history
    assert "Animation" in history


# --- Inviting a co-facilitator -------------------------------------------------------------------------


@pytest.fixture
def nadia(db) -> User:
    return User.objects.create_user("nadia.m", email="nadia.martin@example.org", password=GOOD)


def _invite(client: Client, who: str):
    return client.post("/a/TST234/console/team/", {"who": who}, follow=True)


def _team_section(response) -> str:
    page = response.content.decode()
    return page[page.index('id="team-title"') :]


@pytest.mark.parametrize("who", ["nadia.martin@example.org", "personne@example.org", "nadia.m", "personne"])
def test_inviting_answers_the_same_whether_an_account_exists_or_not(facilitator, atelier, nadia, who):
    response = _invite(facilitator, who)

    assert response.status_code == 200
    message = f"Invitation enregistrée pour « {who} »"
    assertContains(response, escape(message))
    team = _team_section(response)
    assert escape(who) in team
    if who != "nadia.m":
        assert not re.search(r"nadia\.m(?!artin)", team)
    assert "Aucun compte" not in response.content.decode()
    assert list(atelier.facilitators.all()) == [facilitator.user]


def test_the_two_answers_differ_only_by_what_was_typed(facilitator, atelier, nadia):
    known = _team_section(_invite(facilitator, "nadia.martin@example.org"))
    Invitation.objects.all().delete()
    unknown = _team_section(_invite(facilitator, "zoe.inconnue@example.org"))

    def strip(html: str) -> str:
        html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
        return re.sub(r'value="\d+"', "", html)

    assert strip(known).replace("nadia.martin@example.org", "X") == strip(unknown).replace(
        "zoe.inconnue@example.org", "X"
    )


def test_the_invited_person_sees_the_invitation_and_accepts_it(facilitator, atelier, nadia):
    _invite(facilitator, " Nadia.Martin@Example.org ")
    invitee = Client()
    invitee.force_login(nadia)

    home = invitee.get("/facilitate/")
    assertContains(home, escape(atelier.title))
    invitation = Invitation.objects.get()
    response = invitee.post(f"/facilitate/invitations/{invitation.pk}/", {"op": "accept"}, follow=True)

    assertContains(response, "Vous co-animez maintenant")
    assert set(atelier.facilitators.all()) == {facilitator.user, nadia}
    assert not Invitation.objects.exists()
    assert invitee.get("/a/TST234/console/").status_code == 200
    # The team list shows her e-mail address, not her login name.
    team = _team_section(facilitator.get("/a/TST234/console/settings/"))
    assert "nadia.martin@example.org" in team
    assert "nadia.m<" not in team and "(nadia.m)" not in team


def test_an_invitation_by_login_name_reaches_the_account_too(facilitator, atelier, nadia):
    _invite(facilitator, "NADIA.M")
    invitee = Client()
    invitee.force_login(nadia)

    response = invitee.post(f"/facilitate/invitations/{Invitation.objects.get().pk}/", {"op": "accept"})

    assert response.status_code == 302
    assert nadia in atelier.facilitators.all()


def test_declining_an_invitation_removes_it(facilitator, atelier, nadia):
    _invite(facilitator, "nadia.martin@example.org")
    invitee = Client()
    invitee.force_login(nadia)

    invitee.post(f"/facilitate/invitations/{Invitation.objects.get().pk}/", {"op": "decline"})

    assert not Invitation.objects.exists()
    assert list(atelier.facilitators.all()) == [facilitator.user]


def test_someone_else_cannot_accept_an_invitation_that_is_not_theirs(facilitator, atelier, nadia, other_facilitator):
    _invite(facilitator, "nadia.martin@example.org")

    response = other_facilitator.post(f"/facilitate/invitations/{Invitation.objects.get().pk}/", {"op": "accept"})

    assert response.status_code == 404
    assert other_facilitator.user not in atelier.facilitators.all()
    assertNotContains(other_facilitator.get("/facilitate/"), escape(atelier.title))


def test_the_inviter_can_withdraw_a_pending_invitation(facilitator, atelier):
    _invite(facilitator, "personne@example.org")

    response = facilitator.post("/a/TST234/console/team/", {"cancel": Invitation.objects.get().pk}, follow=True)

    assert not Invitation.objects.exists()
    assert "personne@example.org" not in _team_section(response)


def test_an_empty_or_multiline_invitation_is_refused(facilitator, atelier):
    for who in ("", "   ", "a@example.org\nb@example.org"):
        response = _invite(facilitator, who)
        assert response.status_code == 200
        assert not Invitation.objects.exists()
    assertContains(response, "une seule ligne")
