"""The plan's pages: what the facilitators' page, the public link and a
pilot's follow-up page show, to whom, and the pilot's update through their
link. Who may open what is in test_plan_permissions.py."""

from __future__ import annotations

import datetime
import html
import json
import secrets
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from boards import exporters
from boards.models import ActionChange, ActionStatus, Atelier, Category, HelpKind, Pilot, PlanAction, Role
from boards.services import facilitation, participation, plan
from boards.services.plan import Actor, PilotChoice
from boards.views import answers
from tests.conftest import post_impossible

HTMX = {"HTTP_HX_REQUEST": "true"}
TODAY = timezone.localdate()


def build_scene(atelier: Atelier, alice, bob, charlie, facilitator) -> SimpleNamespace:
    """An atelier in its plan phase.

    - "soudeurs" (Alice, 2 « moi aussi »): an action piloted by Alice, with
      Charlie's help (contact given), due in the past: overdue.
    - "prêt" (Bob, 1): an action piloted by the mayor's office, Bob helping
      (contact given, shown to pilots).
    - "local" (posted without a name by Dominique, 2): no action, no help.
    - "boulangerie" (Bob, 1): no action, no help either.
    """
    Atelier.objects.filter(pk=atelier.pk).update(
        starts_at=timezone.now() - datetime.timedelta(days=30), venue="Salle des fêtes de Cognac"
    )
    atelier.refresh_from_db()
    dominique = participation.join_atelier(atelier, name="Dominique Discrète", organisation="", role=Role.OTHER)
    welders = post_impossible(alice.participant, "Impossible de recruter des soudeurs")
    loan = post_impossible(bob.participant, "Pas de prêt pour une PME de cinq salariés", category=Category.FUNDING)
    premises = post_impossible(
        dominique, "Aucun local à louer en centre-bourg", category=Category.PREMISES, anonymous=True
    )
    bakery = post_impossible(bob.participant, "Personne ne reprend la boulangerie", category=Category.MARKET)
    for participant, impossible in [
        (bob, welders),
        (charlie, welders),
        (charlie, loan),
        (alice, premises),
        (bob, premises),
        (alice, bakery),
    ]:
        participation.set_me_too(participant.participant, impossible.pk, on=True)
    charlie_offer = participation.offer_help(
        charlie.participant,
        welders.pk,
        kind=HelpKind.INTRODUCTION,
        message="Je connais le directeur du CFA",
        contact="charlie@example.org",
        submission_key="offer-charlie",
    )
    bob_offer = participation.offer_help(
        bob.participant,
        loan.pk,
        kind=HelpKind.ADMINISTRATION,
        message="Je peux appeler la BPI",
        contact="06 12 34 56 78",
        contact_for_pilots=True,
        submission_key="offer-bob",
    )
    facilitation.set_phase(atelier.pk, "plan")
    actor = Actor.facilitator(facilitator.user)
    training = plan.create_action(
        atelier.pk,
        welders.pk,
        actor=actor,
        title="Monter une formation soudure avec le CFA",
        pilot=PilotChoice(participant_id=alice.participant.pk),
        helpers=[charlie_offer.pk],
        next_step="Appeler le CFA lundi",
        due_on=TODAY - datetime.timedelta(days=3),
        submission_key="action-training",
    )
    meeting = plan.create_action(
        atelier.pk,
        loan.pk,
        actor=actor,
        title="Réunir les banques et la BPI",
        pilot=PilotChoice(name="Mairie de Cognac", organisation="Service économie"),
        helpers=[bob_offer.pk],
        due_on=TODAY + datetime.timedelta(days=60),
        submission_key="action-meeting",
    )
    return SimpleNamespace(
        atelier=atelier,
        welders=welders,
        loan=loan,
        premises=premises,
        bakery=bakery,
        training=training,
        meeting=meeting,
        alice_pilot=training.pilot,
        mayor_pilot=meeting.pilot,
    )


