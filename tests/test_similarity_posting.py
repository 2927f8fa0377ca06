"""« Ça ressemble à… » while posting: features kept fresh by the services,
and the suggestions a participant sees when they tap « Publier ».

Alice posted first; Bob is about to post the same impossible in other words.
"""

from __future__ import annotations

import logging

import pytest

from boards import similarity
from boards.models import Category, Impossible, ImpossibleFeatures
from boards.services import facilitation
from boards.similarity import engine, scoring
from tests.conftest import post_impossible

pytestmark = pytest.mark.django_db

WELDERS = "Impossible de recruter des soudeurs"
WELDERS_AGAIN = "pénurie de soudeurs dans le Cognaçais"
ELECTRICITY = "La facture d'électricité a triplé depuis le renouvellement du contrat"


# --- Features: computed when the post or the correction commits ------------------------


def test_posting_computes_the_features_once_the_post_commits(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        impossible = post_impossible(alice.participant, WELDERS)
    features = ImpossibleFeatures.objects.get(impossible=impossible)
    assert features.statement == WELDERS
    assert features.version == scoring.features_version()


def test_a_pending_impossible_gets_its_features_too(atelier, alice, django_capture_on_commit_callbacks):
    atelier.premoderation = True
    atelier.save(update_fields=["premoderation"])
    with django_capture_on_commit_callbacks(execute=True):
        impossible = post_impossible(alice.participant, WELDERS)
    assert impossible.pending
    assert ImpossibleFeatures.objects.filter(impossible=impossible).exists()


def test_a_correction_recomputes_the_features(atelier, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        impossible = post_impossible(alice.participant, ELECTRICITY)
    with django_capture_on_commit_callbacks(execute=True):
        facilitation.edit_impossible(
            atelier.pk, impossible.pk, statement=WELDERS, details="", category=Category.RECRUITMENT
        )
    assert ImpossibleFeatures.objects.get(impossible=impossible).statement == WELDERS
    assert [m.id for m in similarity.similar(atelier, WELDERS_AGAIN)] == [impossible.pk]


def test_posting_still_works_when_the_engine_raises(
    atelier, alice, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    def broken(impossible_id):
        raise RuntimeError("engine down")

    monkeypatch.setattr(engine, "refresh", broken)
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        response = alice.post(
            f"/a/{atelier.code}/impossibles/",
            {
                "statement": WELDERS,
                "category": Category.RECRUITMENT,
                "submission_key": "k-broken",
                "decision": "publish",
            },
        )
    assert response.status_code == 302
    assert Impossible.objects.filter(statement=WELDERS).count() == 1
    assert not ImpossibleFeatures.objects.exists()
