"""Moderation by the facilitators: hide and restore impossibles and offers,
the pre-moderation queue, fixing a statement. Every screen (page, pushed
fragments, snapshot, counts) agrees with what is visible."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.utils.html import escape
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from boards import reads
from boards.live import messages, publish
from boards.models import STATEMENT_MAX, Atelier, HelpKind, HelpOffer, Impossible
from boards.reads import Stats
from boards.services import facilitation, participation
from boards.views import answers
from tests.conftest import post_impossible

HTMX = {"HTTP_HX_REQUEST": "true"}
BOARD_URL = "/a/TST234/"
CONSOLE_URL = "/a/TST234/console/"
STATEMENT = "Impossible de trouver des soudeurs TIG"
OFFER_MESSAGE = "Je connais un CFA à Angoulême"


@pytest.fixture
def pushed(monkeypatch):
    """The HTML actually sent to the channel layer, one dict {language: html} per event."""
    sent: list[dict[str, str]] = []
    monkeypatch.setattr(publish, "send", lambda atelier_id, messages, version=None: sent.append(messages))
    return sent


@pytest.fixture
def impossible(alice, bob, charlie):
    """Alice's impossible, with two "moi aussi" and one offer of help."""
    impossible = post_impossible(alice.participant, STATEMENT)
    participation.set_me_too(bob.participant, impossible.pk, on=True)
    participation.set_me_too(charlie.participant, impossible.pk, on=True)
    participation.offer_help(
        charlie.participant, impossible.pk, kind=HelpKind.INTRODUCTION, message=OFFER_MESSAGE, submission_key="o1"
    )
    return impossible


@pytest.fixture
def another(bob):
    return post_impossible(bob.participant, "Impossible de financer une presse plieuse", category="financement")


def _atelier() -> Atelier:
    return Atelier.objects.get(code="TST234")


def _moderate(client, impossible_id: int, op: str, **extra):
    return client.post(f"/a/TST234/console/impossibles/{impossible_id}/moderate/", {"op": op}, **extra)


def _moderate_offer(client, offer_id: int, op: str, **extra):
    return client.post(f"/a/TST234/console/offers/{offer_id}/moderate/", {"op": op}, **extra)


def _snapshot() -> str:
    cache.clear()
    return messages.snapshot_message(_atelier(), "fr")[1]


def _fresh(impossible: Impossible) -> Impossible:
    return Impossible.objects.get(pk=impossible.pk)


# --- Hide and restore an impossible -------------------------------------------------------------


def test_hiding_an_impossible_takes_it_off_every_screen_and_count(facilitator, bob, impossible, another):
    assert reads.load_stats(_atelier().pk) == Stats(impossibles=2, me_toos=2, offers=1, participants=3)

    response = _moderate(facilitator, impossible.pk, "hide")

    assertRedirects(response, CONSOLE_URL, fetch_redirect_response=False)
    assert _fresh(impossible).hidden is True
    board = bob.get(BOARD_URL)
    assertNotContains(board, f'id="imp-{impossible.pk}"')
    assertNotContains(board, STATEMENT)
    assertContains(board, "Impossible de financer une presse plieuse")
    assert board.context["stats"] == Stats(impossibles=1, me_toos=0, offers=0, participants=3)
    snapshot = _snapshot()
    assert STATEMENT not in snapshot
    assert f'id="imp-{impossible.pk}"' not in snapshot
    assert "presse plieuse" in snapshot
    assert reads.load_stats(_atelier().pk) == Stats(impossibles=1, me_toos=0, offers=0, participants=3)
    assert bob.get(f"/a/TST234/impossibles/{impossible.pk}/").status_code == 404
    assert bob.post(f"/a/TST234/impossibles/{impossible.pk}/me-too/", {"state": "off"}).status_code == 404
    assert bob.get(f"/a/TST234/impossibles/{impossible.pk}/offers/").status_code == 404


def test_a_hidden_impossible_waits_in_the_consoles_hidden_list(facilitator, impossible):
    _moderate(facilitator, impossible.pk, "hide")

    response = facilitator.get(CONSOLE_URL)

    assert [i.pk for i in response.context["hidden"]] == [impossible.pk]
    assert impossible.pk not in [i.pk for i in response.context["published"]]
    assert response.context["stats"].impossibles == 0


