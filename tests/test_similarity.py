"""« Ça ressemble à… »: the engine's API against the real models.

Alice, Bob and Charlie post impossibles in the same atelier; Olga's atelier is
another one. Features are computed by the hook the services will call
(`engine.refresh`), except where a test leaves them missing or stale.
"""

from __future__ import annotations

import dataclasses
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction

from boards.models import DismissedDuplicate, Impossible, ImpossibleFeatures, Role
from boards.services import facilitation
from boards.services.core import NotFound
from boards.similarity import engine, scoring, text
from tests.conftest import _persona, post_impossible

pytestmark = pytest.mark.django_db

WELDERS = "Impossible de recruter des soudeurs"
WELDERS_AGAIN = "pénurie de soudeurs dans le Cognaçais"
GRAPE_PICKERS = "Trouver des vendangeurs pour septembre, chaque année c'est la galère"
ELECTRICITY = "La facture d'électricité a triplé depuis le renouvellement du contrat"


def post(persona, statement: str, *, refresh: bool = True, **extra) -> Impossible:
    impossible = post_impossible(persona.participant, statement, **extra)
    if refresh:
        assert engine.refresh(impossible.pk)
    return impossible


def ids(matches) -> list[int]:
    return [m.id for m in matches]


# --- similar(): what a participant about to post is shown ------------------------------


def test_it_suggests_the_same_impossible_written_in_other_words(atelier, alice, bob):
    welders = post(alice, WELDERS)
    post(bob, GRAPE_PICKERS)
    post(bob, ELECTRICITY)

    matches = engine.similar(atelier, WELDERS_AGAIN)

    assert ids(matches)[:1] == [welders.pk]
    assert matches[0].statement == WELDERS
    assert matches[0].category == welders.category
    assert 0 < matches[0].score <= 1


def test_it_shows_at_most_three_cards_best_first(atelier, alice):
    for statement in (
        WELDERS,
        "On ne trouve pas de soudeurs qualifiés",
        "Aucun candidat pour nos postes en soudure",
        "Recruter des soudeurs à Cognac",
        "soudeurs introuvables, les annonces restent sans réponse",
    ):
        post(alice, statement)

    matches = engine.similar(atelier, WELDERS_AGAIN)

    assert len(matches) == 3
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)


def test_an_unrelated_impossible_gets_no_suggestion(atelier, alice):
    post(alice, WELDERS)
    post(alice, GRAPE_PICKERS)

    assert engine.similar(atelier, "Le prix du carton d'emballage a doublé") == []


def test_hidden_pending_and_merged_impossibles_are_never_suggested(atelier, alice, bob, charlie):
    hidden = post(alice, WELDERS)
    merged = post(bob, "On ne trouve pas de soudeurs qualifiés")
    kept = post(charlie, "Recruter des soudeurs à Cognac")
    facilitation.set_impossible_hidden(atelier.pk, hidden.pk, hidden=True)
    facilitation.merge_impossibles(atelier.pk, kept.pk, merged.pk)
    facilitation.set_premoderation(atelier.pk, True)
    pending = post(alice, "Aucun candidat pour nos postes en soudure")
    assert Impossible.objects.get(pk=pending.pk).pending

    assert ids(engine.similar(atelier, WELDERS_AGAIN)) == [kept.pk]


def test_impossibles_of_another_atelier_are_never_suggested(atelier, other_atelier, alice):
    olga = _persona(other_atelier, "Olga", Role.ENTREPRENEUR)
    post(olga, WELDERS)

    assert engine.similar(atelier, WELDERS_AGAIN) == []
    assert engine.similar(other_atelier.pk, WELDERS_AGAIN) != []


def test_a_suggestion_never_names_the_author_of_an_anonymous_impossible(atelier, alice):
    secret = post(alice, WELDERS, anonymous=True)

    (match,) = engine.similar(atelier, WELDERS_AGAIN)

    assert match.id == secret.pk
    assert {field.name for field in dataclasses.fields(match)} == {"id", "statement", "category", "score"}
    assert "Alice" not in repr(match)


def test_the_impossible_being_edited_can_be_left_out(atelier, alice):
    welders = post(alice, WELDERS)

    assert engine.similar(atelier, WELDERS_AGAIN, exclude=[welders.pk]) == []


# --- Features: computed once, kept current ---------------------------------------------------