@pytest.fixture
def scene(atelier, alice, bob, charlie, facilitator):
    return build_scene(atelier, alice, bob, charlie, facilitator)


def publish(atelier: Atelier) -> str:
    return plan.publish_plan(atelier.pk)


def text(response) -> str:
    return response.content.decode()


def in_order(page: str, *needles: str) -> bool:
    positions = [page.index(needle) for needle in needles]
    return positions == sorted(positions)


# --- The facilitators' plan page ----------------------------------------------------------------


def test_the_plan_page_shows_the_atelier_and_its_figures(scene, facilitator):
    response = facilitator.get(f"/a/{scene.atelier.code}/plan/")

    assert response.status_code == 200
    page = text(response)
    assert "Atelier de l&#x27;impossible — Test" in page
    assert "Charente" in page
    assert "Salle des fêtes de Cognac" in page
    assert "Animation : l&#x27;équipe d&#x27;animation" in page  # the facilitators, never by login name
    figures = page[page.index('class="figures"') :]
    for label, value in [("participant·es", 4), ("impossibles", 4), ("« moi aussi »", 6), ("offres d", 2)]:
        assert f"<dt>{label}" in figures
        assert f"<dd>{value}</dd>" in figures
    assert 'status-a_lancer">À lancer</span> 2' in page
    assert '<span class="status-badge is-overdue">En retard</span> 1' in page


def test_the_plan_page_groups_actions_by_category_most_shared_first(scene, facilitator):
    page = text(facilitator.get(f"/a/{scene.atelier.code}/plan/"))

    assert in_order(
        page,
        "Recrutement &amp; compétences",
        "Monter une formation soudure avec le CFA",
        "Financement",
        "Réunir les banques et la BPI",
    )


def test_each_action_shows_its_facts_its_edit_link_and_an_overdue_marker(scene, facilitator):
    page = text(facilitator.get(f"/a/{scene.atelier.code}/plan/"))

    training = page[page.index(f'id="action-{scene.training.pk}"') : page.index(f'id="action-{scene.meeting.pk}"')]
    assert "« Impossible de recruter des soudeurs »" in training
    assert "Alice (Alice SARL)" in training
    assert "Charlie (Charlie SARL)" in training
    assert "Appeler le CFA lundi" in training
    assert "En retard" in training
    assert f"/a/{scene.atelier.code}/console/actions/{scene.training.pk}/" in training
    meeting = page[page.index(f'id="action-{scene.meeting.pk}"') :]
    assert "Mairie de Cognac (Service économie)" in meeting
    due = TODAY + datetime.timedelta(days=60)
    months = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre"]
    months += ["novembre", "décembre"]
    assert f"{due.day} {months[due.month - 1]} {due.year}" in meeting


def test_the_plan_page_lists_the_most_shared_impossibles_without_action_or_help(scene, facilitator):
    page = text(facilitator.get(f"/a/{scene.atelier.code}/plan/"))

    without_action = page[page.index("sans action</h2>") : page.index("sans aide</h2>")]
    assert in_order(without_action, "Aucun local à louer en centre-bourg", "Personne ne reprend la boulangerie")
    assert "soudeurs" not in without_action
    without_help = page[page.index("sans aide</h2>") :]
    assert "Personne ne reprend la boulangerie" in without_help
    assert "Bob, Bob SARL" in without_help
    assert "Pas de prêt" not in without_help


