"""The board must cost the same number of queries with 10 or 200 impossibles:
the page, the snapshot pushed on (re)connection and every live event."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from boards.access import session_key
from boards.live import messages
from boards.models import Atelier, Category, HelpKind, HelpOffer, Impossible, MeToo, Participant, Role
from boards.reads import PAGE_SIZE

PEOPLE = 12
ME_TOOS_PER_IMPOSSIBLE = 8
OFFERS_PER_IMPOSSIBLE = 3


def _fill(atelier: Atelier, count: int) -> list[Participant]:
    """A board of `count` impossibles, each with moi aussi and offers, in a
    handful of bulk inserts. Counters match the rows they summarise."""
    people = Participant.objects.bulk_create(
        Participant(atelier=atelier, name=f"Personne {i}", organisation=f"Org {i}", role=Role.values[i % len(Role)])
        for i in range(PEOPLE)
    )
    categories = Category.values
    impossibles = Impossible.objects.bulk_create(
        Impossible(
            atelier=atelier,
            author=people[i % PEOPLE],
            statement=f"Impossible numéro {i}",
            details=f"Détails du numéro {i}\nsur deux lignes",
            category=categories[i % len(categories)],
            anonymous=i % 5 == 0,
            submission_key=f"bulk-{atelier.pk}-{i}",
            me_too_count=ME_TOOS_PER_IMPOSSIBLE,
            offer_count=OFFERS_PER_IMPOSSIBLE,
        )
        for i in range(count)
    )
    MeToo.objects.bulk_create(
        MeToo(impossible=impossible, participant=people[j])
        for impossible in impossibles
        for j in range(ME_TOOS_PER_IMPOSSIBLE)
    )
    kinds = HelpKind.values
    HelpOffer.objects.bulk_create(
        HelpOffer(
            impossible=impossible,
            author=people[(n + k + 1) % PEOPLE],
            kind=kinds[k % len(kinds)],
            message=f"Offre {k} pour {n}",
            contact=f"contact-{n}-{k}@example.org",
            submission_key=f"offer-{impossible.pk}-{k}",
        )
        for n, impossible in enumerate(impossibles)
        for k in range(OFFERS_PER_IMPOSSIBLE)
    )
    # Sanity: the denormalised counters agree with the rows.
    assert MeToo.objects.filter(impossible__atelier=atelier).count() == count * ME_TOOS_PER_IMPOSSIBLE
    assert HelpOffer.objects.filter(impossible__atelier=atelier).count() == count * OFFERS_PER_IMPOSSIBLE
    return people


def _client_for(participant: Participant) -> Client:
    client = Client()
    session = client.session
    session[session_key(participant.atelier_id)] = participant.pk
    session.save()
    client.cookies["sessionid"] = session.session_key
    return client


@pytest.fixture
def small(db):
    atelier = Atelier.objects.create(title="Petit atelier", code="PETIT2")
    return atelier, _fill(atelier, 10)


@pytest.fixture
def big(db):
    atelier = Atelier.objects.create(title="Grand atelier", code="GRAND2")
    return atelier, _fill(atelier, 200)


def _count_queries(action) -> tuple[int, list[str], object]:
    with CaptureQueriesContext(connection) as queries:
        result = action()
    return len(queries), [q["sql"] for q in queries.captured_queries], result


def _assert_same(small_run, big_run) -> None:
    small_count, small_sql, _ = small_run
    big_count, big_sql, _ = big_run
    assert big_count == small_count, "\n".join(["-- small board:", *small_sql, "-- big board:", *big_sql])


# --- The page ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params", [{}, {"sort": "top"}, {"category": "financement"}, {"shown": 200}, {"shown": 200, "sort": "top"}]
)
def test_the_board_page_costs_the_same_with_200_impossibles_as_with_10(small, big, params):
    runs, warm_runs = [], []
    for atelier, people in (small, big):
        client = _client_for(people[0])
        url = f"/a/{atelier.code}/"
        client.get(url, params)  # warm up anything cached per process
        cache.clear()  # but render the cards again (boards/cards.py)
        runs.append(_count_queries(lambda client=client, url=url: client.get(url, params)))
        # Another phone of the room: the cards rendered for the first.
        other = _client_for(people[1])
        warm_runs.append(_count_queries(lambda client=other, url=url: client.get(url, params)))

    _assert_same(*runs)
    _assert_same(*warm_runs)
    for small_response, big_response in ((runs[0][2], runs[1][2]), (warm_runs[0][2], warm_runs[1][2])):
        assert small_response.status_code == big_response.status_code == 200
        # The big page really shows what it was asked for, offers and all:
        # the first page by default, the whole board when asked to show it.
        html = big_response.content.decode()
        if not params or params.get("shown"):
            shown = params.get("shown", PAGE_SIZE)
            assert html.count('<article class="card"') == shown
            assert html.count('<li class="offer">') == shown * OFFERS_PER_IMPOSSIBLE
            assert html.count('aria-pressed="true"') == shown
            assert ('id="more-link" class="more"' in html) == (shown < 200)
    # One prefetch each for offers, précisions and actions, and the version
    # that keys the rendered cards.
    assert runs[1][0] <= 17
    # The cards come from the cache: no board read at all.
    assert warm_runs[1][0] <= runs[1][0] - 8


def test_the_impossible_detail_page_does_not_grow_with_offers(small, big):
    runs = []
    for atelier, people in (small, big):
        impossible = Impossible.objects.filter(atelier=atelier).first()
        HelpOffer.objects.bulk_create(
            HelpOffer(
                impossible=impossible,
                author=person,
                kind=HelpKind.EXPERTISE,
                message="encore",
                submission_key=f"more-{atelier.pk}-{n}",
            )
            for n, person in enumerate(people * (1 if atelier.code == "PETIT2" else 5))
        )
        client = _client_for(impossible.author)
        url = f"/a/{atelier.code}/impossibles/{impossible.pk}/"
        client.get(url)
        runs.append(_count_queries(lambda client=client, url=url: client.get(url)))

    _assert_same(*runs)
    assert runs[1][2].status_code == 200


# --- The snapshot -------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_snapshot_costs_the_same_with_200_impossibles_as_with_10(small, big, language):
    runs = []
    for atelier, _people in (small, big):
        cache.clear()
        runs.append(_count_queries(lambda atelier=atelier: messages.snapshot_message(atelier, language)))

    _assert_same(*runs)
    _version, html = runs[1][2]
    # The first page of the view, with the way to the rest.
    assert html.count('<article class="card"') == PAGE_SIZE
    assert 'id="more-link" class="more" hx-swap-oob="true"' in html


def test_the_more_page_costs_the_same_with_200_impossibles_as_with_10(small, big):
    runs = []
    for atelier, people in (small, big):
        client = _client_for(people[0])
        url = f"/a/{atelier.code}/impossibles/more/"
        runs.append(_count_queries(lambda client=client, url=url: client.get(url, {"offset": 5, "sort": "top"})))

    _assert_same(*runs)
    big_html = runs[1][2].content.decode()
    assert big_html.count('<article class="card"') == PAGE_SIZE
    assert 'id="more-link" class="more" hx-swap-oob="true"' in big_html
    small_html = runs[0][2].content.decode()
    assert small_html.count('<article class="card"') == 5
    assert '<p id="more-link" hidden hx-swap-oob="true">' in small_html


def test_the_snapshot_is_rendered_once_per_version(small):
    atelier, _people = small
    cache.clear()
    first_count, _sql, first = _count_queries(lambda: messages.snapshot_message(atelier, "fr"))
    second_count, _sql, second = _count_queries(lambda: messages.snapshot_message(atelier, "fr"))
    assert first == second
    assert second_count == 1 < first_count

    Atelier.objects.filter(pk=atelier.pk).update(version=7)
    version, _html = messages.snapshot_message(atelier, "fr")
    assert version == 7


# --- Live events -----------------------------------------------------------------------------


def _event(kind: str, atelier: Atelier, people: list[Participant]) -> dict:
    impossible = Impossible.objects.filter(atelier=atelier, anonymous=False).order_by("-id").first()
    if kind == "participant.updated":
        return {"type": kind, "participant": people[1].pk}
    if kind == "offer.posted":
        offer = impossible.offers.first()
        return {"type": kind, "impossible": impossible.pk, "offer": offer.pk}
    return {"type": kind, "impossible": impossible.pk}


@pytest.mark.parametrize("kind", ["impossible.posted", "metoo.changed", "offer.posted", "participant.updated"])
def test_an_event_costs_the_same_with_200_impossibles_as_with_10(small, big, kind):
    runs = []
    for atelier, people in (small, big):
        event = _event(kind, atelier, people)
        runs.append(_count_queries(lambda atelier=atelier, event=event: messages.event_messages(atelier.pk, 5, event)))

    _assert_same(*runs)
    rendered = runs[1][2]
    assert set(rendered) == {"fr", "en"}
    if kind == "participant.updated":
        # Personne 1 wrote 1/12 of the big board and offered on a quarter of it:
        # all of it is in the one message.
        authored = Impossible.objects.filter(atelier=big[0], author=big[1][1], anonymous=False).count()
        assert authored > 10
        assert rendered["fr"].count('class="byline" id="imp-') == authored
        offered_on = Impossible.objects.filter(atelier=big[0], offers__author=big[1][1]).distinct().count()
        assert offered_on > 10
        assert rendered["fr"].count('<section class="offers"') == offered_on
