"""Actions of the plan: turning an impossible into actions with a pilot,
helpers, a next step and a due date; who may do it, when; what bad input
gets; the history each change leaves; and the live update it sends."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from boards.access import working_pilot
from boards.live import messages
from boards.models import ActionChange, ActionStatus, Atelier, HelpKind, Pilot, PlanAction
from boards.services import facilitation as facilitation_services
from boards.services.core import NotFound, Refused
from boards.services.participation import offer_help
from boards.services.plan import Actor, PilotChoice, create_action, delete_action, follow_up, update_action
from tests.conftest import post_impossible

DUE = datetime.date(2031, 3, 31)


@pytest.fixture
def board(atelier, alice, bob, charlie):
    """Alice's impossible with two offers, the atelier in the plan phase."""
    impossible = post_impossible(alice.participant, "Impossible de recruter des soudeurs à Cognac")
    offers = [
        offer_help(
            person.participant,
            impossible.pk,
            kind=HelpKind.INTRODUCTION,
            message=f"Je connais quelqu'un ({person.participant.name})",
            contact=f"{person.participant.name.lower()}@example.org",
            submission_key=f"offer-{person.participant.pk}",
        )
        for person in (bob, charlie)
    ]
    facilitation_services.set_phase(atelier.pk, "plan")
    user = User.objects.create_user("fanny-services", first_name="Fanny", last_name="Services")
    return impossible, offers, Actor.facilitator(user)


def _create(atelier, impossible, actor, **extra):
    fields = {
        "title": "Réunir les soudeurs retraités du bassin",
        "pilot": PilotChoice(name="Mairie de Cognac", organisation="Service économie"),
        "submission_key": "k1",
        **extra,
    }
    return create_action(atelier.pk, impossible.pk, actor=actor, **fields)


# --- Creating ---------------------------------------------------------------------------


def test_a_facilitator_turns_an_impossible_into_an_action_with_helpers(atelier, bob, board):
    impossible, offers, actor = board

    action = _create(
        atelier,
        impossible,
        actor,
        pilot=PilotChoice(participant_id=bob.participant.pk),
        helpers=[offers[0].pk],
        next_step="Appeler le CFA",
        due_on=DUE,
    )

    action.refresh_from_db()
    assert action.impossible == impossible
    assert action.pilot.participant == bob.participant
    assert action.pilot.display_name == bob.participant.name
    assert list(action.accepted_offers.all()) == [offers[0]]
    assert (action.next_step, action.due_on, action.status) == ("Appeler le CFA", DUE, ActionStatus.TODO)
    [change] = action.changes.all()
    assert change.created and change.by_kind == "animation" and change.by_name == "Fanny Services"


def test_one_impossible_may_give_several_actions(atelier, board):
    impossible, _offers, actor = board
    _create(atelier, impossible, actor, submission_key="a")
    _create(atelier, impossible, actor, title="Monter une formation", submission_key="b")
    assert impossible.actions.count() == 2


def test_a_repeated_submission_creates_the_action_once(atelier, board, events, django_capture_on_commit_callbacks):
    impossible, _offers, actor = board
    with django_capture_on_commit_callbacks(execute=True):
        first = _create(atelier, impossible, actor)
        again = _create(atelier, impossible, actor)
    assert first.pk == again.pk
    assert PlanAction.objects.count() == 1
    assert ActionChange.objects.count() == 1
    assert [event["type"] for _a, _v, event in events] == ["action.changed"]


