"""Phases and the lock: what participants may do at each moment of the
evening, exactly as `boards.phases.ALLOWED` says, over plain forms and htmx.
A refused write says why in French and changes nothing."""

from __future__ import annotations

import json
import re

import pytest
from django.db.models import F
from django.test import Client
from django.utils.html import escape
from pytest_django.asserts import assertRedirects

from boards import phases
from boards.live import publish
from boards.models import Atelier, HelpKind, HelpOffer, Impossible, MeToo, Participant
from boards.phases import Action, Phase
from boards.views import answers
from tests.conftest import post_impossible

HTMX = {"HTTP_HX_REQUEST": "true"}
BOARD_URL = "/a/TST234/"
MODES = ["form", "htmx"]


@pytest.fixture
def impossible(alice):
    return post_impossible(alice.participant, "Impossible de trouver un expert-comptable")


@pytest.fixture
def pushed(monkeypatch):
    """The HTML actually sent to the channel layer, per event."""
    sent: list[dict[str, str]] = []
    monkeypatch.setattr(publish, "send", lambda atelier_id, messages, version=None: sent.append(messages))
    return sent


def _set_state(phase: str, locked: bool) -> None:
    # A new version, as every write to the atelier makes (pages are drawn per version).
    Atelier.objects.filter(code="TST234").update(phase=phase, locked=locked, version=F("version") + 1)


def _atelier() -> Atelier:
    return Atelier.objects.get(code="TST234")


def _rows() -> dict[str, int]:
    return {
        "version": _atelier().version,
        "impossibles": Impossible.objects.count(),
        "me_toos": MeToo.objects.count(),
        "me_too_count": sum(Impossible.objects.values_list("me_too_count", flat=True)),
        "offers": HelpOffer.objects.count(),
        "offer_count": sum(Impossible.objects.values_list("offer_count", flat=True)),
        "participants": Participant.objects.count(),
    }


def _attempt(action: Action, mode: str, bob, impossible):
    """One participant write over HTTP; returns (client, response)."""
    extra = HTMX if mode == "htmx" else {}
    if action is Action.JOIN:
        newcomer = Client()
        return newcomer, newcomer.post("/a/TST234/join/", {"name": "Dana", "role": "autre"}, **extra)
    if action is Action.POST:
        data = {
            "statement": "Impossible de se loger près de l'usine",
            "category": "recrutement",
            "submission_key": "k1",
        }
        return bob, bob.post("/a/TST234/impossibles/", data, **extra)
    if action is Action.ME_TOO:
        return bob, bob.post(f"/a/TST234/impossibles/{impossible.pk}/me-too/", {"state": "on"}, **extra)
    data = {"kind": HelpKind.EXPERTISE, "message": "Je connais un cabinet", "submission_key": "o1"}
    return bob, bob.post(f"/a/TST234/impossibles/{impossible.pk}/offers/", data, **extra)


# What one accepted write adds, on top of the version bump (join: no bump).
ADDED = {
    Action.JOIN: {"participants": 1},
    Action.POST: {"impossibles": 1},
    Action.ME_TOO: {"me_toos": 1, "me_too_count": 1},
    Action.OFFER: {"offers": 1, "offer_count": 1},
}
EVENT = {Action.POST: "impossible.posted", Action.ME_TOO: "metoo.changed", Action.OFFER: "offer.posted"}
CASES = [
    (phase, locked, action, mode)
    for phase in Phase.values
    for locked in (False, True)
    for action in Action
    for mode in MODES
]


def test_the_table_says_what_the_evening_expects():
    # A sanity anchor for the matrix below: an accidental edit of the table shows here.
    assert {phase: sorted(ALLOWED) for phase, ALLOWED in phases.ALLOWED.items()} == {
        Phase.WELCOME: ["join"],
        Phase.IMPOSSIBLES: ["join", "me_too", "offer", "post"],
        Phase.ME_TOO: ["join", "me_too", "offer"],
        Phase.HELP: ["join", "me_too", "offer"],
        Phase.PLAN: ["join", "offer"],
        Phase.CLOSED: [],
    }