def test_an_impossible_without_features_is_left_out_until_they_are_computed(atelier, alice):
    welders = post(alice, WELDERS, refresh=False)
    assert engine.similar(atelier, WELDERS_AGAIN) == []

    out = io.StringIO()
    call_command("similarity_features", stdout=out)

    assert "1 impossible(s) (re)computed" in out.getvalue()
    assert ids(engine.similar(atelier, WELDERS_AGAIN)) == [welders.pk]
    call_command("similarity_features", stdout=out)
    assert "0 impossible(s) (re)computed" in out.getvalue()


def test_an_edit_the_engine_was_not_told_about_is_not_matched_on_the_old_text(atelier, alice):
    impossible = post(alice, WELDERS)
    facilitation.edit_impossible(atelier.pk, impossible.pk, statement=ELECTRICITY, details="", category="energie")

    assert engine.similar(atelier, WELDERS_AGAIN) == []
    assert engine.similar(atelier, "Nos coûts énergétiques explosent, le courant nous ruine") == []

    assert engine.refresh(impossible.pk)
    (match,) = engine.similar(atelier, "Nos coûts énergétiques explosent, le courant nous ruine")
    assert (match.id, match.statement) == (impossible.pk, ELECTRICITY)


def test_features_can_be_computed_once_the_post_commits(atelier, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        impossible = post(alice, WELDERS, refresh=False)
        engine.refresh_on_commit(impossible.pk)
        assert not ImpossibleFeatures.objects.filter(impossible=impossible).exists()

    features = ImpossibleFeatures.objects.get(impossible=impossible)
    assert features.version == scoring.features_version()
    assert "#soudeur" in features.terms["items"]


def test_refreshing_an_impossible_that_is_gone_says_so(db):
    assert engine.refresh(987654) is False


# --- Failures and bad input --------------------------------------------------------------


def test_when_the_engine_fails_callers_get_nothing_rather_than_an_error(atelier, alice, monkeypatch):
    post(alice, WELDERS)
    post(alice, "On ne trouve pas de soudeurs qualifiés")

    def broken(*args, **kwargs):
        raise RuntimeError("engine broken")

    monkeypatch.setattr(scoring.Board, "signals", broken)
    monkeypatch.setattr(scoring.Board, "pair_scores", broken)
    assert engine.similar(atelier, WELDERS_AGAIN) == []
    assert engine.likely_duplicates(atelier) == []
    assert engine.group(Impossible.objects.all()) == []
    monkeypatch.setattr(scoring, "terms", broken)
    assert engine.refresh(Impossible.objects.first().pk) is False
    assert engine.score(WELDERS, WELDERS_AGAIN) == 0.0


HOSTILE = [
    "",
    "   ",
    "soudeurs",
    "😀😀😀🔥",
    "?!…",
    "a" * 280,
    "x" * 279 + " soudeurs",
    "<script>alert('soudeurs')</script><b>recruter</b>",
    "\u202esrueduos retuercer\u202c soudeurs \u200f\u200b",
    "recruter\x01\x07\x1b[31m des soudeurs\x7f",
    "Impossible de recruter des soudeurs " * 40,
    "ﷺ" * 280,
]


@pytest.mark.parametrize("typed", HOSTILE)
def test_bad_input_never_breaks_a_look_up(atelier, alice, typed):
    welders = post(alice, WELDERS)

    matches = engine.similar(atelier, typed)

    assert isinstance(matches, list) and len(matches) <= 3
    assert all(m.id == welders.pk for m in matches)
    assert 0.0 <= engine.score(typed, WELDERS) <= 1.0 + 1e-6


@pytest.mark.parametrize("typed", [*HOSTILE, "é" * 100_000, "mot " * 50_000])
def test_the_work_done_on_any_text_is_bounded(typed):
    analysis = text.analyse(typed)

    assert len(analysis.text) <= text.MAX_CHARS
    assert all(len(stem) <= text.MAX_WORD for stem in analysis.stems)
    assert len(analysis.trigrams) <= 3 * text.MAX_CHARS


def test_control_and_direction_characters_are_not_kept(alice):
    cleaned = text.clean("\u202erecruter\u202c\x00 des\u200b soudeurs\x07")
    assert cleaned == "recruter des soudeurs"


# --- likely_duplicates(): the facilitators' console -----------------------------------------


def test_the_console_lists_likely_duplicates_best_first_older_first(atelier, alice, bob):
    welders = post(alice, WELDERS)
    again = post(bob, WELDERS_AGAIN)
    post(bob, GRAPE_PICKERS)

    pairs = engine.likely_duplicates(atelier)

    assert [(p.first_id, p.second_id) for p in pairs] == [(welders.pk, again.pk)]
    assert (pairs[0].first_statement, pairs[0].second_statement) == (WELDERS, WELDERS_AGAIN)


def test_a_dismissed_pair_is_no_longer_proposed(atelier, alice, bob, facilitator):
    welders = post(alice, WELDERS)
    again = post(bob, WELDERS_AGAIN)

    facilitation.dismiss_duplicate(atelier.pk, again.pk, welders.pk, user=facilitator.user)
    facilitation.dismiss_duplicate(atelier.pk, welders.pk, again.pk, user=facilitator.user)

    assert engine.likely_duplicates(atelier) == []
    (dismissed,) = DismissedDuplicate.objects.all()
    assert (dismissed.first_id, dismissed.second_id, dismissed.dismissed_by) == (
        welders.pk,
        again.pk,
        facilitator.user,
    )


def test_a_pair_can_be_dismissed_only_once_and_in_order(atelier, alice, bob):
    welders = post(alice, WELDERS)
    again = post(bob, WELDERS_AGAIN)
    DismissedDuplicate.objects.create(atelier=atelier, first=welders, second=again)

    with pytest.raises(IntegrityError), transaction.atomic():
        DismissedDuplicate.objects.create(atelier=atelier, first=welders, second=again)
    with pytest.raises(IntegrityError), transaction.atomic():
        DismissedDuplicate.objects.create(atelier=atelier, first=again, second=welders)


def test_dismissing_needs_two_impossibles_of_the_atelier(atelier, other_atelier, alice):
    welders = post(alice, WELDERS)
    olga = _persona(other_atelier, "Olga", Role.ENTREPRENEUR)
    foreign = post(olga, WELDERS_AGAIN)

    with pytest.raises(NotFound):
        facilitation.dismiss_duplicate(atelier.pk, welders.pk, foreign.pk)
    with pytest.raises(ValidationError):
        facilitation.dismiss_duplicate(atelier.pk, welders.pk, welders.pk)
    assert not DismissedDuplicate.objects.exists()


def test_a_merged_duplicate_leaves_the_console_list(atelier, alice, bob):
    welders = post(alice, WELDERS)
    again = post(bob, WELDERS_AGAIN)

    facilitation.merge_impossibles(atelier.pk, welders.pk, again.pk)

    assert engine.likely_duplicates(atelier) == []


# --- group() and score(): the observatoire -----------------------------------------------


def test_themes_are_grouped_across_ateliers_from_visible_impossibles_only(atelier, other_atelier, alice, bob):
    olga = _persona(other_atelier, "Olga", Role.ENTREPRENEUR)
    welders = post(alice, WELDERS)
    welders_elsewhere = post(olga, WELDERS_AGAIN)
    power = post(bob, ELECTRICITY)
    power_elsewhere = post(olga, "Nos coûts énergétiques explosent, le courant nous ruine")
    alone = post(bob, GRAPE_PICKERS)
    hidden = post(bob, "On ne trouve pas de soudeurs qualifiés")
    facilitation.set_impossible_hidden(atelier.pk, hidden.pk, hidden=True)

    groups = engine.group([welders, welders_elsewhere.pk, power, power_elsewhere, alone, hidden])

    assert sorted(groups) == sorted([[welders.pk, welders_elsewhere.pk], [power.pk, power_elsewhere.pk]])
    assert sorted(engine.group(Impossible.objects.all())) == sorted(groups)


def test_the_pairwise_score_is_symmetric_and_bounded():
    forward = engine.score(WELDERS, WELDERS_AGAIN)
    assert forward == pytest.approx(engine.score(WELDERS_AGAIN, WELDERS), abs=1e-6)
    assert forward >= scoring.SUGGEST_THRESHOLD
    assert engine.score(WELDERS, ELECTRICITY) < scoring.SUGGEST_THRESHOLD
    assert engine.score(WELDERS, WELDERS) == pytest.approx(1.0, abs=1e-5)