def test_the_same_free_text_pilot_is_one_pilot_with_one_link(atelier, board):
    impossible, _offers, actor = board
    first = _create(atelier, impossible, actor, submission_key="a")
    second = _create(
        atelier, impossible, actor, submission_key="b", pilot=PilotChoice(name="mairie de cognac", organisation="")
    )
    third = _create(
        atelier,
        impossible,
        actor,
        submission_key="c",
        pilot=PilotChoice(name="MAIRIE DE COGNAC", organisation="service économie"),
    )
    assert first.pilot_id == third.pilot_id != second.pilot_id
    assert Pilot.objects.count() == 2


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"next_step": "x" * 501}, "next_step"),
        ({"due_on": "31/02/2031"}, "due_on"),
        ({"due_on": "demain"}, "due_on"),
        ({"due_on": datetime.date(2001, 1, 1)}, "due_on"),
        ({"due_on": datetime.date(2090, 1, 1)}, "due_on"),
        ({"status": "bientot"}, "status"),
        ({"pilot": PilotChoice()}, "pilot"),
        ({"pilot": PilotChoice(name="x" * 61)}, "pilot"),
        ({"pilot": PilotChoice(participant_id=999999)}, "pilot"),
        ({"helpers": ["abc"]}, "helpers"),
        ({"helpers": [999999]}, "helpers"),
        ({"submission_key": ""}, "submission_key"),
    ],
)
def test_bad_input_gets_a_clear_message_and_nothing_is_saved(atelier, board, events, extra, field):
    impossible, _offers, actor = board
    with pytest.raises(ValidationError) as error:
        _create(atelier, impossible, actor, **extra)
    assert field in error.value.message_dict
    assert all(message.strip() for message in error.value.message_dict[field])
    assert not PlanAction.objects.exists() and not Pilot.objects.exists() and not ActionChange.objects.exists()
    assert events == []


def test_a_participant_of_another_atelier_cannot_be_the_pilot(atelier, other_atelier, board):
    impossible, _offers, actor = board
    stranger = facilitation_services.Atelier.objects.get(pk=other_atelier.pk).participants.create(
        name="Zoé", role="autre"
    )
    with pytest.raises(ValidationError) as error:
        _create(atelier, impossible, actor, pilot=PilotChoice(participant_id=stranger.pk))
    assert "pilot" in error.value.message_dict
    assert not PlanAction.objects.exists()


def test_an_offer_made_on_another_impossible_cannot_be_accepted(atelier, alice, bob, board):
    impossible, _offers, actor = board
    facilitation_services.set_phase(atelier.pk, "impossibles")
    elsewhere = post_impossible(alice.participant, "Impossible de trouver un local")
    foreign_offer = offer_help(bob.participant, elsewhere.pk, kind="expertise", message="Moi", submission_key="z")
    facilitation_services.set_phase(atelier.pk, "plan")
    with pytest.raises(ValidationError) as error:
        _create(atelier, impossible, actor, helpers=[foreign_offer.pk])
    assert "helpers" in error.value.message_dict
    assert not PlanAction.objects.exists()


def test_a_hidden_offer_cannot_be_accepted(atelier, board):
    impossible, offers, actor = board
    facilitation_services.set_offer_hidden(atelier.pk, offers[0].pk, hidden=True)
    with pytest.raises(ValidationError):
        _create(atelier, impossible, actor, helpers=[offers[0].pk])
    assert not PlanAction.objects.exists()


def test_an_action_on_a_hidden_impossible_is_refused_with_a_message(atelier, board):
    impossible, _offers, actor = board
    facilitation_services.set_impossible_hidden(atelier.pk, impossible.pk, hidden=True)
    with pytest.raises(ValidationError) as error:
        _create(atelier, impossible, actor)
    assert "masqué" in " ".join(error.value.messages)
    assert not PlanAction.objects.exists()


def test_an_action_on_a_merged_impossible_is_refused_and_names_the_kept_one(atelier, bob, board):
    impossible, _offers, actor = board
    facilitation_services.set_phase(atelier.pk, "impossibles")
    duplicate = post_impossible(bob.participant, "Pas de soudeurs")
    facilitation_services.merge_impossibles(atelier.pk, impossible.pk, duplicate.pk)
    facilitation_services.set_phase(atelier.pk, "plan")
    with pytest.raises(ValidationError) as error:
        _create(atelier, duplicate, actor)
    assert impossible.statement in " ".join(error.value.messages)
    assert not PlanAction.objects.exists()


def test_an_impossible_of_another_atelier_is_not_found(atelier, other_atelier, board):
    _impossible, _offers, actor = board
    stranger = other_atelier.participants.create(name="Zoé", role="autre")
    facilitation_services.set_phase(other_atelier.pk, "impossibles")
    foreign = post_impossible(stranger, "Ailleurs")
    with pytest.raises(NotFound):
        _create(atelier, foreign, actor)