def test_the_plan_page_shows_each_actions_dated_history_with_who_changed_what(scene, facilitator, settings):
    plan.update_action(
        scene.atelier.pk,
        scene.training.pk,
        actor=Actor.facilitator(facilitator.user),
        status=ActionStatus.IN_PROGRESS,
        due_on=TODAY + datetime.timedelta(days=10),
    )
    change = ActionChange.objects.filter(action=scene.training, created=False).get()
    ActionChange.objects.filter(pk=change.pk).update(at=datetime.datetime(2031, 1, 15, 17, 5, tzinfo=datetime.UTC))

    page = text(facilitator.get(f"/a/{scene.atelier.code}/plan/"))

    training = page[page.index(f'id="action-{scene.training.pk}"') : page.index(f'id="action-{scene.meeting.pk}"')]
    history = training[training.index('class="plan-history"') :]
    # In the atelier's time zone (Paris, UTC+1 in January).
    assert "15 janvier 2031 18:05" in history
    assert "fanny" not in history  # no full name: no name, never the login name
    assert 'Statut</span> : <span class="history-old">À lancer</span> → <span class="history-new">En cours' in history
    assert "Échéance" in history
    assert "Action créée." in history


def test_facilitators_see_the_helpers_contacts_and_the_public_link_never_does(scene, facilitator, outsider):
    token = publish(scene.atelier)

    facilitators_page = text(facilitator.get(f"/a/{scene.atelier.code}/plan/"))
    public_page = text(outsider.get(f"/plan/{token}/"))
    public_panels = text(outsider.get(f"/plan/{token}/panels/"))

    assert "charlie@example.org" in facilitators_page
    assert "06 12 34 56 78" in facilitators_page
    for page in (public_page, public_panels):
        assert "charlie@example.org" not in page
        assert "06 12 34 56 78" not in page
        assert "Charlie (Charlie SARL)" in page  # helpers are named, not reachable


def test_the_plan_page_offers_every_export_format_the_public_link_and_the_pilots_links(scene, facilitator):
    token = publish(scene.atelier)

    page = text(facilitator.get(f"/a/{scene.atelier.code}/plan/"))

    for exporter in exporters.all_exporters():
        assert f'href="/a/{scene.atelier.code}/plan/export/{exporter.identifier}/"' in page
    assert f"http://testserver/plan/{token}/" in page
    assert 'value="revoke"' in page
    assert "<svg" in page  # the public link's QR code
    for pilot in (scene.alice_pilot, scene.mayor_pilot):
        assert f"http://testserver/suivi/{pilot.token}/" in page
        assert f"/a/{scene.atelier.code}/plan/pilots/{pilot.pk}/renew/" in page


def test_public_links_use_the_configured_public_address(scene, facilitator, settings):
    settings.PUBLIC_URL = "https://cerveau.example.fr/"
    token = publish(scene.atelier)

    page = text(facilitator.get(f"/a/{scene.atelier.code}/plan/"))

    assert f"https://cerveau.example.fr/plan/{token}/" in page
    assert f"https://cerveau.example.fr/suivi/{scene.alice_pilot.token}/" in page


def test_an_unpublished_plan_offers_to_publish_it(scene, facilitator):
    page = text(facilitator.get(f"/a/{scene.atelier.code}/plan/"))

    assert 'value="publish"' in page
    assert "/plan/None/" not in page


def test_the_plan_page_is_live_through_the_ateliers_socket(scene, facilitator):
    page = text(facilitator.get(f"/a/{scene.atelier.code}/plan/"))
    version = Atelier.objects.get(pk=scene.atelier.pk).version

    assert 'data-screen="refresh"' in page
    assert f'ws-connect="/ws/a/{scene.atelier.code}/?lang=fr&amp;v={version}"' in page
    assert f'hx-get="/a/{scene.atelier.code}/plan/panels/"' in page


def test_the_panels_are_the_same_fragment_as_in_the_page(scene, facilitator):
    page = text(facilitator.get(f"/a/{scene.atelier.code}/plan/"))
    panels = text(facilitator.get(f"/a/{scene.atelier.code}/plan/panels/"))

    assert panels.strip().startswith('<div id="plan-panels"')
    assert "Monter une formation soudure avec le CFA" in panels
    assert "<html" not in panels
    assert 'id="plan-panels"' in page


