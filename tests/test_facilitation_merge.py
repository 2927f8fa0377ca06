"""Merging a duplicate into the impossible that is kept: every person counts
once, offers follow, the duplicate leaves the board. Also under concurrency
(PostgreSQL only: SQLite runs one writer at a time, there is no race there)."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from pytest_django.asserts import assertContains, assertRedirects

from boards import reads
from boards.live import publish
from boards.models import Atelier, HelpKind, HelpOffer, Impossible, MeToo, Participant, Role
from boards.services import facilitation, participation
from boards.services.core import NotFound
from tests.conftest import post_impossible

CONSOLE_URL = "/a/TST234/console/"
KEPT = "Impossible de recruter des soudeurs en Charente"
DUPLICATE = "Pas moyen de trouver un soudeur"

requires_postgresql = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="races need concurrent writers: SQLite serialises every write transaction",
)


@pytest.fixture
def pushed(monkeypatch):
    sent: list[dict[str, str]] = []
    monkeypatch.setattr(publish, "send", lambda atelier_id, messages, version=None: sent.append(messages))
    return sent


@pytest.fixture
def people(atelier, alice, bob, charlie) -> dict[str, Participant]:
    everyone = {"alice": alice.participant, "bob": bob.participant, "charlie": charlie.participant}
    for name in ("dana", "eve"):
        everyone[name] = participation.join_atelier(atelier, name=name.title(), organisation="", role=Role.PEER)
    return everyone


def _atelier() -> Atelier:
    return Atelier.objects.get(code="TST234")


def _fresh(impossible: Impossible) -> Impossible:
    return Impossible.objects.get(pk=impossible.pk)


def _merge(client, duplicate_id, into, **extra):
    return client.post(f"/a/TST234/console/impossibles/{duplicate_id}/merge/", {"into": into}, **extra)


def _voters(impossible: Impossible) -> set[int]:
    return set(MeToo.objects.filter(impossible=impossible).values_list("participant_id", flat=True))


# (kept's author, duplicate's author, moi aussi on kept, moi aussi on duplicate, expected count on kept)
SCENARIOS = {
    "overlap": ("alice", "bob", ["charlie", "dana"], ["charlie", "eve"], 4),  # charlie once, + bob
    "same author": ("alice", "alice", ["charlie"], ["charlie", "dana"], 2),  # alice adds nobody
    "author already counted": ("alice", "bob", ["bob", "charlie"], ["dana"], 3),  # bob once
    "kept author said moi aussi on the duplicate": ("alice", "bob", [], ["alice", "charlie"], 3),
    "nobody said moi aussi": ("alice", "bob", [], [], 1),  # the duplicate's author only
    "everybody on both": ("alice", "bob", ["bob", "charlie", "dana"], ["alice", "charlie", "dana", "eve"], 5),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_merging_counts_every_person_once(
    people, facilitator, events, pushed, django_capture_on_commit_callbacks, scenario
):
    kept_author, dup_author, on_kept, on_dup, expected = SCENARIOS[scenario]
    kept = post_impossible(people[kept_author], KEPT)
    duplicate = post_impossible(people[dup_author], DUPLICATE)
    for name in on_kept:
        participation.set_me_too(people[name], kept.pk, on=True)
    for name in on_dup:
        participation.set_me_too(people[name], duplicate.pk, on=True)
    distinct = {people[n].pk for n in on_kept} | {people[n].pk for n in on_dup}
    if dup_author != kept_author:
        distinct.add(people[dup_author].pk)
    assert len(distinct) == expected  # the scenario's arithmetic, spelled out
    version = _atelier().version

    with django_capture_on_commit_callbacks(execute=True):
        response = _merge(facilitator, duplicate.pk, kept.pk)

    assertRedirects(response, CONSOLE_URL, fetch_redirect_response=False)
    assert _fresh(kept).me_too_count == expected
    assert _voters(kept) == distinct
    assert MeToo.objects.filter(impossible=duplicate).count() == 0
    merged = _fresh(duplicate)
    assert (merged.hidden, merged.merged_into_id, merged.me_too_count, merged.offer_count) == (True, kept.pk, 0, 0)
    assert reads.load_stats(_atelier().pk).me_toos == expected
    assert reads.load_stats(_atelier().pk).impossibles == 1
    assert _atelier().version == version + 1
    assert events == [
        (kept.atelier_id, version + 1, {"type": "impossible.merged", "impossible": kept.pk, "merged": duplicate.pk})
    ]
    html = pushed[0]["fr"]
    assert f'<div id="imp-{duplicate.pk}" hx-swap-oob="delete"></div>' in html
    assert f'id="imp-{kept.pk}-metoo" data-count="{expected}" hx-swap-oob="true"' in html


def test_offers_follow_the_kept_impossible(people, facilitator, bob):
    kept = post_impossible(people["alice"], KEPT)
    duplicate = post_impossible(people["bob"], DUPLICATE)
    offer = {"kind": HelpKind.EXPERTISE, "message": "Je forme des soudeurs"}
    participation.offer_help(people["charlie"], kept.pk, **offer, submission_key="k1")
    participation.offer_help(people["dana"], duplicate.pk, **offer, submission_key="d1")
    participation.offer_help(
        people["eve"], duplicate.pk, kind=HelpKind.RESOURCE, message="Un poste libre", submission_key="d2"
    )
    hidden = participation.offer_help(people["charlie"], duplicate.pk, **offer, submission_key="d3")
    facilitation.set_offer_hidden(_atelier().pk, hidden.pk, hidden=True)

    _merge(facilitator, duplicate.pk, kept.pk)

    assert HelpOffer.objects.filter(impossible=kept).count() == 4
    assert not HelpOffer.objects.filter(impossible=duplicate).exists()
    assert _fresh(kept).offer_count == 3  # the hidden offer moved but stays hidden
    assert HelpOffer.objects.get(pk=hidden.pk).hidden is True
    assert reads.load_stats(_atelier().pk).offers == 3
    board = bob.get("/a/TST234/")
    assertContains(board, f'id="imp-{kept.pk}-offers" data-count="3"')
    assertContains(board, "Un poste libre")
    assert DUPLICATE not in board.content.decode()
    # The kept impossible's author now sees the moved offers with their contacts.
    assert people["alice"].pk == kept.author_id


def test_the_duplicates_author_now_shares_the_kept_impossible(people, facilitator, bob):
    kept = post_impossible(people["alice"], KEPT)
    duplicate = post_impossible(people["bob"], DUPLICATE)

    _merge(facilitator, duplicate.pk, kept.pk)

    page = bob.get("/a/TST234/").content.decode()
    assert f'aria-pressed="true" data-impossible="{kept.pk}"' in page
    assert DUPLICATE not in page


def test_merging_twice_is_one_merge(people, facilitator, events, django_capture_on_commit_callbacks):
    kept = post_impossible(people["alice"], KEPT)
    duplicate = post_impossible(people["bob"], DUPLICATE)
    participation.set_me_too(people["charlie"], duplicate.pk, on=True)
    version = _atelier().version

    with django_capture_on_commit_callbacks(execute=True):
        first = _merge(facilitator, duplicate.pk, kept.pk)
        second = _merge(facilitator, duplicate.pk, kept.pk)  # a double click
        facilitation.merge_impossibles(_atelier().pk, kept.pk, duplicate.pk)

    assertRedirects(first, CONSOLE_URL, fetch_redirect_response=False)
    assertRedirects(second, CONSOLE_URL, fetch_redirect_response=False)
    assert _fresh(kept).me_too_count == 2
    assert _atelier().version == version + 1
    assert [event["type"] for _a, _v, event in events] == ["impossible.merged"]


def test_the_merge_page_of_a_merged_impossible_is_gone(people, facilitator):
    kept = post_impossible(people["alice"], KEPT)
    duplicate = post_impossible(people["bob"], DUPLICATE)
    _merge(facilitator, duplicate.pk, kept.pk)

    assert facilitator.get(f"/a/TST234/console/impossibles/{duplicate.pk}/merge/").status_code == 404
    other = post_impossible(people["charlie"], "Impossible de loger les apprentis")
    # Folding it again, into something else, is not possible either.
    assert _merge(facilitator, duplicate.pk, other.pk).status_code == 404
    assert _fresh(duplicate).merged_into_id == kept.pk


def test_merging_into_itself_is_refused(people, facilitator, events, django_capture_on_commit_callbacks):
    duplicate = post_impossible(people["bob"], DUPLICATE)
    version = _atelier().version

    with django_capture_on_commit_callbacks(execute=True):
        response = _merge(facilitator, duplicate.pk, duplicate.pk)

    assertContains(response, "Choisissez deux impossibles différents.")
    assert _fresh(duplicate).hidden is False
    assert _fresh(duplicate).merged_into_id is None
    assert _atelier().version == version
    assert events == []
    with pytest.raises(ValidationError):
        facilitation.merge_impossibles(_atelier().pk, duplicate.pk, str(duplicate.pk))


@pytest.mark.parametrize("into", ["", "abc", "1.5"])
def test_merging_without_choosing_asks_to_choose(people, facilitator, into):
    duplicate = post_impossible(people["bob"], DUPLICATE)
    response = _merge(facilitator, duplicate.pk, into)
    assertContains(response, "Choisissez l&#x27;impossible à garder.")
    assert _fresh(duplicate).merged_into_id is None


@pytest.mark.parametrize(
    "case", ["hidden duplicate", "hidden kept", "pending kept", "unknown kept", "unknown duplicate"]
)
def test_merging_what_is_not_on_the_board_is_a_404(
    people, facilitator, other_atelier, events, django_capture_on_commit_callbacks, case
):
    kept = post_impossible(people["alice"], KEPT)
    duplicate = post_impossible(people["bob"], DUPLICATE)
    participation.set_me_too(people["charlie"], duplicate.pk, on=True)
    duplicate_id, kept_id = duplicate.pk, kept.pk
    if case == "hidden duplicate":
        facilitation.set_impossible_hidden(_atelier().pk, duplicate.pk, hidden=True)
    elif case == "hidden kept":
        facilitation.set_impossible_hidden(_atelier().pk, kept.pk, hidden=True)
    elif case == "pending kept":
        Impossible.objects.filter(pk=kept.pk).update(pending=True)
    elif case == "unknown kept":
        kept_id = kept.pk + 1000
    else:
        duplicate_id = duplicate.pk + 1000
    version = _atelier().version
    rows = sorted(MeToo.objects.values_list("impossible_id", "participant_id"))

    with django_capture_on_commit_callbacks(execute=True):
        response = _merge(facilitator, duplicate_id, kept_id)

    assert response.status_code == 404
    assert _fresh(duplicate).merged_into_id is None
    assert sorted(MeToo.objects.values_list("impossible_id", "participant_id")) == rows
    assert _atelier().version == version
    assert events == []


def test_merging_into_another_ateliers_impossible_is_a_404(people, facilitator, other_atelier):
    stranger = participation.join_atelier(other_atelier, name="Zoé", organisation="", role=Role.OTHER)
    foreign = post_impossible(stranger, "Impossible ailleurs")
    duplicate = post_impossible(people["bob"], DUPLICATE)

    assert _merge(facilitator, duplicate.pk, foreign.pk).status_code == 404
    assert _fresh(duplicate).merged_into_id is None
    assert _fresh(foreign).me_too_count == 0
    with pytest.raises(NotFound):
        facilitation.merge_impossibles(_atelier().pk, foreign.pk, duplicate.pk)


def test_the_spotlight_on_the_duplicate_moves_to_the_kept_one(people, facilitator, bob):
    kept = post_impossible(people["alice"], KEPT)
    duplicate = post_impossible(people["bob"], DUPLICATE)
    facilitator.post("/a/TST234/console/spotlight/", {"impossible": duplicate.pk})

    _merge(facilitator, duplicate.pk, kept.pk)

    assert _atelier().spotlight_id == kept.pk
    assert facilitator.get("/a/TST234/projector/").context["spotlight"].pk == kept.pk
    assertContains(bob.get("/a/TST234/"), f'<a href="#imp-{kept.pk}">{KEPT}</a>')


def test_the_spotlight_on_another_impossible_stays(people, facilitator):
    kept = post_impossible(people["alice"], KEPT)
    duplicate = post_impossible(people["bob"], DUPLICATE)
    third = post_impossible(people["charlie"], "Impossible de loger les apprentis")
    facilitator.post("/a/TST234/console/spotlight/", {"impossible": third.pk})

    _merge(facilitator, duplicate.pk, kept.pk)

    assert _atelier().spotlight_id == third.pk


def test_merges_chain(people, facilitator):
    first = post_impossible(people["alice"], "Recruter des soudeurs")
    second = post_impossible(people["bob"], "Trouver des soudeurs")
    third = post_impossible(people["charlie"], "Embaucher des soudeurs")
    participation.set_me_too(people["dana"], second.pk, on=True)
    participation.set_me_too(people["eve"], first.pk, on=True)
    participation.set_me_too(people["dana"], third.pk, on=True)

    _merge(facilitator, second.pk, first.pk)  # first: eve, dana, bob
    _merge(facilitator, first.pk, third.pk)  # third: dana, eve, bob, alice

    assert _voters(third) == {people[n].pk for n in ("alice", "bob", "dana", "eve")}
    assert _fresh(third).me_too_count == 4
    assert reads.load_stats(_atelier().pk).me_toos == 4
    assert reads.load_stats(_atelier().pk).impossibles == 1


def test_the_merge_page_offers_the_visible_impossibles_same_category_first(people, facilitator):
    duplicate = post_impossible(people["bob"], DUPLICATE)
    same = post_impossible(people["alice"], KEPT)
    other = post_impossible(people["charlie"], "Impossible de financer un four", category="financement")
    hidden = post_impossible(people["dana"], "Masqué")
    facilitation.set_impossible_hidden(_atelier().pk, hidden.pk, hidden=True)
    pending = post_impossible(people["eve"], "En attente")
    Impossible.objects.filter(pk=pending.pk).update(pending=True)

    response = facilitator.get(f"/a/TST234/console/impossibles/{duplicate.pk}/merge/")

    assert [i.pk for i in response.context["same"]] == [same.pk]
    assert [i.pk for i in response.context["others"]] == [other.pk]


# --- Races (PostgreSQL) -------------------------------------------------------------------------


def _together(*calls):
    """Run the calls in threads released at the same instant; each thread
    has its own database connection, closed at the end."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as error:  # collected, asserted by the test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