# --- When, and who ------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["accueil", "impossibles", "moi_aussi", "entraide"])
def test_facilitators_plan_only_from_the_plan_phase_on(atelier, board, phase):
    impossible, _offers, actor = board
    facilitation_services.set_phase(atelier.pk, phase)
    with pytest.raises(Refused) as error:
        _create(atelier, impossible, actor)
    assert "Plan d'action" in error.value.messages[0]
    assert not PlanAction.objects.exists()


def test_facilitators_keep_tidying_the_plan_once_the_atelier_is_closed(atelier, board):
    impossible, _offers, actor = board
    facilitation_services.set_phase(atelier.pk, "clos")
    assert _create(atelier, impossible, actor).pk


def test_an_author_plans_their_own_impossible_only_when_allowed(atelier, alice, board):
    impossible, _offers, _actor = board
    author = Actor.author(alice.participant)
    with pytest.raises(Refused):
        _create(atelier, impossible, author)
    facilitation_services.set_authors_can_plan(atelier.pk, True)
    action = _create(atelier, impossible, author)
    assert action.changes.get().by_kind == "auteur"


def test_an_author_cannot_plan_someone_elses_impossible(atelier, bob, board):
    impossible, _offers, _actor = board
    facilitation_services.set_authors_can_plan(atelier.pk, True)
    with pytest.raises(NotFound):
        _create(atelier, impossible, Actor.author(bob.participant))


@pytest.mark.parametrize("change", [{"phase": "clos"}, {"locked": True}])
def test_authors_stop_planning_when_the_phase_ends_or_the_board_is_locked(atelier, alice, board, change):
    impossible, _offers, _actor = board
    facilitation_services.set_authors_can_plan(atelier.pk, True)
    if "phase" in change:
        facilitation_services.set_phase(atelier.pk, change["phase"])
    else:
        facilitation_services.set_locked(atelier.pk, True)
    with pytest.raises(Refused):
        _create(atelier, impossible, Actor.author(alice.participant))


# --- Changing, following up -----------------------------------------------------------------


def test_an_update_records_who_changed_what(atelier, bob, board):
    impossible, offers, actor = board
    action = _create(atelier, impossible, actor)

    update_action(
        atelier.pk,
        action.pk,
        actor=actor,
        status=ActionStatus.IN_PROGRESS,
        due_on=DUE,
        helpers=[offers[1].pk],
        pilot=PilotChoice(participant_id=bob.participant.pk),
    )

    latest = action.changes.first()
    assert latest.by_name == "Fanny Services" and not latest.created
    assert {change["field"] for change in latest.changes} == {"status", "due_on", "helpers", "pilot"}
    lines = {line["field"]: (line["old"], line["new"]) for line in latest.lines()}
    assert lines["statut"] == ("À lancer", "En cours")
    assert lines["échéance"] == ("—", "31 mars 2031")
    assert lines["aides retenues"] == ("—", "Charlie")
    assert lines["pilote"] == ("Mairie de Cognac (Service économie)", "Bob (Bob SARL)")


def test_an_update_that_changes_nothing_leaves_no_history_and_no_event(
    atelier, board, events, django_capture_on_commit_callbacks
):
    impossible, _offers, actor = board
    action = _create(atelier, impossible, actor)
    version = atelier.__class__.objects.get(pk=atelier.pk).version
    with django_capture_on_commit_callbacks(execute=True):
        update_action(atelier.pk, action.pk, actor=actor, title=action.title, status=action.status)
    assert action.changes.count() == 1
    assert events == []
    assert atelier.__class__.objects.get(pk=atelier.pk).version == version


