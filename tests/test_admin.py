"""The admin is for organisers: every list renders, searches and filters."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.utils.html import escape

from boards.models import HelpKind
from boards.services import participation
from tests.conftest import post_impossible


@pytest.fixture
def organiser(client, db):
    user = User.objects.create_superuser("orga", "orga@example.org", "pw-orga-123")
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", ["atelier", "participant", "impossible", "helpoffer", "metoo"])
def test_each_admin_list_renders(organiser, alice, bob, model):
    impossible = post_impossible(alice.participant, "Impossible de trouver un local")
    participation.set_me_too(bob.participant, impossible.pk, on=True)
    participation.offer_help(
        bob.participant,
        impossible.pk,
        kind=HelpKind.EXPERTISE,
        message="Notre entrepôt a de la place",
        submission_key="admin-offer-1",
    )

    response = organiser.get(f"/admin/boards/{model}/")

    assert response.status_code == 200
    assert response.context["cl"].result_count == (2 if model == "participant" else 1)


def test_the_atelier_list_searches_and_shows_counts(organiser, atelier, other_atelier, alice):
    post_impossible(alice.participant, "Impossible de trouver un local")

    response = organiser.get("/admin/boards/atelier/", {"q": "Test"})

    body = response.content.decode()
    assert escape(atelier.title) in body
    assert escape(other_atelier.title) not in body


def test_board_content_is_read_only_in_the_admin(organiser, alice):
    impossible = post_impossible(alice.participant, "Impossible de trouver un local")

    response = organiser.post(f"/admin/boards/impossible/{impossible.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    impossible.refresh_from_db()
