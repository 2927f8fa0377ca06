"""A participant's data: seen, downloaded and erased from their phone; the
contacts left in offers purged once the atelier is over."""

from __future__ import annotations

import datetime
import json

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from boards import exporters
from boards.access import session_key
from boards.live import messages
from boards.models import ActionChange, Atelier, HelpOffer, Impossible, MeToo, Participant
from boards.services import facilitation, plan
from boards.services.participation import offer_help, set_me_too
from boards.services.privacy import forget_participant, purge_contacts
from tests.conftest import post_impossible

EMAIL = "bob.contact@example.org"


@pytest.fixture
def room(atelier, alice, bob, charlie):
    """Bob posts (named and anonymous), says « moi aussi », offers help with
    his e-mail, and pilots an action whose history names him."""
    theirs = post_impossible(alice.participant, "Impossible de recruter des soudeurs")
    named = post_impossible(bob.participant, "Impossible d'obtenir le permis")
    hidden_name = post_impossible(bob.participant, "Impossible de payer l'énergie", anonymous=True)
    set_me_too(bob.participant, theirs.pk, on=True)
    set_me_too(charlie.participant, named.pk, on=True)
    offer = offer_help(
        bob.participant, theirs.pk, kind="contact", message="Je connais un CFA", contact=EMAIL, submission_key="o"
    )
    facilitation.set_phase(atelier.pk, "plan")
    user = User.objects.create_user("fanny-privacy")
    action = plan.create_action(
        atelier.pk,
        theirs.pk,
        actor=plan.Actor.facilitator(user),
        title="Former deux soudeurs",
        pilot=plan.PilotChoice(participant_id=bob.participant.pk),
        helpers=[offer.pk],
        submission_key="a",
    )
    plan.follow_up(action.pilot, action.pk, status="en_cours", next_step="Appeler le CFA")
    return theirs, named, hidden_name, offer, action


def _everything_shown(atelier, alice, facilitator) -> str:
    """The board, the console, the plan page and every export, as text."""
    shown = [
        alice.get(f"/a/{atelier.code}/").content.decode(),
        facilitator.get(f"/a/{atelier.code}/console/").content.decode(),
        facilitator.get(f"/a/{atelier.code}/plan/").content.decode(),
    ]
    for exporter in exporters.all_exporters():
        _name, _type, content = exporters.export(atelier, exporter.identifier, include_contacts=True)
        shown.append(content.decode("utf-8", "replace") if exporter.identifier != "pdf" else "")
    return "\n".join(shown)


def test_my_data_page_shows_everything_kept_about_me(atelier, bob, room):
    page = bob.get(f"/a/{atelier.code}/me/data/").content.decode()
    assert "Bob" in page and "Bob SARL" in page
    assert "Impossible d&#x27;obtenir le permis" in page and "Impossible de payer l&#x27;énergie" in page
    assert "Impossible de recruter des soudeurs" in page  # my « moi aussi »
    assert EMAIL in page
    assert "Former deux soudeurs" in page


def test_my_data_downloads_as_json(atelier, bob, room):
    response = bob.get(f"/a/{atelier.code}/me/data.json")
    assert response["Content-Disposition"].startswith("attachment")
    data = json.loads(response.content)
    assert data["participant"]["name"] == "Bob"
    assert {item["statement"] for item in data["impossibles"]} == {
        "Impossible d'obtenir le permis",
        "Impossible de payer l'énergie",
    }
    assert [item["contact"] for item in data["offers"]] == [EMAIL]
    assert [item["title"] for item in data["actions_led"]] == ["Former deux soudeurs"]


def test_nobody_else_gets_my_data(atelier, bob, outsider, room):
    assert outsider.get(f"/a/{atelier.code}/me/data.json")["Location"] == f"/a/{atelier.code}/join/"
    assert outsider.post(f"/a/{atelier.code}/me/forget/", {"confirm": "oui"}).status_code == 302
    assert Participant.objects.get(pk=bob.participant.pk).name == "Bob"


def test_erasing_needs_the_confirmation(atelier, bob, room):
    bob.post(f"/a/{atelier.code}/me/forget/", {})
    assert Participant.objects.get(pk=bob.participant.pk).name == "Bob"