def test_the_plan_is_shown_in_the_ateliers_time_zone_and_the_facilitators_language(scene, facilitator):
    Atelier.objects.filter(pk=scene.atelier.pk).update(
        time_zone="Indian/Reunion", starts_at=datetime.datetime(2030, 5, 4, 14, 30, tzinfo=datetime.UTC)
    )

    page = text(facilitator.get(f"/a/{scene.atelier.code}/plan/", HTTP_ACCEPT_LANGUAGE="en"))

    # UTC+4, where the atelier takes place; in English, the facilitator's own page.
    assert '<time datetime="2030-05-04T18:30:00+04:00">May 4, 2030, 6:30 p.m.</time>' in page
    assert "The actions" in page
    assert "Les actions" not in page


def test_the_rooms_documents_stay_in_the_ateliers_language_whoever_opens_them(scene, facilitator, outsider):
    token = publish(scene.atelier)

    public = text(outsider.get(f"/plan/{token}/", HTTP_ACCEPT_LANGUAGE="en"))
    follow_up = text(outsider.get(f"/suivi/{scene.mayor_pilot.token}/", HTTP_ACCEPT_LANGUAGE="en"))
    projector = text(facilitator.get(f"/a/{scene.atelier.code}/projector/", HTTP_ACCEPT_LANGUAGE="en"))
    markdown = facilitator.get(f"/a/{scene.atelier.code}/plan/export/md/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Les actions" in public
    assert "Où en est l'action" in follow_up
    assert '<html lang="fr">' in projector
    assert "_Plan généré le " in markdown


# --- The public link -------------------------------------------------------------------------------


def test_the_public_plan_shows_the_plan_without_controls(scene, outsider):
    token = publish(scene.atelier)

    response = outsider.get(f"/plan/{token}/")

    assert response.status_code == 200
    page = text(response)
    assert '<meta name="robots" content="noindex, nofollow">' in page
    assert "Monter une formation soudure avec le CFA" in page
    assert "Aucun local à louer en centre-bourg" in page
    for exporter in exporters.all_exporters():
        assert f'href="/plan/{token}/export/{exporter.identifier}/"' in page
    assert "/console/actions/" not in page
    assert "/renew/" not in page
    assert "/suivi/" not in page
    assert 'value="revoke"' not in page
    assert f'ws-connect="/ws/plan/{token}/?lang=fr&amp;' in page
    assert f'hx-get="/plan/{token}/panels/"' in page


def test_the_public_plan_shows_the_history_but_not_who_in_the_team_made_it(scene, facilitator, outsider):
    plan.update_action(
        scene.atelier.pk, scene.training.pk, actor=Actor.facilitator(facilitator.user), status=ActionStatus.DONE
    )
    token = publish(scene.atelier)

    page = text(outsider.get(f"/plan/{token}/"))

    assert 'À lancer</span> → <span class="history-new">Fait' in page
    assert "Animation" in page
    assert "fanny" not in page.split('class="plan-actions"', 1)[1]


def test_the_public_plan_follows_changes_at_once(scene, facilitator, outsider):
    token = publish(scene.atelier)
    assert "Nouveau titre" not in text(outsider.get(f"/plan/{token}/panels/"))

    plan.update_action(
        scene.atelier.pk, scene.training.pk, actor=Actor.facilitator(facilitator.user), title="Nouveau titre"
    )

    assert "Nouveau titre" in text(outsider.get(f"/plan/{token}/panels/"))
    assert "Nouveau titre" in text(outsider.get(f"/plan/{token}/"))


def test_an_anonymous_impossible_never_shows_its_author(scene, facilitator, outsider):
    token = publish(scene.atelier)
    plan.create_action(
        scene.atelier.pk,
        scene.premises.pk,
        actor=Actor.facilitator(facilitator.user),
        title="Recenser les locaux vacants",
        pilot=PilotChoice(participant_id=scene.alice_pilot.participant_id),
        submission_key="action-premises",
    )
    pages = [
        facilitator.get(f"/a/{scene.atelier.code}/plan/"),
        outsider.get(f"/plan/{token}/"),
        outsider.get(f"/suivi/{scene.alice_pilot.token}/"),
    ]

    for response in pages:
        assert response.status_code == 200
        assert "Aucun local à louer en centre-bourg" in text(response) or "Recenser les locaux" in text(response)
        assert "Dominique" not in text(response)


PAYLOADS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(2)">',
    '<a hx-get="/facilitate/" hx-trigger="load">x</a>',
    "{{ request.session }}{% debug %}",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_user_text_is_shown_escaped_on_every_plan_page(atelier, alice, bob, facilitator, outsider, payload):
    impossible = post_impossible(alice.participant, f"Statement {payload}")
    offer = participation.offer_help(
        bob.participant,
        impossible.pk,
        kind=HelpKind.EXPERTISE,
        message=f"Message {payload}",
        contact=f"Contact {payload}",
        submission_key="offer-xss",
    )
    participation.update_participant(bob.participant, name="Bob <b>x</b>", organisation=payload[:100], role=Role.PEER)
    facilitation.set_phase(atelier.pk, "plan")
    action = plan.create_action(
        atelier.pk,
        impossible.pk,
        actor=Actor.facilitator(facilitator.user),
        title=f"Title {payload}",
        pilot=PilotChoice(name="Pilot <i>x</i>", organisation=payload[:100]),
        helpers=[offer.pk],
        next_step=f"Next {payload}",
        submission_key="action-xss",
    )
    plan.update_action(atelier.pk, action.pk, actor=Actor.facilitator(facilitator.user), title=f"Retitled {payload}")
    token = publish(atelier)
    pages = [
        facilitator.get(f"/a/{atelier.code}/plan/"),
        facilitator.get(f"/a/{atelier.code}/plan/panels/"),
        outsider.get(f"/plan/{token}/"),
        outsider.get(f"/plan/{token}/panels/"),
        outsider.get(f"/suivi/{action.pilot.token}/"),
    ]

    for response in pages:
        page = text(response)
        assert response.status_code == 200
        assert "<b>x</b>" not in page
        assert "<i>x</i>" not in page
        # Shown as typed: markup escaped, template syntax left as text.
        assert html.escape(f"Retitled {payload}") in page
        if html.escape(payload) != payload:
            assert payload not in page


# --- A pilot's follow-up link -------------------------------------------------------------------------


def test_the_follow_up_page_greets_the_pilot_and_shows_only_their_actions(scene, outsider):
    response = outsider.get(f"/suivi/{scene.mayor_pilot.token}/")

    assert response.status_code == 200
    page = text(response)
    assert "Bonjour Mairie de Cognac" in page
    assert '<meta name="robots" content="noindex, nofollow">' in page
    assert "Réunir les banques et la BPI" in page
    assert "Pas de prêt pour une PME de cinq salariés" in page
    assert "Monter une formation soudure" not in page
    # The pilot needs to reach the helpers of their own actions, only those.
    assert "06 12 34 56 78" in page
    assert "charlie@example.org" not in page
    for value, label in ActionStatus.choices:
        assert f'<option value="{value}"' in page
        assert str(label) in page
    assert f'ws-connect="/ws/suivi/{scene.mayor_pilot.token}/?lang=fr&amp;' in page
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]


