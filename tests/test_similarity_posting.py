"""« Ça ressemble à… » while posting: features kept fresh by the services,
and the suggestions a participant sees when they tap « Publier ».

Alice posted first; Bob is about to post the same impossible in other words.
"""

from __future__ import annotations

import html
import logging
import re

import pytest

from boards.models import Category, Impossible, ImpossibleFeatures, Reach, Role
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
    assert [m.id for m in engine.similar(atelier, WELDERS_AGAIN)] == [impossible.pk]


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


# --- « Ça ressemble à… » while posting ---------------------------------------------------

HTMX = {"HTTP_HX_REQUEST": "true"}
HOSTILE = 'Impossible de recruter des soudeurs <script>alert("x")</script> {{ secret }} \u202eevil'


def card(persona, statement: str = WELDERS, **extra) -> Impossible:
    """An impossible already on the board, with its features computed."""
    impossible = post_impossible(persona.participant, statement, **extra)
    assert engine.refresh(impossible.pk)
    return impossible


def post(client, atelier, statement: str = WELDERS_AGAIN, *, key: str = "k-bob", headers=None, **fields):
    data = {"statement": statement, "category": Category.RECRUITMENT, "submission_key": key, **fields}
    return client.post(f"/a/{atelier.code}/impossibles/", data, **(headers or {}))


def same(client, atelier, impossible, *, key: str = "k-bob", headers=None, **fields):
    data = {"submission_key": key, **fields}
    return client.post(f"/a/{atelier.code}/impossibles/{impossible.pk}/same/", data, **(headers or {}))


def test_publier_shows_the_cards_that_look_alike_and_writes_nothing(atelier, alice, bob):
    welders = card(alice)

    response = post(bob, atelier)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Ça ressemble à…" in page
    assert f'id="suggestion-{welders.pk}"' in page
    assert "Moi aussi, c'est le même" in page
    assert "Non, le mien est différent — publier" in page
    assert "<html" in page  # a page of its own without JavaScript
    assert Impossible.objects.count() == 1


def test_a_post_nothing_looks_like_is_published_at_once(atelier, alice, bob):
    card(alice)
    response = post(bob, atelier, ELECTRICITY)
    assert response.status_code == 302
    assert Impossible.objects.filter(statement=ELECTRICITY).exists()


def test_moi_aussi_c_est_le_meme_counts_one_moi_aussi_and_posts_nothing(atelier, alice, bob):
    welders = card(alice)
    post(bob, atelier)

    response = same(bob, atelier, welders)

    assert response.status_code == 302
    assert response.url.endswith(f"#imp-{welders.pk}")
    welders.refresh_from_db()
    assert welders.me_too_count == 1
    assert Impossible.objects.count() == 1
    assert "votre «\u202fmoi aussi\u202f» compte" in bob.get(response.url).content.decode()


def test_a_double_tap_on_moi_aussi_counts_once(atelier, alice, bob):
    welders = card(alice)
    same(bob, atelier, welders, details="En CDI", add_details="on")
    same(bob, atelier, welders, details="En CDI", add_details="on")
    welders.refresh_from_db()
    assert welders.me_too_count == 1
    assert welders.precisions.count() == 1


def test_the_details_become_a_precision_on_the_card_only_if_asked(atelier, alice, bob, charlie):
    welders = card(alice)
    same(charlie, atelier, welders, key="k-charlie", details="Je ne le dirai pas")
    same(bob, atelier, welders, details="Trois postes ouverts\ndepuis un an", add_details="on")

    assert [p.text for p in welders.precisions.all()] == ["Trois postes ouverts\ndepuis un an"]
    board = alice.get(f"/a/{atelier.code}/").content.decode()
    assert "Trois postes ouverts<br>depuis un an" in board
    assert "— Bob" in board
    assert "Je ne le dirai pas" not in board
    detail = alice.get(f"/a/{atelier.code}/impossibles/{welders.pk}/").content.decode()
    assert "Trois postes ouverts" in detail


def test_a_precision_from_an_anonymous_post_stays_anonymous(atelier, alice, bob):
    welders = card(alice)
    same(bob, atelier, welders, details="Chez nous aussi", add_details="on", anonymous="on")
    board = alice.get(f"/a/{atelier.code}/").content.decode()
    assert "Chez nous aussi" in board
    assert "Bob" not in board


def test_the_suggestion_page_offers_to_add_the_details(atelier, alice, bob):
    card(alice)
    page = post(bob, atelier, details="Nos soudeurs partent à la retraite").content.decode()
    assert 'name="add_details"' in page
    assert "Ajouter aussi mes détails à cette carte, avec mon nom" in page
    assert "Nos soudeurs partent à la retraite" in page
    without = post(bob, atelier, key="k-bob-2").content.decode()
    assert 'name="add_details"' not in without