@pytest.mark.parametrize(
    ("phase", "locked", "action", "mode"),
    CASES,
    ids=[f"{phase}-{'locked' if locked else 'open'}-{action}-{mode}" for phase, locked, action, mode in CASES],
)
def test_each_participant_write_follows_the_phase_table(
    bob, impossible, events, django_capture_on_commit_callbacks, phase, locked, action, mode
):
    _set_state(phase, locked)
    before = _rows()
    allowed = action in phases.ALLOWED[phase] and (not locked or action is Action.JOIN)

    with django_capture_on_commit_callbacks(execute=True):
        client, response = _attempt(action, mode, bob, impossible)

    after = _rows()
    if allowed:
        expected = {key: value + ADDED[action].get(key, 0) for key, value in before.items()}
        if action is not Action.JOIN:
            expected["version"] += 1
        assert after == expected
        assert response.status_code in {200, 204, 302}
        if action is Action.JOIN:
            assertRedirects(response, BOARD_URL, fetch_redirect_response=False)
            assert events == []
        else:
            assert [event["type"] for _atelier_id, _version, event in events] == [EVENT[action]]
        return

    message = phases.refusal(locked, action)
    assert after == before, "a refused write changed something"
    assert events == []
    if action is Action.ME_TOO and mode == "htmx":
        assert response.status_code == 409
        assert response.content.decode() == message
        assert json.loads(response["HX-Trigger"]) == {"cerveau:refused": {"message": message}}
    elif action is Action.ME_TOO:
        assertRedirects(response, BOARD_URL, fetch_redirect_response=False)
        page = client.get(BOARD_URL).content.decode()
        assert f'<li class="flash-error">{escape(message)}</li>' in page
    else:
        assert response.status_code == 422
        assert escape(message) in response.content.decode()


@pytest.mark.parametrize("locked", [False, True])
@pytest.mark.parametrize("phase", Phase.values)
def test_the_board_page_tells_the_browser_what_is_open(bob, phase, locked):
    _set_state(phase, locked)

    html = bob.get(BOARD_URL).content.decode()

    state = re.search(r'<section class="atelier-state[^>]*>', html).group(0)
    assert f'data-phase="{phase}"' in state
    for action, name in ((Action.POST, "post"), (Action.ME_TOO, "me-too"), (Action.OFFER, "offer")):
        expected = "true" if phases.allows(phase, locked, action) else "false"
        assert f'data-can-{name}="{expected}"' in state
    assert ("is-locked" in state) is locked
    assert escape(str(phases.INVITATION[phase])) in html


def test_a_refused_withdrawal_changes_nothing_either(bob, impossible):
    bob.post(f"/a/TST234/impossibles/{impossible.pk}/me-too/", {"state": "on"})
    _set_state(Phase.PLAN, False)
    before = _rows()

    response = bob.post(f"/a/TST234/impossibles/{impossible.pk}/me-too/", {"state": "off"}, **HTMX)

    assert response.status_code == 409
    assert _rows() == before


def test_a_retried_post_after_the_phase_closed_is_still_the_same_impossible(bob):
    # The submission key that made the post is recognised first: the retry
    # answers like the first post instead of an alarming refusal.
    data = {"statement": "Impossible de se loger", "category": "recrutement", "submission_key": "same"}
    first = bob.post("/a/TST234/impossibles/", data)
    _set_state(Phase.ME_TOO, False)
    before = _rows()

    again = bob.post("/a/TST234/impossibles/", data)

    assert first.status_code == again.status_code == 302
    assert _rows() == before


# --- Joining ------------------------------------------------------------------------------------


def test_joining_a_closed_atelier_is_refused(atelier, outsider):
    _set_state(Phase.CLOSED, False)

    response = outsider.post("/a/TST234/join/", {"name": "Dana", "role": "autre"})

    assert response.status_code == 422
    assert escape(str(phases.REFUSAL[Action.JOIN])) in response.content.decode()
    assert not Participant.objects.exists()
    assert outsider.get(BOARD_URL).status_code == 302  # still not a member


def test_the_join_page_of_a_closed_atelier_says_so_and_links_the_published_plan(atelier, outsider):
    _set_state(Phase.CLOSED, False)

    page = outsider.get("/a/TST234/join/").content.decode()
    assert escape(str(phases.REFUSAL[Action.JOIN])) in page
    assert 'name="name"' not in page  # no form it would refuse
    assert "/plan/" not in page  # nothing published yet

    Atelier.objects.filter(pk=atelier.pk).update(share_token="published-plan-token", version=F("version") + 1)
    page = outsider.get("/a/TST234/join/").content.decode()
    assert "/plan/published-plan-token/" in page