def test_the_pilot_agrees_on_their_follow_up_page_to_show_their_organisation(scene, outsider):
    url = f"/suivi/{scene.mayor_pilot.token}/"
    page = text(outsider.get(url))
    consent = page[page.index('id="fu-consent"') : page.index("</form>", page.index('id="fu-consent"'))]
    assert "Montrer « Service économie » avec les actions faites que l'observatoire cite" in consent
    assert 'name="show" value="1"' in consent and "checked" not in consent
    assert "Votre nom n'y figure jamais" in consent

    response = outsider.post(f"{url}observatoire/", {"show": "1"})
    assert response.status_code == 302 and response.url == f"{url}#fu-consent"
    assert Pilot.objects.get(pk=scene.mayor_pilot.pk).show_organisation
    assert "checked" in text(outsider.get(url)).split('id="fu-consent"')[1].split("</form>")[0]

    response = outsider.post(f"{url}observatoire/", {}, **HTMX)
    assert response.status_code == 200
    fragment = text(response)
    assert fragment.lstrip().startswith("<form") and 'id="fu-consent"' in fragment and "Enregistré." in fragment
    assert "checked" not in fragment
    assert not Pilot.objects.get(pk=scene.mayor_pilot.pk).show_organisation


def test_a_pilot_without_an_organisation_is_not_asked(scene, outsider):
    Pilot.objects.filter(pk=scene.mayor_pilot.pk).update(organisation="")
    assert 'id="fu-consent"' not in text(outsider.get(f"/suivi/{scene.mayor_pilot.token}/"))