def test_a_pilot_follows_up_through_their_link_even_after_the_atelier(atelier, board):
    impossible, _offers, actor = board
    action = _create(atelier, impossible, actor)
    facilitation_services.set_phase(atelier.pk, "clos")

    follow_up(action.pilot, action.pk, status=ActionStatus.DONE, next_step="Première embauche le 3 mai")
    follow_up(action.pilot, action.pk, status=ActionStatus.DONE, next_step="Première embauche le 3 mai")

    action.refresh_from_db()
    assert action.status == ActionStatus.DONE
    latest = action.changes.first()
    assert latest.by_kind == "pilote" and latest.by_name == "Mairie de Cognac"
    assert action.changes.count() == 2  # the repeat changed nothing


def test_a_pilot_link_only_reaches_that_pilots_actions(atelier, board):
    impossible, _offers, actor = board
    mine = _create(atelier, impossible, actor, submission_key="a")
    theirs = _create(atelier, impossible, actor, submission_key="b", pilot=PilotChoice(name="Pôle emploi"))
    with pytest.raises(NotFound):
        follow_up(mine.pilot, theirs.pk, status=ActionStatus.DONE, next_step="")
    # A link that names no pilot reaches no pilot (boards.access, tested over HTTP in test_plan_permissions).
    assert working_pilot("not-a-token") is None
    assert working_pilot(mine.pilot.token) == mine.pilot
    theirs.refresh_from_db()
    assert theirs.status == ActionStatus.TODO


def test_a_pilot_cannot_change_anything_but_status_and_next_step(atelier, board):
    impossible, _offers, actor = board
    action = _create(atelier, impossible, actor)
    with pytest.raises(ValueError, match="pilots"):
        update_action(atelier.pk, action.pk, actor=Actor.pilot(action.pilot), title="Autre chose")


def test_deleting_an_action_is_safe_to_repeat(atelier, board, events, django_capture_on_commit_callbacks):
    impossible, _offers, actor = board
    action = _create(atelier, impossible, actor)
    with django_capture_on_commit_callbacks(execute=True):
        delete_action(atelier.pk, action.pk, actor=actor)
        delete_action(atelier.pk, action.pk, actor=actor)
    assert not PlanAction.objects.exists()
    assert [event["type"] for _a, _v, event in events] == ["action.changed"]


def test_merging_moves_the_actions_to_the_kept_impossible(atelier, bob, board):
    impossible, _offers, actor = board
    facilitation_services.set_phase(atelier.pk, "impossibles")
    duplicate = post_impossible(bob.participant, "Pas de soudeurs")
    facilitation_services.set_phase(atelier.pk, "plan")
    action = _create(atelier, duplicate, actor)
    facilitation_services.merge_impossibles(atelier.pk, impossible.pk, duplicate.pk)
    action.refresh_from_db()
    assert action.impossible_id == impossible.pk


# --- Live -------------------------------------------------------------------------------


def test_an_action_is_pushed_into_the_impossibles_card(atelier, board):
    impossible, _offers, actor = board
    action = _create(atelier, impossible, actor, due_on=DUE)
    version = atelier.__class__.objects.get(pk=atelier.pk).version

    rendered = messages.event_messages(
        atelier.pk, version, {"type": "action.changed", "impossible": impossible.pk, "action": action.pk}
    )

    french = rendered["fr"]
    assert f'id="imp-{impossible.pk}-actions"' in french and 'hx-swap-oob="true"' in french
    assert "Réunir les soudeurs retraités du bassin" in french
    assert "Mairie de Cognac" in french and "31 mars 2031" in french
    assert "À lancer" in french
    assert "To start" in rendered["en"] or "À lancer" not in rendered["en"]


def test_the_board_page_shows_the_actions_on_each_card(atelier, alice, board):
    impossible, _offers, actor = board
    _create(atelier, impossible, actor, title="Monter une formation <b>soudure</b>")
    page = alice.get(f"/a/{atelier.code}/").content.decode()
    assert f'id="imp-{impossible.pk}-actions"' in page
    assert "Monter une formation &lt;b&gt;soudure&lt;/b&gt;" in page


# --- Through the pages --------------------------------------------------------------------


def _form(bob, **extra):
    return {
        "title": "Réunir les soudeurs retraités du bassin",
        "pilot_participant": str(bob.participant.pk),
        "pilot_name": "",
        "pilot_organisation": "",
        "next_step": "Appeler le CFA",
        "due_on": "2031-03-31",
        "status": "a_lancer",
        "submission_key": "page-1",
        **extra,
    }