@requires_postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_two_facilitators_merging_the_same_pair_at_once_merge_once(people, events, attempt):
    kept = post_impossible(people["alice"], KEPT)
    duplicate = post_impossible(people["bob"], DUPLICATE)
    for name in ("charlie", "dana"):
        participation.set_me_too(people[name], kept.pk, on=True)
    for name in ("charlie", "eve", "alice"):
        participation.set_me_too(people[name], duplicate.pk, on=True)
    version = _atelier().version
    events.clear()
    atelier_id = _atelier().pk

    results = _together(
        lambda: facilitation.merge_impossibles(atelier_id, kept.pk, duplicate.pk),
        lambda: facilitation.merge_impossibles(atelier_id, kept.pk, duplicate.pk),
    )

    assert results == [None, None]
    expected = {people[n].pk for n in ("alice", "bob", "charlie", "dana", "eve")}
    assert _voters(kept) == expected
    assert _fresh(kept).me_too_count == 5
    assert MeToo.objects.filter(impossible=duplicate).count() == 0
    assert _fresh(duplicate).merged_into_id == kept.pk
    assert [event["type"] for _a, _v, event in events] == ["impossible.merged"]
    assert _atelier().version == version + 1


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_merging_both_ways_at_once_keeps_one_of_them(people, events):
    first = post_impossible(people["alice"], KEPT)
    second = post_impossible(people["bob"], DUPLICATE)
    participation.set_me_too(people["charlie"], first.pk, on=True)
    participation.set_me_too(people["dana"], second.pk, on=True)
    atelier_id = _atelier().pk

    results = _together(
        lambda: facilitation.merge_impossibles(atelier_id, first.pk, second.pk),
        lambda: facilitation.merge_impossibles(atelier_id, second.pk, first.pk),
    )

    # One merge wins; the other finds its target gone.
    assert sorted(type(result).__name__ for result in results) == ["NoneType", "NotFound"]
    survivors = list(Impossible.objects.visible())
    assert len(survivors) == 1
    survivor = survivors[0]
    assert survivor.me_too_count == MeToo.objects.filter(impossible=survivor).count() == 3
    assert MeToo.objects.count() == 3
    assert reads.load_stats(atelier_id).me_toos == 3