def test_the_follow_up_panels_keep_the_pilots_forms_while_they_type(scene, outsider):
    panels = text(outsider.get(f"/suivi/{scene.mayor_pilot.token}/panels/"))

    assert panels.strip().startswith('<div id="follow-up-panels"')
    assert f'id="fu-form-{scene.meeting.pk}"' in panels
    assert 'hx-preserve="true"' in panels


def _follow_up(client, pilot, action, *, htmx=False, **data):
    fields = {"status": ActionStatus.IN_PROGRESS, "next_step": "Rendez-vous pris le 12", **data}
    return client.post(f"/suivi/{pilot.token}/actions/{action.pk}/", fields, **(HTMX if htmx else {}))


def test_a_pilot_updates_their_action_and_it_is_recorded_and_broadcast(
    scene, outsider, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _follow_up(outsider, scene.mayor_pilot, scene.meeting)

    assert response.status_code == 302
    assert response["Location"] == f"/suivi/{scene.mayor_pilot.token}/#fu-action-{scene.meeting.pk}"
    action = PlanAction.objects.get(pk=scene.meeting.pk)
    assert action.status == ActionStatus.IN_PROGRESS
    assert action.next_step == "Rendez-vous pris le 12"
    change = ActionChange.objects.filter(action=action, created=False).get()
    assert change.by_kind == ActionChange.By.PILOT
    assert change.by_name == "Mairie de Cognac"
    assert {line["field"] for line in change.changes} == {"status", "next_step"}
    assert [event for _atelier, _version, event in events] == [
        {"type": "action.changed", "impossible": scene.loan.pk, "action": scene.meeting.pk}
    ]
    page = text(outsider.get(response["Location"]))
    assert "Enregistré : « Réunir les banques et la BPI »." in page
    assert "Pilote" in page[page.index('class="plan-history"') :]


def test_a_pilot_update_over_htmx_answers_with_the_saved_action(scene, outsider):
    response = _follow_up(outsider, scene.mayor_pilot, scene.meeting, htmx=True)

    assert response.status_code == 200
    fragment = text(response)
    assert fragment.strip().startswith(f'<article class="card plan-action" id="fu-action-{scene.meeting.pk}"')
    assert "Enregistré." in fragment
    assert "hx-preserve" not in fragment  # the answer replaces the form
    assert '<option value="en_cours" selected>' in fragment
    assert "Rendez-vous pris le 12</textarea>" in fragment


def test_sending_the_same_update_twice_writes_one_history_line(scene, outsider, events):
    _follow_up(outsider, scene.mayor_pilot, scene.meeting)
    _follow_up(outsider, scene.mayor_pilot, scene.meeting, htmx=True)

    assert ActionChange.objects.filter(action=scene.meeting, created=False).count() == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"status": "termine"}, "status", "Statut inconnu."),
        ({"status": ""}, "status", "Statut inconnu."),
        ({"next_step": "x" * 501}, "next_step", "500 caractères"),
    ],
    ids=["unknown status", "no status", "next step too long"],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_an_invalid_update_is_refused_with_a_clear_message_and_nothing_is_saved(
    scene, outsider, events, django_capture_on_commit_callbacks, data, field, message, htmx
):
    before = list(PlanAction.objects.filter(pk=scene.meeting.pk).values())
    changes_before = ActionChange.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        response = _follow_up(outsider, scene.mayor_pilot, scene.meeting, htmx=htmx, **data)

    assert response.status_code == 422
    page = text(response)
    assert message in page
    assert f'id="fu-{scene.meeting.pk}-{field.replace("_", "-")}-error"' in page
    assert "Enregistré" not in page
    assert list(PlanAction.objects.filter(pk=scene.meeting.pk).values()) == before
    assert ActionChange.objects.count() == changes_before
    assert events == []
    if htmx:
        assert "<html" not in page
    else:
        assert "Bonjour Mairie de Cognac" in page


