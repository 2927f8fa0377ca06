"""The board's cards rendered once per version for every phone, with each
person's own state put on top (boards/cards.py)."""

from __future__ import annotations

import re

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from boards import cards
from boards.live import messages
from boards.models import Atelier
from boards.reads import load_board
from boards.services import facilitation, participation
from tests.conftest import post_impossible

BOARD_URL = "/a/TST234/"
TOKEN = "TokenOfThisPage0123456789"

# Text that looks like what the shared rendering leaves for the page to fill in.
LOOKALIKES = [
    '<csrf> &lt;csrf&gt; name="csrfmiddlewaretoken" value="&lt;csrf&gt;"',
    'name="state" value="on" aria-pressed="false" data-impossible="1"',
]


def _direct(atelier: Atelier, me_toos: set[int], **view) -> str:
    """The cards as the page rendered them for one person before they were shared."""
    board = load_board(atelier, **view)
    return render_to_string(
        "boards/board.html#cards",
        {"atelier": board.atelier, "impossibles": board.impossibles, "csrf_token": TOKEN, "my_me_toos": me_toos},
    )


@pytest.fixture
def full_board(atelier, alice, bob, charlie):
    posted = [post_impossible(alice.participant, f"Impossible numéro {n}") for n in range(3)]
    posted += [post_impossible(bob.participant, text) for text in LOOKALIKES]
    participation.set_me_too(bob.participant, posted[0].pk, on=True)
    participation.set_me_too(bob.participant, posted[4].pk, on=True)
    participation.set_me_too(charlie.participant, posted[1].pk, on=True)
    return posted


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("view", [{}, {"sort": "top"}, {"limit": 2}])
def test_the_shared_cards_with_a_persons_state_are_the_cards_rendered_for_them(
    atelier, alice, bob, charlie, full_board, language, view
):
    options = {"sort": "recent", "category": "", "limit": 40} | view
    with translation.override(language):
        for person in (alice, bob, charlie):
            me_toos = set(person.participant.me_toos.values_list("impossible_id", flat=True))
            shared = cards.shared(atelier, **options)
            assert cards.personal(shared, TOKEN, me_toos) == _direct(atelier, me_toos, **options)


def test_user_text_that_looks_like_a_slot_is_left_as_typed(atelier, alice, bob, full_board):
    response = alice.get(BOARD_URL)
    html = response.content.decode()
    # Alice pressed nothing: the statement that imitates a pressed button's
    # attributes did not turn her button for impossible 1 over.
    assert re.findall(r'aria-pressed="true"', html) == []
    assert "&lt;csrf&gt; &amp;lt;csrf&amp;gt;" in html
    assert 'value="&lt;csrf&gt;"' not in html


def test_each_phone_sees_its_own_me_toos_and_a_working_form_token(atelier, alice, bob, charlie, full_board):
    pages = {person: person.get(BOARD_URL).content.decode() for person in (alice, bob, charlie)}
    pressed = {
        person: re.findall(r'aria-pressed="true" data-impossible="(\d+)"', html) for person, html in pages.items()
    }
    assert pressed[alice] == []
    assert sorted(pressed[bob]) == sorted([str(full_board[0].pk), str(full_board[4].pk)])
    assert pressed[charlie] == [str(full_board[1].pk)]
    # Without JavaScript the « moi aussi » form posts with the page's token.
    token = re.search(r'<form class="metoo-form".*?name="csrfmiddlewaretoken" value="(\w+)"', pages[alice], re.S)[1]
    alice.handler.enforce_csrf_checks = True
    response = alice.post(
        f"/a/TST234/impossibles/{full_board[2].pk}/me-too/", {"csrfmiddlewaretoken": token, "state": "on"}
    )
    assert response.status_code == 302
    assert f'aria-pressed="true" data-impossible="{full_board[2].pk}"' in alice.get(BOARD_URL).content.decode()


def test_every_change_shows_at_the_next_load(atelier, alice, bob, facilitator, full_board):
    first = alice.get(BOARD_URL)
    assert first.context["version"] == Atelier.objects.get().version
    participation.set_me_too(alice.participant, full_board[3].pk, on=True)
    facilitation.edit_impossible(
        atelier.pk, full_board[2].pk, statement="Impossible corrigé", details="", category="autre"
    )
    second = alice.get(BOARD_URL)
    html = second.content.decode()
    assert second.context["version"] == first.context["version"] + 2
    assert "Impossible corrigé" in html and "Impossible numéro 2" not in html
    assert f'aria-pressed="true" data-impossible="{full_board[3].pk}"' in html
    # Bob's page, rendered from the same cards, still shows only his own.
    assert f'aria-pressed="true" data-impossible="{full_board[3].pk}"' not in bob.get(BOARD_URL).content.decode()


def test_a_room_loading_the_board_renders_its_cards_once(atelier, alice, bob, charlie, full_board, monkeypatch):
    renders = []
    real = cards.render_to_string
    monkeypatch.setattr(cards, "render_to_string", lambda *args, **kw: renders.append(args[0]) or real(*args, **kw))
    for person in (alice, bob, charlie, alice):
        assert person.get(BOARD_URL).status_code == 200
    assert renders == ["boards/board.html#cards"]
    # Another language, another view: each rendered once too.
    alice.get(BOARD_URL, HTTP_ACCEPT_LANGUAGE="en")
    bob.get(BOARD_URL, {"sort": "top"})
    bob.get(BOARD_URL, {"sort": "top"})
    assert len(renders) == 3


def test_a_snapshot_pushes_the_same_cards_without_anyones_token_or_me_too(
    atelier, alice, bob, charlie, full_board, monkeypatch
):
    renders = []
    real = cards.render_to_string
    monkeypatch.setattr(cards, "render_to_string", lambda *args, **kw: renders.append(args[0]) or real(*args, **kw))
    page = bob.get(BOARD_URL).content.decode()
    _version, snapshot = messages.snapshot_message(atelier, "fr")
    assert renders == ["boards/board.html#cards"]  # the page's cards, not rendered again
    assert '<input type="hidden" name="csrfmiddlewaretoken"' not in snapshot
    assert 'aria-pressed="true"' not in snapshot
    ids = re.findall(r'<article class="card" id="(imp-\d+)"', page)
    assert re.findall(r'<article class="card" id="(imp-\d+)"', snapshot) == ids and len(ids) == len(full_board)