def test_restoring_brings_it_back_with_exact_counts(facilitator, bob, impossible, another):
    _moderate(facilitator, impossible.pk, "hide")

    response = _moderate(facilitator, impossible.pk, "restore")

    assertRedirects(response, CONSOLE_URL, fetch_redirect_response=False)
    restored = _fresh(impossible)
    assert (restored.hidden, restored.me_too_count, restored.offer_count) == (False, 2, 1)
    assert reads.load_stats(_atelier().pk) == Stats(impossibles=2, me_toos=2, offers=1, participants=3)
    board = bob.get(BOARD_URL)
    assertContains(board, f'id="imp-{impossible.pk}-metoo" data-count="2"')
    assertContains(board, OFFER_MESSAGE)
    assert f'id="imp-{impossible.pk}-metoo" data-count="2"' in _snapshot()


def test_hiding_pushes_a_delete_of_its_card_and_the_new_counts(
    facilitator, impossible, events, pushed, django_capture_on_commit_callbacks
):
    version = _atelier().version

    with django_capture_on_commit_callbacks(execute=True):
        _moderate(facilitator, impossible.pk, "hide", **HTMX)

    assert events == [(impossible.atelier_id, version + 1, {"type": "impossible.hidden", "impossible": impossible.pk})]
    assert len(pushed) == 1
    for language in ("fr", "en"):
        html = pushed[0][language]
        assert f'<div id="imp-{impossible.pk}" hx-swap-oob="delete"></div>' in html
        assert STATEMENT not in html
        assert '<div class="stats" id="stats" hx-swap-oob="true">' in html
        assert '<span class="num">0</span>' in html


def test_restoring_pushes_the_card_back(facilitator, impossible, events, pushed, django_capture_on_commit_callbacks):
    _moderate(facilitator, impossible.pk, "hide")

    with django_capture_on_commit_callbacks(execute=True):
        _moderate(facilitator, impossible.pk, "restore")

    assert [event for _a, _v, event in events] == [{"type": "impossible.posted", "impossible": impossible.pk}]
    html = pushed[0]["fr"]
    assert 'hx-swap-oob="afterbegin:#impossible-list"' in html
    assert f'id="imp-{impossible.pk}-metoo" data-count="2"' in html


@pytest.mark.parametrize("op", ["hide", "restore"])
def test_hiding_or_restoring_twice_is_one_change(
    facilitator, impossible, events, django_capture_on_commit_callbacks, op
):
    if op == "restore":
        _moderate(facilitator, impossible.pk, "hide")
    version = _atelier().version

    with django_capture_on_commit_callbacks(execute=True):
        first = _moderate(facilitator, impossible.pk, op, **HTMX)
        second = _moderate(facilitator, impossible.pk, op, **HTMX)

    assert first.status_code == second.status_code == 204
    assert _atelier().version == version + 1
    assert len(events) == 1
    assert _fresh(impossible).hidden is (op == "hide")


def test_a_hidden_spotlighted_impossible_leaves_the_spotlight(facilitator, bob, impossible, another):
    facilitator.post("/a/TST234/console/spotlight/", {"impossible": impossible.pk})
    assert _atelier().spotlight_id == impossible.pk
    assertContains(bob.get(BOARD_URL), 'class="spotlight-note"')

    _moderate(facilitator, impossible.pk, "hide")

    assert _atelier().spotlight_id is None
    assertNotContains(bob.get(BOARD_URL), 'class="spotlight-note"')
    projector = facilitator.get("/a/TST234/projector/")
    assert projector.context["spotlight"] is None
    assertNotContains(projector, STATEMENT)
    # Restoring it does not put it back on the screen by surprise.
    _moderate(facilitator, impossible.pk, "restore")
    assert _atelier().spotlight_id is None


def test_hiding_another_impossible_keeps_the_spotlight(facilitator, impossible, another):
    facilitator.post("/a/TST234/console/spotlight/", {"impossible": impossible.pk})
    _moderate(facilitator, another.pk, "hide")
    assert _atelier().spotlight_id == impossible.pk


@pytest.mark.parametrize("op", ["", "delete", "HIDE"])
def test_an_unknown_moderation_action_is_refused_and_changes_nothing(facilitator, impossible, op):
    version = _atelier().version

    response = _moderate(facilitator, impossible.pk, op, **HTMX)

    assert response.status_code == answers.REFUSED
    assert json.loads(response["HX-Trigger"]) == {"cerveau:refused": {"message": "Action de modération inconnue."}}
    assert _fresh(impossible).hidden is False
    assert _atelier().version == version