def test_erasing_my_data_removes_my_name_and_contacts_everywhere_and_keeps_counts(
    atelier, alice, bob, facilitator, room
):
    _theirs, named, hidden_name, offer, _action = room
    counts_before = (
        Impossible.objects.count(),
        MeToo.objects.count(),
        HelpOffer.objects.count(),
        list(Impossible.objects.order_by("pk").values_list("me_too_count", "offer_count")),
    )
    assert "Bob SARL" in _everything_shown(atelier, alice, facilitator)

    response = bob.post(f"/a/{atelier.code}/me/forget/", {"confirm": "oui"})

    assert response.status_code == 302
    shown = _everything_shown(atelier, alice, facilitator)
    assert "Bob" not in shown and EMAIL not in shown
    assert "Participant·e anonyme" in shown
    pdf = exporters.export(atelier, "pdf", include_contacts=True)[2]
    from io import BytesIO

    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)
    assert "Bob" not in text and EMAIL not in text
    assert all("Bob" not in json.dumps(change.changes) + change.by_name for change in ActionChange.objects.all())
    assert Impossible.objects.get(pk=named.pk).anonymous and Impossible.objects.get(pk=hidden_name.pk).anonymous
    assert HelpOffer.objects.get(pk=offer.pk).contact == ""
    counts_after = (
        Impossible.objects.count(),
        MeToo.objects.count(),
        HelpOffer.objects.count(),
        list(Impossible.objects.order_by("pk").values_list("me_too_count", "offer_count")),
    )
    assert counts_after == counts_before
    # This phone has left the atelier.
    assert session_key(atelier.pk) not in bob.session
    assert bob.get(f"/a/{atelier.code}/")["Location"] == f"/a/{atelier.code}/join/"


def test_erasing_pushes_new_bylines_but_only_for_impossibles_that_showed_the_name(
    atelier, bob, room, events, django_capture_on_commit_callbacks
):
    _theirs, named, hidden_name, _offer, _action = room
    with django_capture_on_commit_callbacks(execute=True):
        forget_participant(Participant.objects.get(pk=bob.participant.pk))
    [(_atelier, version, event)] = events
    html = messages.event_messages(atelier.pk, version, event)["fr"]
    assert f'id="imp-{named.pk}-byline"' in html
    assert f'id="imp-{hidden_name.pk}-byline"' not in html  # would tell whose it was
    assert "Bob" not in html


def _offer_with_contact(atelier, participant, key: str) -> HelpOffer:
    impossible = post_impossible(participant, f"Impossible n° {key}")
    return offer_help(participant, impossible.pk, kind="contact", message="Moi", contact=EMAIL, submission_key=key)


def test_contacts_are_purged_some_days_after_the_atelier_closes(atelier, other_atelier, alice):
    offer = _offer_with_contact(atelier, alice.participant, "1")
    stranger = Participant.objects.create(atelier=other_atelier, name="Zoé", role="autre")
    still_open = _offer_with_contact(other_atelier, stranger, "2")
    facilitation.set_phase(atelier.pk, "clos")
    closed_at = Atelier.objects.get(pk=atelier.pk).closed_at
    assert closed_at is not None

    assert purge_contacts(older_than=datetime.timedelta(days=30), now=closed_at + datetime.timedelta(days=29)) == 0
    assert purge_contacts(older_than=datetime.timedelta(days=30), now=closed_at + datetime.timedelta(days=31)) == 1
    assert purge_contacts(older_than=datetime.timedelta(days=30), now=closed_at + datetime.timedelta(days=32)) == 0

    assert HelpOffer.objects.get(pk=offer.pk).contact == ""
    assert HelpOffer.objects.get(pk=still_open.pk).contact == EMAIL
    assert HelpOffer.objects.get(pk=offer.pk).message == "Moi"


def test_an_atelier_nobody_closed_is_over_a_day_after_it_started(atelier, alice):
    offer = _offer_with_contact(atelier, alice.participant, "1")
    Atelier.objects.filter(pk=atelier.pk).update(starts_at=timezone.now() - datetime.timedelta(days=40))
    assert purge_contacts(older_than=datetime.timedelta(days=30)) == 1
    assert HelpOffer.objects.get(pk=offer.pk).contact == ""


def test_reopening_an_atelier_forgets_when_it_was_closed(atelier):
    facilitation.set_phase(atelier.pk, "clos")
    facilitation.set_phase(atelier.pk, "plan")
    assert Atelier.objects.get(pk=atelier.pk).closed_at is None


def test_the_purge_command_is_safe_to_run_from_cron(atelier, alice, capsys):
    _offer_with_contact(atelier, alice.participant, "1")
    facilitation.set_phase(atelier.pk, "clos")
    call_command("purge_contacts", "--days", "0")
    call_command("purge_contacts", "--days", "0")
    output = capsys.readouterr().out
    assert output.splitlines() == [
        "1 contact(s) erased from ateliers over for more than 0 day(s).",
        "0 contact(s) erased from ateliers over for more than 0 day(s).",
    ]


def test_the_join_page_says_what_is_kept_and_for_how_long(atelier, outsider):
    page = outsider.get(f"/a/{atelier.code}/join/").content.decode()
    assert "Vos données" in page and "30 jours" in page and "Mes données" in page