def test_an_invalid_update_keeps_what_the_pilot_typed(scene, outsider):
    response = _follow_up(outsider, scene.mayor_pilot, scene.meeting, htmx=True, status="??", next_step="Mon brouillon")

    assert response.status_code == 422
    assert "Mon brouillon</textarea>" in text(response)


def test_a_pilot_follows_up_after_the_atelier_is_closed(scene, outsider):
    facilitation.set_phase(scene.atelier.pk, "clos")

    assert outsider.get(f"/suivi/{scene.alice_pilot.token}/").status_code == 200
    response = _follow_up(outsider, scene.alice_pilot, scene.training, status=ActionStatus.DONE, next_step="")

    assert response.status_code == 302
    assert PlanAction.objects.get(pk=scene.training.pk).status == ActionStatus.DONE


def test_the_follow_up_page_shows_each_actions_history_without_names(scene, facilitator, outsider):
    _follow_up(outsider, scene.mayor_pilot, scene.meeting)
    plan.update_action(
        scene.atelier.pk, scene.meeting.pk, actor=Actor.facilitator(facilitator.user), title="Réunir les banques"
    )

    page = text(outsider.get(f"/suivi/{scene.mayor_pilot.token}/"))

    history = page[page.index('class="plan-history"') :]
    assert "Historique (3)" in history
    assert "En cours" in history
    assert "Animation" in history
    assert "fanny" not in history


# --- Facilitators' actions on the links ---------------------------------------------------------------


def test_publishing_and_revoking_the_public_link_without_javascript(scene, facilitator, outsider):
    response = facilitator.post(f"/a/{scene.atelier.code}/plan/share/", {"op": "publish"})

    assert response.status_code == 302
    token = Atelier.objects.get(pk=scene.atelier.pk).share_token
    assert token
    assert "Le plan est publié" in text(facilitator.get(response["Location"]))
    assert outsider.get(f"/plan/{token}/").status_code == 200

    response = facilitator.post(f"/a/{scene.atelier.code}/plan/share/", {"op": "revoke"})

    assert response.status_code == 302
    assert Atelier.objects.get(pk=scene.atelier.pk).share_token is None
    assert outsider.get(f"/plan/{token}/").status_code == 404


@pytest.mark.parametrize("op", ["publish", "revoke"])
def test_the_public_link_controls_answer_htmx_with_a_refresh(scene, facilitator, op):
    response = facilitator.post(f"/a/{scene.atelier.code}/plan/share/", {"op": op}, **HTMX)

    assert response.status_code == 204
    assert "cerveau:refresh" in json.loads(response["HX-Trigger"])


def test_an_unknown_link_operation_is_refused(scene, facilitator):
    response = facilitator.post(f"/a/{scene.atelier.code}/plan/share/", {"op": "explode"}, **HTMX)

    assert response.status_code == answers.REFUSED
    assert Atelier.objects.get(pk=scene.atelier.pk).share_token is None