def test_moderating_an_unknown_impossible_is_a_404(facilitator, impossible):
    assert _moderate(facilitator, impossible.pk + 1000, "hide").status_code == 404
    assert _atelier().version == 4


# --- Pre-moderation -----------------------------------------------------------------------------


@pytest.fixture
def premoderated(facilitator, atelier):
    facilitator.post("/a/TST234/console/premoderation/", {"on": "1"})
    assert _atelier().premoderation is True
    return atelier


def _post(client, statement: str = "Impossible de garer un camion devant l'atelier", **extra):
    data = {"statement": statement, "category": "mobilite", "submission_key": f"key-{statement[:20]}"}
    return client.post("/a/TST234/impossibles/", data, **extra)


def test_with_premoderation_a_post_waits_off_the_board(
    premoderated, alice, bob, facilitator, events, pushed, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(alice, **HTMX)

    assertContains(response, "sera publié dès que l")
    pending = Impossible.objects.get()
    assert pending.pending is True
    assert events[-1][2] == {"type": "impossible.submitted", "impossible": pending.pk}
    assert "garer un camion" not in pushed[-1]["fr"]
    assertNotContains(bob.get(BOARD_URL), "garer un camion")
    assert "garer un camion" not in _snapshot()
    assert reads.load_stats(_atelier().pk).impossibles == 0
    # The author sees it waiting; the facilitators see it in their queue.
    assertContains(alice.get(BOARD_URL), "en attente de validation par l")
    assert [i.pk for i in facilitator.get(CONSOLE_URL).context["pending"]] == [pending.pk]


def test_without_javascript_a_premoderated_post_does_not_claim_to_be_on_the_board(premoderated, alice):
    response = _post(alice, follow=True)

    assert response.status_code == 200
    assertNotContains(response, "Votre impossible est sur le tableau.")
    assertContains(response, "sera publié dès que l")


def test_a_pending_impossible_takes_no_moi_aussi_and_no_offer(premoderated, alice, bob, events):
    _post(alice)
    pending = Impossible.objects.get()
    version = _atelier().version

    me_too = bob.post(f"/a/TST234/impossibles/{pending.pk}/me-too/", {"state": "on"}, **HTMX)
    offer_form = bob.get(f"/a/TST234/impossibles/{pending.pk}/offers/")
    offer = bob.post(
        f"/a/TST234/impossibles/{pending.pk}/offers/",
        {"kind": HelpKind.EXPERTISE, "message": "Je peux aider", "submission_key": "x"},
    )
    detail = bob.get(f"/a/TST234/impossibles/{pending.pk}/")

    assert (me_too.status_code, offer_form.status_code, offer.status_code, detail.status_code) == (404, 404, 404, 404)
    assert _fresh(pending).me_too_count == 0
    assert not HelpOffer.objects.exists()
    assert _atelier().version == version


def test_approving_publishes_it(
    premoderated, alice, bob, facilitator, events, pushed, django_capture_on_commit_callbacks
):
    _post(alice)
    pending = Impossible.objects.get()
    version = _atelier().version

    with django_capture_on_commit_callbacks(execute=True):
        response = _moderate(facilitator, pending.pk, "approve")
        again = _moderate(facilitator, pending.pk, "approve")

    assertRedirects(response, CONSOLE_URL, fetch_redirect_response=False)
    assertRedirects(again, CONSOLE_URL, fetch_redirect_response=False)
    assert _fresh(pending).pending is False
    assert _atelier().version == version + 1
    assert events == [(pending.atelier_id, version + 1, {"type": "impossible.posted", "impossible": pending.pk})]
    assert "garer un camion" in pushed[0]["fr"]
    assertContains(bob.get(BOARD_URL), "garer un camion")
    assert reads.load_stats(_atelier().pk).impossibles == 1
    assert bob.post(f"/a/TST234/impossibles/{pending.pk}/me-too/", {"state": "on"}, **HTMX).status_code == 204


def test_discarding_from_the_queue_hides_it(premoderated, alice, bob, facilitator):
    _post(alice)
    pending = Impossible.objects.get()

    _moderate(facilitator, pending.pk, "hide")

    console = facilitator.get(CONSOLE_URL).context
    assert console["pending"] == []
    assert [i.pk for i in console["hidden"]] == [pending.pk]
    assertNotContains(bob.get(BOARD_URL), "garer un camion")


def test_restoring_a_discarded_pending_impossible_puts_it_back_in_the_queue_not_on_the_board(
    premoderated, alice, bob, facilitator, pushed, django_capture_on_commit_callbacks
):
    _post(alice)
    pending = Impossible.objects.get()
    _moderate(facilitator, pending.pk, "hide")

    with django_capture_on_commit_callbacks(execute=True):
        _moderate(facilitator, pending.pk, "restore")

    assert _fresh(pending).pending is True
    assert "garer un camion" not in pushed[-1]["fr"]
    assertNotContains(bob.get(BOARD_URL), "garer un camion")
    assert [i.pk for i in facilitator.get(CONSOLE_URL).context["pending"]] == [pending.pk]


def test_turning_premoderation_off_does_not_publish_the_queue(premoderated, alice, bob, facilitator):
    _post(alice)
    facilitator.post("/a/TST234/console/premoderation/", {"on": "0"})

    assertNotContains(bob.get(BOARD_URL), "garer un camion")
    _post(alice, "Impossible de trouver un apprenti")
    assertContains(bob.get(BOARD_URL), "Impossible de trouver un apprenti")


# --- Fixing a statement -------------------------------------------------------------------------


def _edit(client, impossible_id: int, **overrides):
    data = {"statement": "Impossible de recruter des soudeurs qualifiés", "details": "", "category": "recrutement"}
    return client.post(f"/a/TST234/console/impossibles/{impossible_id}/edit/", {**data, **overrides})


def test_the_edit_page_shows_the_current_text(facilitator, impossible):
    response = facilitator.get(f"/a/TST234/console/impossibles/{impossible.pk}/edit/")
    assertContains(response, STATEMENT)
    assertContains(response, 'name="statement"')


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"statement": ""}, "Écrivez en une phrase"),
        ({"statement": "   "}, "Écrivez en une phrase"),
        ({"statement": "x" * (STATEMENT_MAX + 1)}, "280"),
        ({"category": "inconnue"}, "inconnue"),
        ({"details": "d" * 2001}, "2000"),
    ],
    ids=["empty", "blank", "too-long", "bad-category", "details-too-long"],
)
def test_an_invalid_edit_is_refused_and_changes_nothing(
    facilitator, impossible, events, django_capture_on_commit_callbacks, overrides, message
):
    version = _atelier().version

    with django_capture_on_commit_callbacks(execute=True):
        response = _edit(facilitator, impossible.pk, **overrides)

    assertContains(response, escape(message), status_code=422)
    fresh = _fresh(impossible)
    assert (fresh.statement, fresh.category, fresh.details) == (STATEMENT, "recrutement", "")
    assert _atelier().version == version
    assert events == []