def _crowd(atelier: Atelier, size: int) -> list[Participant]:
    return [
        participation.join_atelier(atelier, name=f"Personne {n}", organisation="", role=Role.OTHER) for n in range(size)
    ]


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_hiding_while_the_room_says_moi_aussi_keeps_the_count_exact(atelier, alice):
    impossible = post_impossible(alice.participant, KEPT)
    crowd = _crowd(atelier, 24)

    def say(person):
        return lambda: participation.set_me_too(person, impossible.pk, on=True)

    calls = [say(person) for person in crowd]
    calls.insert(len(calls) // 2, lambda: facilitation.set_impossible_hidden(atelier.pk, impossible.pk, hidden=True))
    results = _together(*calls)

    assert all(result is None or isinstance(result, Impossible | NotFound) for result in results), results
    rows = MeToo.objects.filter(impossible=impossible).count()
    accepted = sum(isinstance(result, Impossible) for result in results)
    assert rows == accepted
    assert _fresh(impossible).me_too_count == rows
    assert _fresh(impossible).hidden is True
    facilitation.set_impossible_hidden(atelier.pk, impossible.pk, hidden=False)
    assert reads.load_stats(atelier.pk).me_toos == rows


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_merging_while_the_room_says_moi_aussi_on_both_keeps_the_count_exact(atelier, alice, bob):
    kept = post_impossible(alice.participant, KEPT)
    duplicate = post_impossible(bob.participant, DUPLICATE)
    crowd = _crowd(atelier, 20)

    def say(person, target):
        return lambda: participation.set_me_too(person, target.pk, on=True)

    calls = [say(person, kept if n % 2 else duplicate) for n, person in enumerate(crowd)]
    calls += [say(person, duplicate if n % 2 else kept) for n, person in enumerate(crowd[:6])]
    calls.insert(10, lambda: facilitation.merge_impossibles(atelier.pk, kept.pk, duplicate.pk))
    results = _together(*calls)

    assert all(result is None or isinstance(result, Impossible | NotFound) for result in results), results
    assert MeToo.objects.filter(impossible=duplicate).count() == 0
    voters = _voters(kept)
    assert _fresh(kept).me_too_count == len(voters)
    assert bob.participant.pk in voters
    assert reads.load_stats(atelier.pk).me_toos == len(voters)
    assert _fresh(duplicate).merged_into_id == kept.pk