def test_the_facilitators_form_creates_the_action_and_goes_back_to_the_console(atelier, bob, board, facilitator):
    impossible, offers, _actor = board
    url = f"/a/{atelier.code}/console/impossibles/{impossible.pk}/actions/new/"
    page = facilitator.get(url).content.decode()
    assert "Impossible de recruter des soudeurs à Cognac" in page
    assert offers[0].message.replace("'", "&#x27;") in page

    response = facilitator.post(url, _form(bob, helpers=[str(offers[0].pk)]))

    assert response.status_code == 302 and response["Location"] == f"/a/{atelier.code}/console/"
    action = PlanAction.objects.get()
    assert action.pilot.participant == bob.participant and action.due_on == DUE
    assert list(action.accepted_offers.all()) == [offers[0]]


def test_a_french_date_is_understood(atelier, bob, board, facilitator):
    impossible, _offers, _actor = board
    url = f"/a/{atelier.code}/console/impossibles/{impossible.pk}/actions/new/"
    facilitator.post(url, _form(bob, due_on="31/03/2031"))
    assert PlanAction.objects.get().due_on == DUE


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"due_on": "31/02/2031"}, "Date invalide"),
        ({"due_on": "2001-01-01"}, "ne peut pas précéder"),
        ({"pilot_participant": "", "pilot_name": ""}, "qui pilote"),
        ({"pilot_participant": "999999"}, "Sélectionnez un choix valide"),
        ({"title": ""}, "titre"),
        ({"helpers": ["999999"]}, "Sélectionnez un choix valide"),
        ({"status": "bientot"}, "Sélectionnez un choix valide"),
    ],
)
def test_the_form_says_what_is_wrong_and_saves_nothing(atelier, bob, board, facilitator, extra, message):
    impossible, _offers, _actor = board
    url = f"/a/{atelier.code}/console/impossibles/{impossible.pk}/actions/new/"
    response = facilitator.post(url, _form(bob, **extra))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not PlanAction.objects.exists()


def test_the_form_on_a_hidden_impossible_explains_instead_of_offering_a_form(atelier, board, facilitator):
    impossible, _offers, _actor = board
    facilitation_services.set_impossible_hidden(atelier.pk, impossible.pk, hidden=True)
    page = facilitator.get(f"/a/{atelier.code}/console/impossibles/{impossible.pk}/actions/new/").content.decode()
    assert "masqué" in page and 'name="title"' not in page


def test_the_form_outside_the_plan_phase_says_when_to_come_back(atelier, bob, board, facilitator):
    impossible, _offers, _actor = board
    facilitation_services.set_phase(atelier.pk, "entraide")
    url = f"/a/{atelier.code}/console/impossibles/{impossible.pk}/actions/new/"
    assert "se construisent pendant la phase" in facilitator.get(url).content.decode()
    response = facilitator.post(url, _form(bob))
    assert response.status_code == 422
    assert not PlanAction.objects.exists()


def test_editing_through_the_page_shows_the_history(atelier, bob, board, facilitator):
    impossible, _offers, actor = board
    action = _create(atelier, impossible, actor)
    url = f"/a/{atelier.code}/console/actions/{action.pk}/"

    response = facilitator.post(url, _form(bob, status="en_cours", submission_key=""))

    assert response.status_code == 302
    page = facilitator.get(url).content.decode()
    assert "À lancer" in page and "En cours" in page and "Animation" in page
    assert "fanny" not in page  # no full name: never the login name
    assert "Action créée." in page


def test_an_author_allowed_to_plan_creates_an_action_from_their_phone(atelier, alice, bob, board):
    impossible, _offers, _actor = board
    detail = f"/a/{atelier.code}/impossibles/{impossible.pk}/"
    url = f"/a/{atelier.code}/impossibles/{impossible.pk}/actions/new/"
    assert url not in alice.get(detail).content.decode()
    facilitation_services.set_authors_can_plan(atelier.pk, True)
    assert url in alice.get(detail).content.decode()

    response = alice.post(url, _form(bob))

    assert response.status_code == 302 and response["Location"] == detail
    assert PlanAction.objects.get().changes.get().by_kind == "auteur"


