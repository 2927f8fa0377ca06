"""The join page and the board, drawn once for a room and filled in for each
person (boards/shells.py): each person gets exactly the page drawn for them
alone, and nothing of anyone else's."""

from __future__ import annotations

import datetime
import types

import pytest
from django.test import Client
from django.utils.safestring import mark_safe

from boards import shells
from boards.access import session_key
from boards.models import Role
from boards.phases import Phase
from boards.services import facilitation, participation
from boards.views import participation as views
from tests.conftest import post_impossible

BOARD = "/a/TST234/"
JOIN = "/a/TST234/join/"
NOON = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def personal(monkeypatch):
    """What differs between two people's pages, made predictable per person:
    their CSRF token (from their session), the form's submission key and the
    server's time (from whoever `asking["who"]` says is asking)."""
    asking = {"who": 0}
    monkeypatch.setattr(shells, "get_token", lambda request: f"token-{request.session.session_key or 'none'}")
    monkeypatch.setattr(views, "new_submission_key", lambda: f"key-{asking['who']}")
    clock = types.SimpleNamespace(now=lambda: NOON + datetime.timedelta(seconds=asking["who"]))
    monkeypatch.setattr(views, "timezone", clock)
    return asking


def _drawn(client: Client, url: str, params: dict | None = None) -> tuple[str, bool]:
    """The page, and whether its template was drawn for this request."""
    response = client.get(url, params or {})
    assert response.status_code == 200
    templates = {template.name for template in response.templates}
    return response.content.decode(), bool(templates & {"boards/board.html", "boards/join.html"})


def _alone(client: Client, url: str, params: dict | None, monkeypatch: pytest.MonkeyPatch) -> str:
    """The page drawn for this person alone, never from a shared drawing."""
    with monkeypatch.context() as patch:
        patch.setattr(shells, "shareable", lambda request: False)
        page, drawn = _drawn(client, url, params)
    assert drawn
    return page


@pytest.fixture
def busy_board(atelier, alice, bob, charlie):
    """A board where people are in different states: Alice posted (one is
    waiting for moderation), Bob said « moi aussi » twice, Charlie nothing;
    statements that look like the marks the shared drawing holds."""
    posted = [post_impossible(alice.participant, f"Impossible numéro {n}") for n in range(3)]
    posted.append(post_impossible(bob.participant, "<slot:who> <slot:csrf_token> &lt;slot:cards&gt;"))
    participation.set_me_too(bob.participant, posted[0].pk, on=True)
    participation.set_me_too(bob.participant, posted[3].pk, on=True)
    facilitation.set_premoderation(atelier.pk, True)
    post_impossible(alice.participant, "Impossible en attente de validation")
    return posted


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("params", [{}, {"sort": "top"}, {"category": "recrutement"}, {"shown": 2}])
def test_each_persons_board_is_the_board_drawn_for_them_alone(
    atelier, alice, bob, charlie, busy_board, personal, monkeypatch, language, params
):
    people = (alice, bob, charlie)
    for person in people:
        person.cookies["django_language"] = language
    drawings = []
    for n, person in enumerate(people, start=1):
        personal["who"] = n
        page, drawn = _drawn(person, BOARD, params)
        drawings.append(drawn)
        assert page == _alone(person, BOARD, params, monkeypatch)
        assert f"token-{person.cookies['sessionid'].value}" in page
        for other in people:
            if other is not person:
                assert f"token-{other.cookies['sessionid'].value}" not in page
                assert f"<strong>{other.participant.name}</strong>" not in page
    # Drawn once for the room: the others' pages were filled in.
    assert drawings == [True, False, False]


def test_a_persons_own_parts_come_out_as_text(atelier, alice, bob, personal, monkeypatch):
    """Names and statements that look like marks are shown literally, never
    filled in with someone's token or name."""
    alice.participant.name = "<slot:csrf_token> & <b>Alice</b>"
    alice.participant.save()
    post_impossible(bob.participant, '<slot:who> <slot:csrf_token> value="<slot:submission_key>"')
    for person in (bob, alice):
        page, _ = _drawn(person, BOARD)
        assert page == _alone(person, BOARD, None, monkeypatch)
    assert "&lt;slot:csrf_token&gt; &amp; &lt;b&gt;Alice&lt;/b&gt;" in page
    assert "&lt;slot:who&gt; &lt;slot:csrf_token&gt; value=&quot;&lt;slot:submission_key&gt;&quot;" in page
    assert "<slot:" not in page