def test_people_who_joined_still_read_a_closed_board(bob, impossible):
    _set_state(Phase.CLOSED, True)
    response = bob.get(BOARD_URL)
    assert response.status_code == 200
    assert "Impossible de trouver un expert-comptable" in response.content.decode()


def test_a_locked_board_still_lets_people_join(atelier, outsider):
    _set_state(Phase.IMPOSSIBLES, True)
    response = outsider.post("/a/TST234/join/", {"name": "Dana", "role": "autre"})
    assertRedirects(response, BOARD_URL, fetch_redirect_response=False)
    assert Participant.objects.filter(name="Dana").exists()


# --- The facilitator moves the phase ------------------------------------------------------------


def test_changing_the_phase_emits_atelier_updated_with_the_new_state(
    atelier, facilitator, events, pushed, django_capture_on_commit_callbacks
):
    version = _atelier().version

    with django_capture_on_commit_callbacks(execute=True):
        response = facilitator.post("/a/TST234/console/phase/", {"phase": Phase.HELP})

    assertRedirects(response, "/a/TST234/console/", fetch_redirect_response=False)
    assert _atelier().phase == Phase.HELP
    assert _atelier().version == version + 1
    assert events == [(atelier.pk, version + 1, {"type": "atelier.updated"})]
    html = pushed[0]["fr"]
    assert 'data-phase="entraide"' in html
    assert 'data-can-post="false"' in html
    assert 'data-can-me-too="true"' in html
    assert escape(str(phases.INVITATION[Phase.HELP])) in html


def test_setting_the_same_phase_again_emits_nothing(atelier, facilitator, events, django_capture_on_commit_callbacks):
    facilitator.post("/a/TST234/console/phase/", {"phase": Phase.ME_TOO})
    version = _atelier().version

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = facilitator.post("/a/TST234/console/phase/", {"phase": Phase.ME_TOO}, **HTMX)

    assert response.status_code == 204
    assert _atelier().version == version
    assert callbacks == []
    assert events == []


@pytest.mark.parametrize("target", [p for p in Phase.values if p != Phase.IMPOSSIBLES])
def test_every_phase_can_be_reached_and_left(atelier, facilitator, target):
    facilitator.post("/a/TST234/console/phase/", {"phase": target})
    assert _atelier().phase == target
    facilitator.post("/a/TST234/console/phase/", {"phase": Phase.IMPOSSIBLES})
    assert _atelier().phase == Phase.IMPOSSIBLES
    assert _atelier().version == 2


@pytest.mark.parametrize("value", ["", "bientot", "CLOS", "impossibles "])
def test_an_unknown_phase_is_refused_in_french(atelier, facilitator, events, django_capture_on_commit_callbacks, value):
    with django_capture_on_commit_callbacks(execute=True):
        htmx = facilitator.post("/a/TST234/console/phase/", {"phase": value}, **HTMX)
        plain = facilitator.post("/a/TST234/console/phase/", {"phase": value})

    assert htmx.status_code == answers.REFUSED
    assert json.loads(htmx["HX-Trigger"]) == {"cerveau:refused": {"message": "Phase inconnue."}}
    assertRedirects(plain, "/a/TST234/console/", fetch_redirect_response=False)
    assert '<li class="flash-error">Phase inconnue.</li>' in facilitator.get("/a/TST234/console/").content.decode()
    assert _atelier().phase == Phase.IMPOSSIBLES
    assert _atelier().version == 0
    assert events == []


def test_locking_and_unlocking_emit_one_event_each(atelier, facilitator, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for value in ("1", "1", "0", "0"):
            facilitator.post("/a/TST234/console/lock/", {"locked": value})

    assert _atelier().locked is False
    assert _atelier().version == 2
    assert events == [(atelier.pk, 1, {"type": "atelier.updated"}), (atelier.pk, 2, {"type": "atelier.updated"})]


def test_a_lock_applies_at_once_to_participants(facilitator, bob, impossible):
    facilitator.post("/a/TST234/console/lock/", {"locked": "1"})

    response = bob.post(f"/a/TST234/impossibles/{impossible.pk}/me-too/", {"state": "on"}, **HTMX)

    assert response.status_code == 409
    assert json.loads(response["HX-Trigger"])["cerveau:refused"]["message"] == str(phases.LOCKED)
    facilitator.post("/a/TST234/console/lock/", {"locked": "0"})
    assert bob.post(f"/a/TST234/impossibles/{impossible.pk}/me-too/", {"state": "on"}, **HTMX).status_code == 204