def test_other_participants_do_not_reach_the_authors_form(atelier, bob, board):
    impossible, _offers, actor = board
    facilitation_services.set_authors_can_plan(atelier.pk, True)
    action = _create(atelier, impossible, actor)
    assert bob.get(f"/a/{atelier.code}/impossibles/{impossible.pk}/actions/new/").status_code == 404
    assert bob.post(f"/a/{atelier.code}/impossibles/{impossible.pk}/actions/new/", _form(bob)).status_code == 404
    assert bob.post(f"/a/{atelier.code}/actions/{action.pk}/", _form(bob, title="Pris")).status_code == 404
    assert PlanAction.objects.get().title == action.title


def test_a_next_url_elsewhere_is_ignored(atelier, bob, board, facilitator):
    impossible, _offers, _actor = board
    url = f"/a/{atelier.code}/console/impossibles/{impossible.pk}/actions/new/"
    response = facilitator.post(url, _form(bob, next="https://evil.example/"))
    assert response["Location"] == f"/a/{atelier.code}/console/"


def test_deleting_an_atelier_deletes_its_plan(atelier, board):
    impossible, _offers, actor = board
    _create(atelier, impossible, actor)
    facilitation_services.delete_atelier(atelier)
    assert not PlanAction.objects.exists() and not Pilot.objects.exists() and not ActionChange.objects.exists()


def test_the_facilitators_list_counts_done_in_progress_and_overdue_actions(atelier, board, facilitator):
    impossible, _offers, actor = board
    Atelier.objects.filter(pk=atelier.pk).update(starts_at=datetime.datetime(2024, 3, 1, 18, 30, tzinfo=datetime.UTC))
    late = datetime.date(2024, 4, 1)
    _create(atelier, impossible, actor, submission_key="a", status=ActionStatus.DONE, due_on=late)
    _create(atelier, impossible, actor, submission_key="b", status=ActionStatus.IN_PROGRESS, due_on=late)
    _create(atelier, impossible, actor, submission_key="c", status=ActionStatus.TODO, due_on=late)
    _create(atelier, impossible, actor, submission_key="d", status=ActionStatus.IN_PROGRESS, due_on=None)

    page = facilitator.get("/facilitate/").content.decode()

    assert "4 actions" in page
    assert "1 faite" in page and "2 en cours" in page and "2 en retard" in page


def test_phones_get_the_public_plan_link_once_published(atelier, alice, board):
    from boards.services.plan import publish_plan, revoke_plan_link

    assert "/plan/" not in alice.get(f"/a/{atelier.code}/").content.decode()
    token = publish_plan(atelier.pk)
    assert f"/plan/{token}/" in alice.get(f"/a/{atelier.code}/").content.decode()
    version = Atelier.objects.get(pk=atelier.pk).version
    pushed = messages.event_messages(atelier.pk, version, {"type": "atelier.updated"})["fr"]
    assert f"/plan/{token}/" in pushed
    revoke_plan_link(atelier.pk)
    assert f"/plan/{token}/" not in alice.get(f"/a/{atelier.code}/").content.decode()


def test_the_authors_form_names_the_author_as_pilot_by_default(atelier, alice, board, facilitator):
    impossible, _offers, _actor = board
    facilitation_services.set_authors_can_plan(atelier.pk, True)

    page = alice.get(f"/a/{atelier.code}/impossibles/{impossible.pk}/actions/new/").content.decode()
    console_form = facilitator.get(f"/a/{atelier.code}/console/impossibles/{impossible.pk}/actions/new/")

    # The author, not « someone who is not in the list » (whose long label a phone cuts off).
    assert f'<option value="{alice.participant.pk}" selected>Alice · Alice SARL</option>' in page
    # Facilitators pick the pilot themselves: no participant is chosen for them.
    choices = console_form.content.decode().split('name="pilot_participant"')[1].split("</select>")[0]
    assert '<option value="" selected>' in choices and choices.count(" selected>") == 1