def test_a_change_to_the_board_is_on_the_next_page(atelier, alice, bob, personal):
    _drawn(alice, BOARD)
    post_impossible(bob.participant, "Impossible de trouver un local partagé")
    page, drawn = _drawn(alice, BOARD)
    assert drawn and "Impossible de trouver un local partagé" in page
    facilitation.update_atelier(atelier, title="Atelier renommé", categories=atelier.categories)
    page, drawn = _drawn(alice, BOARD)
    assert drawn and "Atelier renommé" in page


def test_a_running_clock_is_drawn_for_each_page(atelier, alice, bob, personal):
    facilitation.start_timer(atelier.pk, minutes=5, label="Tour de table")
    assert _drawn(alice, BOARD)[1] and _drawn(bob, BOARD)[1]
    facilitation.pause_timer(atelier.pk)
    assert [_drawn(alice, BOARD)[1], _drawn(bob, BOARD)[1]] == [True, False]


def test_flash_messages_and_signed_in_people_get_their_own_page(atelier, alice, bob, facilitator, personal):
    _drawn(bob, BOARD)
    # A profile update leaves a message for the next page.
    answer = alice.post(
        f"{BOARD}me/", {"name": "Alice Martin", "organisation": "", "role": Role.ENTREPRENEUR}, follow=True
    )
    assert answer.status_code == 200
    assert "Votre profil est à jour." in answer.content.decode()
    assert {t.name for t in answer.templates} >= {"boards/board.html"}
    # Shown once: the next page is the room's again.
    _drawn(bob, BOARD)
    page, drawn = _drawn(alice, BOARD)
    assert not drawn and "Votre profil est à jour." not in page and "<strong>Alice Martin</strong>" in page
    # A facilitator who joined the room too: their menus are theirs.
    fanny = participation.join_atelier(atelier, name="Fanny", organisation="", role=Role.PUBLIC_AGENT)
    session = facilitator.session
    session[session_key(atelier.pk)] = fanny.pk
    session.save()
    page, drawn = _drawn(facilitator, BOARD)
    assert drawn and "Mes ateliers" in page and "<strong>Fanny</strong>" in page


def test_a_form_sent_back_is_drawn_for_its_sender(atelier, alice, personal):
    _drawn(alice, BOARD)
    answer = alice.post(f"{BOARD}impossibles/", {"statement": "", "category": "recrutement", "submission_key": "k"})
    assert answer.status_code == 422
    assert {t.name for t in answer.templates} >= {"boards/board.html"}


def test_the_join_page_is_drawn_once_for_the_room(atelier, personal, monkeypatch):
    phones = [Client() for _ in range(3)]
    drawn = []
    for phone in phones:
        page, was_drawn = _drawn(phone, JOIN)
        drawn.append(was_drawn)
        assert page == _alone(phone, JOIN, None, monkeypatch)
        assert 'name="csrfmiddlewaretoken" value="token-' in page
    assert drawn == [True, False, False]
    # A join sent back with errors shows what was typed.
    answer = phones[0].post(JOIN, {"name": "", "organisation": "Soudure & Fils", "role": Role.PEER})
    assert answer.status_code == 422
    assert "Soudure &amp; Fils" in answer.content.decode()
    # A closed atelier says so on the next page.
    facilitation.set_phase(atelier.pk, Phase.CLOSED)
    page, was_drawn = _drawn(phones[1], JOIN)
    assert was_drawn and 'name="name"' not in page


def test_the_drawing_holds_nobodys_values(atelier, alice, bob, personal, monkeypatch):
    """What the cache keeps: marks where each person's values go."""
    kept: list[str] = []
    store = shells.cache

    class Recording:
        get = staticmethod(store.get)

        @staticmethod
        def set(key, value, timeout):
            kept.append(value)
            store.set(key, value, timeout)

    monkeypatch.setattr(shells, "cache", Recording)
    _drawn(alice, BOARD)
    _drawn(bob, BOARD)
    assert len(kept) == 1, "drawn once for both"
    assert "Alice" not in kept[0] and "token-" not in kept[0] and "key-" not in kept[0]
    marks = ("who", "csrf_token", "submission_key", "server_now", "cards", "mine", "my_me_toos")
    assert all(f"<slot:{name}>" in kept[0] for name in marks)


def test_fill_replaces_marks_once_and_escapes():
    html = '<p><slot:who></p><input value="<slot:key>"><slot:cards> &lt;slot:who&gt;'
    filled = shells.fill(html, {"who": "<b>Zoé</b>", "key": "k&1", "cards": mark_safe("<i><slot:who></i>")})
    assert filled == '<p>&lt;b&gt;Zoé&lt;/b&gt;</p><input value="k&amp;1"><i><slot:who></i> &lt;slot:who&gt;'