def test_renewing_a_pilots_link_gives_a_new_one_and_the_old_one_stops(scene, facilitator, outsider):
    old = scene.mayor_pilot.token

    response = facilitator.post(f"/a/{scene.atelier.code}/plan/pilots/{scene.mayor_pilot.pk}/renew/")

    assert response.status_code == 302
    scene.mayor_pilot.refresh_from_db()
    assert scene.mayor_pilot.token != old
    assert "Nouveau lien de suivi pour Mairie de Cognac" in text(facilitator.get(response["Location"]))
    assert outsider.get(f"/suivi/{old}/").status_code == 404
    assert outsider.get(f"/suivi/{scene.mayor_pilot.token}/").status_code == 200


# --- Exports ---------------------------------------------------------------------------------------


def test_facilitators_exports_carry_the_contacts_and_the_public_ones_do_not(scene, facilitator, outsider):
    token = publish(scene.atelier)

    private = facilitator.get(f"/a/{scene.atelier.code}/plan/export/csv/")
    public = outsider.get(f"/plan/{token}/export/csv/")

    for response in (private, public):
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment; filename=")
        assert response["Cache-Control"] == "private, no-store"
    assert "charlie@example.org" in private.content.decode("utf-8-sig")
    assert "charlie@example.org" not in public.content.decode("utf-8-sig")
    assert "Monter une formation soudure avec le CFA" in public.content.decode("utf-8-sig")


# --- Query counts ------------------------------------------------------------------------------------


def _grow_plan(scene, facilitator, n: int) -> None:
    """n actions in all, over several impossibles, pilots and helpers, each with a history."""
    actor = Actor.facilitator(facilitator.user)
    impossibles = [scene.welders, scene.loan, scene.bakery]
    offers = {impossible.pk: list(impossible.offers.values_list("pk", flat=True)) for impossible in impossibles}
    for index in range(n - PlanAction.objects.filter(atelier=scene.atelier).count()):
        impossible = impossibles[index % len(impossibles)]
        pilot = (
            PilotChoice(name=f"Pilote {index % 7}", organisation="Réseau")
            if index % 2
            else PilotChoice(participant_id=scene.alice_pilot.participant_id)
        )
        action = plan.create_action(
            scene.atelier.pk,
            impossible.pk,
            actor=actor,
            title=f"Action {index}",
            pilot=pilot,
            helpers=offers[impossible.pk],
            due_on=TODAY + datetime.timedelta(days=index % 30),
            submission_key=secrets.token_urlsafe(8),
        )
        plan.update_action(scene.atelier.pk, action.pk, actor=actor, status=ActionStatus.IN_PROGRESS)


def _count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("page", ["plan", "plan panels", "public plan", "public panels", "follow-up"])
def test_the_plan_pages_queries_do_not_grow_with_the_number_of_actions(scene, facilitator, outsider, page):
    token = publish(scene.atelier)
    urls = {
        "plan": f"/a/{scene.atelier.code}/plan/",
        "plan panels": f"/a/{scene.atelier.code}/plan/panels/",
        "public plan": f"/plan/{token}/",
        "public panels": f"/plan/{token}/panels/",
        "follow-up": f"/suivi/{scene.alice_pilot.token}/",
    }
    client = facilitator if page.startswith("plan") else outsider

    _grow_plan(scene, facilitator, 5)
    with_5 = _count_queries(client, urls[page])
    _grow_plan(scene, facilitator, 50)
    with_50 = _count_queries(client, urls[page])

    assert PlanAction.objects.filter(atelier=scene.atelier).count() == 50
    assert with_50 == with_5


def test_the_public_plan_is_rendered_once_per_version_for_every_phone(scene, outsider, bob):
    token = publish(scene.atelier)
    outsider.get(f"/plan/{token}/panels/")

    with CaptureQueriesContext(connection) as queries:
        response = bob.get(f"/plan/{token}/panels/")

    assert response.status_code == 200
    assert len(queries) <= 2  # the session, the link: the plan comes from the cache
