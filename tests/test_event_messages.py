"""A push reads only what its fragments show (boards/live/messages.py), and
shows exactly what it would with the whole card loaded."""

from __future__ import annotations

import datetime
import secrets

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from boards.live import messages
from boards.live.protocol import Event
from boards.models import Atelier
from boards.services import facilitation, participation, plan
from tests.conftest import post_impossible

ABOUT_ONE_IMPOSSIBLE = sorted(
    {
        Event.IMPOSSIBLE_POSTED,
        Event.IMPOSSIBLE_EDITED,
        Event.IMPOSSIBLE_MERGED,
        Event.ME_TOO_CHANGED,
        Event.OFFER_POSTED,
        Event.OFFERS_CHANGED,
        Event.PRECISIONS_CHANGED,
        Event.ACTION_CHANGED,
    }
)


@pytest.fixture
def full_card(atelier, alice, bob, charlie, django_user_model):
    """An impossible with everything a card can show: an author, « moi aussi »,
    offers, précisions, and an action of the plan."""
    impossible = post_impossible(alice.participant, "Impossible de recruter des soudeurs", details="Depuis 2024")
    other = post_impossible(bob.participant, "On ne trouve pas de soudeurs")
    participation.set_me_too(bob.participant, impossible.pk, on=True)
    offer = participation.offer_help(
        charlie.participant, impossible.pk, kind="contact", message="Je connais un lycée", submission_key=_key()
    )
    participation.add_precision(bob.participant, impossible.pk, text="Même chose à Jarnac", submission_key=_key())
    user = django_user_model.objects.create_user("anim", first_name="Anne", last_name="Animatrice")
    atelier.facilitators.add(user)
    facilitation.set_phase(atelier.pk, "plan")
    plan.create_action(
        atelier.pk,
        impossible.pk,
        actor=plan.Actor.facilitator(user),
        title="Réunir les soudeurs retraités",
        pilot=plan.PilotChoice(participant_id=alice.participant.pk),
        helpers=[offer.pk],
        due_on=datetime.date(2027, 6, 30),
        submission_key=_key(),
    )
    return impossible, other


def _key() -> str:
    return secrets.token_urlsafe(16)


@pytest.mark.parametrize("kind", ABOUT_ONE_IMPOSSIBLE)
def test_a_push_shows_what_it_would_with_the_whole_card_loaded(atelier, full_card, kind, monkeypatch):
    impossible, other = full_card
    event = {"type": kind, "impossible": impossible.pk}
    if kind == Event.IMPOSSIBLE_MERGED:
        event["merged"] = other.pk
    version = Atelier.objects.get().version
    with CaptureQueriesContext(connection) as lean_queries:
        lean = messages.event_messages(atelier.pk, version, event)
    monkeypatch.setattr(messages, "_WHOLE_CARD", set(Event))
    with CaptureQueriesContext(connection) as full_queries:
        full = messages.event_messages(atelier.pk, version, event)
    assert lean == full
    if kind in {Event.ACTION_CHANGED, Event.IMPOSSIBLE_POSTED}:
        assert "Réunir les soudeurs retraités" in lean["fr"]
    if kind not in {Event.IMPOSSIBLE_POSTED, Event.IMPOSSIBLE_MERGED}:
        assert len(lean_queries) < len(full_queries)


def test_a_me_too_push_reads_the_number_and_the_figures_only(atelier, full_card):
    impossible, _other = full_card
    event = {"type": Event.ME_TOO_CHANGED, "impossible": impossible.pk}
    version = Atelier.objects.get().version
    with CaptureQueriesContext(connection) as queries:
        rendered = messages.event_messages(atelier.pk, version, event)
    assert f'id="imp-{impossible.pk}-metoo" data-count="1"' in rendered["fr"]
    # The atelier's figures, then the impossible's own row: no offers,
    # précisions, actions or author, and not the atelier.
    rows = [query["sql"] for query in queries.captured_queries if "COUNT(" not in query["sql"]]
    assert len(rows) == 1 and " JOIN " not in rows[0] and '"boards_atelier"' not in rows[0], rows