def test_non_le_mien_est_different_publishes_as_today(atelier, alice, bob):
    card(alice)
    response = post(bob, atelier, details="Détail", decision="publish", anonymous="on")
    assert response.status_code == 302
    mine = Impossible.objects.get(statement=WELDERS_AGAIN)
    assert (mine.details, mine.anonymous) == ("Détail", True)
    # A double tap of it lands on the same post.
    assert post(bob, atelier, details="Détail", decision="publish", anonymous="on").status_code == 302
    assert Impossible.objects.filter(statement=WELDERS_AGAIN).count() == 1


def test_publier_anyway_keeps_how_far_the_post_may_travel(atelier, alice, bob):
    card(alice)
    page = post(bob, atelier, reach=Reach.ROOM).content.decode()
    anyway = page[page.index('class="publish-anyway-form"') :]
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', anyway))

    assert fields["reach"] == Reach.ROOM
    assert post(bob, atelier, **{**fields, "decision": "publish"}).status_code == 302
    assert Impossible.objects.get(statement=WELDERS_AGAIN).reach == Reach.ROOM


def _form_fields(page: str, form_class: str) -> dict[str, str]:
    start = page.index(f'class="{form_class}"')
    form = page[start : page.index("</form>", start)]
    fields = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form)
    return {name: html.unescape(value) for name, value in fields}


def test_retour_au_tableau_keeps_what_was_typed_without_javascript(atelier, alice, bob):
    card(alice)
    typed = {"details": "Nos soudeurs <b>partent</b>", "anonymous": "on", "reach": Reach.ROOM}
    page = post(bob, atelier, HOSTILE, category=Category.MOBILITY, **typed).content.decode()
    back = _form_fields(page, "back-form")
    assert back["decision"] == "edit"

    response = bob.post(f"/a/{atelier.code}/impossibles/", back)

    assert response.status_code == 200
    board = response.content.decode()
    form = board[board.index('id="post-form"') : board.index("</form>", board.index('id="post-form"'))]
    assert '<details class="panel post-panel" open>' in board
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; {{ secret }}" in form
    assert "<script>alert" not in form
    assert "Nos soudeurs &lt;b&gt;partent&lt;/b&gt;</textarea>" in form
    assert f'<option value="{Category.MOBILITY}" selected>' in form
    assert re.search(r'<input type="checkbox" name="anonymous"[^>]* checked', form)
    assert re.search(rf'<input type="radio" name="reach" value="{Reach.ROOM}"[^>]* checked', form)
    assert 'name="submission_key" value="k-bob"' in form
    assert Impossible.objects.count() == 1  # nothing written


def test_with_htmx_edit_returns_the_filled_post_form(atelier, alice, bob):
    card(alice)
    response = post(bob, atelier, details="Détail", decision="edit", headers=HTMX)
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page and 'id="post-form"' in page
    assert f"{WELDERS_AGAIN}</textarea>" in page and "Détail</textarea>" in page
    assert Impossible.objects.count() == 1


def test_the_same_key_still_posts_once_after_going_back(atelier, alice, bob):
    card(alice)
    page = post(bob, atelier).content.decode()
    back = _form_fields(page, "back-form")
    bob.post(f"/a/{atelier.code}/impossibles/", back)
    assert post(bob, atelier, decision="publish").status_code == 302
    assert post(bob, atelier, decision="publish").status_code == 302
    assert Impossible.objects.filter(statement=WELDERS_AGAIN).count() == 1


def test_a_retried_publier_after_the_post_made_it_is_not_asked_again(atelier, alice, bob):
    card(alice)
    post(bob, atelier, decision="publish")
    response = post(bob, atelier)
    assert response.status_code == 302
    assert Impossible.objects.filter(statement=WELDERS_AGAIN).count() == 1


def test_with_htmx_the_suggestions_replace_the_form(atelier, alice, bob):
    welders = card(alice)

    response = post(bob, atelier, headers=HTMX)

    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert 'id="post-suggestions"' in page
    assert f'hx-post="/a/TST234/impossibles/{welders.pk}/same/"' in page

    response = same(bob, atelier, welders, headers=HTMX)
    assert response.status_code == 200
    assert 'id="post-form"' in response.content.decode()
    assert "cerveau:metoo" in response["HX-Trigger"]
    assert Impossible.objects.count() == 1

    response = post(bob, atelier, key="k-bob-2", decision="publish", headers=HTMX)
    assert "C'est publié" in response.content.decode()
    assert Impossible.objects.count() == 2