def test_an_edit_changes_the_text_and_keeps_the_counts(
    facilitator, bob, impossible, events, pushed, django_capture_on_commit_callbacks
):
    version = _atelier().version

    with django_capture_on_commit_callbacks(execute=True):
        response = _edit(facilitator, impossible.pk, details="  Soudure TIG  ")

    assertRedirects(response, CONSOLE_URL, fetch_redirect_response=False)
    fresh = _fresh(impossible)
    assert fresh.statement == "Impossible de recruter des soudeurs qualifiés"
    assert fresh.details == "Soudure TIG"
    assert (fresh.me_too_count, fresh.offer_count, fresh.author_id) == (2, 1, impossible.author_id)
    assert events == [(impossible.atelier_id, version + 1, {"type": "impossible.edited", "impossible": impossible.pk})]
    html = pushed[0]["fr"]
    assert f'id="imp-{impossible.pk}-body" hx-swap-oob="true"' in html
    assert "soudeurs qualifiés" in html
    assertContains(bob.get(BOARD_URL), "soudeurs qualifiés")


def test_editing_a_pending_impossible_does_not_reveal_it(
    premoderated, alice, facilitator, pushed, django_capture_on_commit_callbacks
):
    _post(alice)
    pending = Impossible.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        _edit(facilitator, pending.pk, statement="Impossible de garer un poids lourd")

    assert _fresh(pending).statement == "Impossible de garer un poids lourd"
    assert _fresh(pending).pending is True
    assert "poids lourd" not in pushed[-1]["fr"]


def test_editing_an_unknown_impossible_is_a_404(facilitator, impossible):
    assert facilitator.get(f"/a/TST234/console/impossibles/{impossible.pk + 99}/edit/").status_code == 404
    assert _edit(facilitator, impossible.pk + 99).status_code == 404


