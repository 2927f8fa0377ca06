"""A big board reaches phones a page at a time: the first cards, then more
on demand. Snapshots re-render the view the phone is looking at."""

from __future__ import annotations

import re

import pytest

from boards import reads
from boards.live import messages
from boards.models import Category, Impossible, MeToo
from boards.reads import PAGE_SIZE
from tests.conftest import post_impossible

CARD_ID = re.compile(r'<article class="card" id="imp-(\d+)"')


@pytest.fixture
def big_board(alice, bob):
    """PAGE_SIZE + 10 impossibles, the older ones with more "moi aussi"."""
    impossibles = []
    for number in range(PAGE_SIZE + 10):
        category = Category.FUNDING if number % 2 else Category.RECRUITMENT
        impossible = post_impossible(alice.participant, f"Impossible numéro {number}", category=category)
        Impossible.objects.filter(pk=impossible.pk).update(me_too_count=PAGE_SIZE + 10 - number)
        impossibles.append(impossible)
    return impossibles


def card_ids(html: str) -> list[int]:
    return [int(found) for found in CARD_ID.findall(html)]


def test_the_board_shows_the_first_page_and_a_way_to_the_rest(bob, big_board):
    html = bob.get("/a/TST234/").content.decode()

    assert card_ids(html) == [i.pk for i in reversed(big_board)][:PAGE_SIZE]
    assert 'id="more-link" class="more"' in html


def test_without_javascript_show_more_reloads_with_more_cards(bob, big_board):
    html = bob.get("/a/TST234/", {"shown": PAGE_SIZE * 2}).content.decode()

    assert len(card_ids(html)) == PAGE_SIZE + 10
    assert 'id="more-link" class="more"' not in html


def test_more_continues_the_same_order_without_repeats(bob, big_board):
    first = card_ids(bob.get("/a/TST234/", {"sort": "top"}).content.decode())
    more = bob.get("/a/TST234/impossibles/more/", {"sort": "top", "offset": len(first)}, HTTP_HX_REQUEST="true")

    rest = card_ids(more.content.decode())
    assert first + rest == [i.pk for i in sorted(big_board, key=lambda i: -(PAGE_SIZE + 10 - big_board.index(i)))]
    assert '<p id="more-link" hidden hx-swap-oob="true">' in more.content.decode()


def test_more_follows_the_category_and_shows_my_me_toos(bob, big_board):
    oldest_funding = next(i for i in big_board if i.category == Category.FUNDING)
    MeToo.objects.create(impossible=oldest_funding, participant=bob.participant)

    response = bob.get("/a/TST234/impossibles/more/", {"category": Category.FUNDING, "offset": 20})

    html = response.content.decode()
    funding = [i.pk for i in reversed(big_board) if i.category == Category.FUNDING]
    assert card_ids(html) == funding[20:]
    assert card_ids(html)[-1] == oldest_funding.pk
    assert f'value="off" aria-pressed="true" data-impossible="{oldest_funding.pk}"' in html
    assert html.count('aria-pressed="true"') == 1


def test_more_is_for_members_only(outsider, big_board):
    response = outsider.get("/a/TST234/impossibles/more/", {"offset": 40})

    assert response.status_code == 302
    assert response["Location"] == "/a/TST234/join/"


@pytest.mark.parametrize("offset", ["-5", "abc", "999999"])
def test_a_strange_offset_is_clamped_not_an_error(bob, big_board, offset):
    response = bob.get("/a/TST234/impossibles/more/", {"offset": offset})

    assert response.status_code == 200
    # Clamped: a negative or unreadable offset is the first page, one past the end an empty one.
    expected = [] if offset == "999999" else [i.pk for i in reversed(big_board)][:PAGE_SIZE]
    assert card_ids(response.content.decode()) == expected


def test_a_snapshot_renders_the_view_it_is_asked_for(atelier, big_board):
    _version, top = messages.snapshot_message(atelier, "fr", "top", "")
    _version, funding = messages.snapshot_message(atelier, "fr", "recent", Category.FUNDING)

    by_count = sorted(big_board, key=lambda i: -(PAGE_SIZE + 10 - big_board.index(i)))
    assert card_ids(top) == [i.pk for i in by_count][:PAGE_SIZE]
    funding_ids = [i.pk for i in reversed(big_board) if i.category == Category.FUNDING]
    assert card_ids(funding) == funding_ids
    assert '<p id="more-link" hidden hx-swap-oob="true">' in funding


def test_an_unknown_view_falls_back_to_the_default(atelier):
    assert reads.clean_view("sideways", "nowhere", atelier) == ("recent", "")
    assert reads.clean_view("top", Category.FUNDING.value, atelier) == ("top", Category.FUNDING.value)