def test_hostile_text_shows_literally_in_the_suggestions(atelier, alice, bob):
    card(alice, HOSTILE)
    page = post(bob, atelier, "soudeurs introuvables <img src=x onerror=alert(1)>").content.decode()
    assert "Ça ressemble à…" in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; {{ secret }}" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>alert" not in page
    assert "<img src=x" not in page


@pytest.mark.parametrize("how", ["hidden", "pending", "merged"])
def test_hidden_pending_and_merged_impossibles_are_never_suggested(atelier, alice, bob, charlie, how):
    welders = card(alice)
    if how == "hidden":
        facilitation.set_impossible_hidden(atelier.pk, welders.pk, hidden=True)
    elif how == "pending":
        Impossible.objects.filter(pk=welders.pk).update(pending=True)
    else:
        kept = card(charlie, ELECTRICITY)
        facilitation.merge_impossibles(atelier.pk, kept.pk, welders.pk)
    response = post(bob, atelier)
    assert response.status_code == 302
    assert Impossible.objects.filter(statement=WELDERS_AGAIN).exists()


def test_a_suggestion_never_reveals_an_anonymous_author(atelier, alice, bob):
    card(alice, anonymous=True)
    page = post(bob, atelier).content.decode()
    assert "Ça ressemble à…" in page
    assert "Alice" not in page


def test_ones_own_impossibles_are_not_suggested(atelier, alice):
    card(alice)
    assert post(alice, atelier, key="k-alice").status_code == 302


def test_impossibles_of_another_atelier_cannot_be_joined_by_url(atelier, other_atelier, alice, bob):
    from tests.conftest import _persona

    olga = _persona(other_atelier, "Olga", Role.PEER)
    foreign = card(olga)
    assert same(bob, atelier, foreign).status_code == 404
    assert not foreign.me_toos.exists()


def test_when_the_engine_fails_the_post_goes_through(atelier, alice, bob, monkeypatch):
    card(alice)

    def broken(*args, **kwargs):
        raise RuntimeError("engine down")

    monkeypatch.setattr(engine, "similar", broken)
    response = post(bob, atelier)
    assert response.status_code == 302
    assert Impossible.objects.filter(statement=WELDERS_AGAIN).exists()


def test_no_suggestion_when_posting_is_closed(atelier, alice, bob):
    card(alice)
    facilitation.set_phase(atelier.pk, "moi_aussi")
    response = post(bob, atelier)
    assert response.status_code == 422  # refused as today, with its message
    assert "On ne poste pas de nouvel impossible" in response.content.decode()
    assert "Ça ressemble" not in response.content.decode()
    assert Impossible.objects.count() == 1


def test_a_precision_is_pushed_live_and_can_be_hidden(atelier, alice, bob, events, django_capture_on_commit_callbacks):
    welders = card(alice)
    with django_capture_on_commit_callbacks(execute=True):
        same(bob, atelier, welders, details="Pareil à Jarnac", add_details="on")
    assert [e[2]["type"] for e in events][-2:] == ["metoo.changed", "precisions.changed"]
    precision = welders.precisions.get()
    with django_capture_on_commit_callbacks(execute=True):
        facilitation.set_precision_hidden(atelier.pk, precision.pk, hidden=True)
    assert events[-1][2]["type"] == "precisions.changed"
    assert "Pareil à Jarnac" not in alice.get(f"/a/{atelier.code}/").content.decode()


def test_merging_keeps_the_precisions(atelier, alice, bob, charlie):
    welders = card(alice)
    duplicate = card(charlie, WELDERS_AGAIN)
    same(bob, atelier, duplicate, details="Pareil", add_details="on")
    facilitation.merge_impossibles(atelier.pk, welders.pk, duplicate.pk)
    assert [p.text for p in welders.precisions.all()] == ["Pareil"]


def test_a_precision_is_in_its_authors_data(atelier, alice, bob):
    welders = card(alice)
    same(bob, atelier, welders, details="Mes données", add_details="on")
    data = bob.get(f"/a/{atelier.code}/me/data.json").json()
    assert [(p["impossible"], p["text"]) for p in data["precisions"]] == [(WELDERS, "Mes données")]
    assert "Mes données" in bob.get(f"/a/{atelier.code}/me/data/").content.decode()


def test_the_suggestions_speak_english_to_an_english_phone(atelier, alice, bob):
    card(alice)
    page = post(bob, atelier, details="x", headers={"HTTP_ACCEPT_LANGUAGE": "en"}).content.decode()
    assert "Looks like…" in page
    assert "Me too, it is the same" in page
    assert "No, mine is different — publish" in page
    assert "Also add my details to this card, with my name" in page