# --- Hide and restore an offer ------------------------------------------------------------------


def test_hiding_an_offer_takes_it_off_the_board_and_the_counts(
    facilitator, alice, bob, impossible, events, pushed, django_capture_on_commit_callbacks
):
    offer = HelpOffer.objects.get()
    version = _atelier().version

    with django_capture_on_commit_callbacks(execute=True):
        response = _moderate_offer(facilitator, offer.pk, "hide")

    assertRedirects(response, CONSOLE_URL, fetch_redirect_response=False)
    assert HelpOffer.objects.get().hidden is True
    assert _fresh(impossible).offer_count == 0
    assert reads.load_stats(_atelier().pk).offers == 0
    assert events == [(impossible.atelier_id, version + 1, {"type": "offers.changed", "impossible": impossible.pk})]
    html = pushed[0]["fr"]
    assert f'id="imp-{impossible.pk}-offers" data-count="0"' in html
    assert OFFER_MESSAGE not in html
    assertNotContains(bob.get(BOARD_URL), OFFER_MESSAGE)
    assert OFFER_MESSAGE not in _snapshot()
    # Nor on the author's private page, contact included.
    assertNotContains(alice.get(f"/a/TST234/impossibles/{impossible.pk}/"), OFFER_MESSAGE)


def test_restoring_an_offer_brings_it_back_with_exact_counts(facilitator, bob, charlie, impossible):
    participation.offer_help(
        bob.participant, impossible.pk, kind=HelpKind.EXPERTISE, message="J'ai formé des soudeurs", submission_key="o2"
    )
    first, _second = HelpOffer.objects.order_by("pk")
    _moderate_offer(facilitator, first.pk, "hide")
    assert _fresh(impossible).offer_count == 1

    _moderate_offer(facilitator, first.pk, "restore")

    assert _fresh(impossible).offer_count == 2
    assert reads.load_stats(_atelier().pk).offers == 2
    board = bob.get(BOARD_URL)
    assertContains(board, OFFER_MESSAGE)
    assertContains(board, f'id="imp-{impossible.pk}-offers" data-count="2"')


def test_an_offer_posted_after_one_was_hidden_is_counted_exactly(facilitator, bob, impossible):
    _moderate_offer(facilitator, HelpOffer.objects.get().pk, "hide")

    bob.post(
        f"/a/TST234/impossibles/{impossible.pk}/offers/",
        {"kind": HelpKind.RESOURCE, "message": "Un atelier libre", "submission_key": "o3"},
    )

    assert _fresh(impossible).offer_count == 1
    assert reads.load_stats(_atelier().pk).offers == 1


@pytest.mark.parametrize("op", ["hide", "restore"])
def test_hiding_or_restoring_an_offer_twice_is_one_change(
    facilitator, impossible, events, django_capture_on_commit_callbacks, op
):
    offer = HelpOffer.objects.get()
    if op == "restore":
        _moderate_offer(facilitator, offer.pk, "hide")
    version = _atelier().version

    with django_capture_on_commit_callbacks(execute=True):
        _moderate_offer(facilitator, offer.pk, op, **HTMX)
        _moderate_offer(facilitator, offer.pk, op, **HTMX)

    assert _atelier().version == version + 1
    assert len(events) == 1
    assert _fresh(impossible).offer_count == (0 if op == "hide" else 1)


def test_an_unknown_offer_moderation_is_refused_or_not_found(facilitator, impossible):
    offer = HelpOffer.objects.get()
    assert _moderate_offer(facilitator, offer.pk, "approve", **HTMX).status_code == answers.REFUSED
    assert _moderate_offer(facilitator, offer.pk + 50, "hide").status_code == 404
    assert HelpOffer.objects.get().hidden is False


@pytest.mark.parametrize(
    "fields",
    [
        {"statement": "", "details": "", "category": "recrutement"},
        {"statement": "x" * (STATEMENT_MAX + 1), "details": "", "category": "recrutement"},
        {"statement": "Correct", "details": "", "category": "inconnue"},
    ],
)
def test_the_edit_service_enforces_the_same_rules_without_the_form(impossible, fields):
    from django.core.exceptions import ValidationError

    version = _atelier().version
    with pytest.raises(ValidationError):
        facilitation.edit_impossible(impossible.atelier_id, impossible.pk, **fields)
    assert _fresh(impossible).statement == STATEMENT
    assert _atelier().version == version
