"""Saying "moi aussi" to an impossible, and taking it back."""

from __future__ import annotations

import json
import re

import pytest
from pytest_django.asserts import assertRedirects

from boards.models import Atelier, Impossible, MeToo
from boards.services import participation
from boards.services.core import NotFound
from tests.conftest import post_impossible

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def impossible(alice):
    return post_impossible(alice.participant, "Impossible de trouver un expert-comptable")


def _url(impossible_id: int, code: str = "TST234") -> str:
    return f"/a/{code}/impossibles/{impossible_id}/me-too/"


def _count(impossible: Impossible) -> int:
    return Impossible.objects.get(pk=impossible.pk).me_too_count


def _version(code: str = "TST234") -> int:
    return Atelier.objects.get(code=code).version


def _pressed(html: str, impossible_id: int) -> str:
    return re.search(rf'aria-pressed="(\w+)" data-impossible="{impossible_id}"', html).group(1)


def test_it_says_moi_aussi_and_redirects_without_javascript(bob, impossible):
    response = bob.post(_url(impossible.pk), {"state": "on"})

    assertRedirects(response, f"/a/TST234/#imp-{impossible.pk}", fetch_redirect_response=False)
    assert _count(impossible) == 1
    assert MeToo.objects.get().participant == bob.participant


def test_it_answers_htmx_with_204_and_a_client_event(bob, impossible):
    response = bob.post(_url(impossible.pk), {"state": "on"}, **HTMX)

    assert response.status_code == 204
    assert response.content == b""
    assert "cerveau:metoo" in response["HX-Trigger"]
    assert json.loads(response["HX-Trigger"]) == {"cerveau:metoo": {"impossible": impossible.pk, "on": True}}
    assert _count(impossible) == 1


def test_it_tells_htmx_when_it_was_withdrawn(bob, impossible):
    participation.set_me_too(bob.participant, impossible.pk, on=True)
    response = bob.post(_url(impossible.pk), {"state": "off"}, **HTMX)
    assert json.loads(response["HX-Trigger"]) == {"cerveau:metoo": {"impossible": impossible.pk, "on": False}}


def test_it_says_moi_aussi_when_no_state_is_sent(bob, impossible):
    bob.post(_url(impossible.pk))
    assert _count(impossible) == 1


def test_the_author_can_say_moi_aussi_too(alice, impossible):
    alice.post(_url(impossible.pk), {"state": "on"})
    assert _count(impossible) == 1


def test_it_is_idempotent(bob, impossible, events, django_capture_on_commit_callbacks):
    version_before = _version()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            response = bob.post(_url(impossible.pk), {"state": "on"}, **HTMX)
            assert response.status_code == 204

    assert _count(impossible) == 1
    assert MeToo.objects.count() == 1
    assert _version() == version_before + 1
    assert events == [
        (impossible.atelier_id, version_before + 1, {"type": "metoo.changed", "impossible": impossible.pk})
    ]


def test_it_withdraws(bob, impossible, events, django_capture_on_commit_callbacks):
    participation.set_me_too(bob.participant, impossible.pk, on=True)
    version_before = _version()

    with django_capture_on_commit_callbacks(execute=True):
        response = bob.post(_url(impossible.pk), {"state": "off"})

    assertRedirects(response, f"/a/TST234/#imp-{impossible.pk}", fetch_redirect_response=False)
    assert _count(impossible) == 0
    assert not MeToo.objects.exists()
    assert _version() == version_before + 1
    assert events == [
        (impossible.atelier_id, version_before + 1, {"type": "metoo.changed", "impossible": impossible.pk})
    ]


def test_it_withdraws_only_its_own_moi_aussi(bob, charlie, impossible):
    participation.set_me_too(bob.participant, impossible.pk, on=True)
    participation.set_me_too(charlie.participant, impossible.pk, on=True)

    bob.post(_url(impossible.pk), {"state": "off"})

    assert _count(impossible) == 1
    assert list(MeToo.objects.values_list("participant", flat=True)) == [charlie.participant.pk]


def test_withdrawing_twice_is_harmless(bob, impossible, events, django_capture_on_commit_callbacks):
    participation.set_me_too(bob.participant, impossible.pk, on=True)
    with django_capture_on_commit_callbacks(execute=True):
        bob.post(_url(impossible.pk), {"state": "off"})
        bob.post(_url(impossible.pk), {"state": "off"})
    assert _count(impossible) == 0
    assert len(events) == 1


def test_withdrawing_when_not_set_does_nothing(bob, impossible, events, django_capture_on_commit_callbacks):
    version_before = _version()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = bob.post(_url(impossible.pk), {"state": "off"}, **HTMX)

    assert response.status_code == 204
    assert _count(impossible) == 0
    assert not MeToo.objects.exists()
    assert _version() == version_before
    assert callbacks == []
    assert events == []


def test_it_counts_several_participants_exactly(alice, bob, charlie, impossible):
    for persona in (alice, bob, charlie, bob, alice):
        persona.post(_url(impossible.pk), {"state": "on"})

    assert _count(impossible) == 3
    assert MeToo.objects.filter(impossible=impossible).count() == 3

    charlie.post(_url(impossible.pk), {"state": "off"})

    assert _count(impossible) == 2
    assert MeToo.objects.filter(impossible=impossible).count() == 2


def test_the_board_shows_the_count_and_who_said_it(bob, charlie, impossible):
    bob.post(_url(impossible.pk), {"state": "on"})
    bob_page = bob.get("/a/TST234/").content.decode()
    charlie_page = charlie.get("/a/TST234/").content.decode()

    assert f'id="imp-{impossible.pk}-metoo" data-count="1"' in bob_page
    assert _pressed(bob_page, impossible.pk) == "true"
    assert _pressed(charlie_page, impossible.pk) == "false"


def test_the_version_bumps_once_per_real_change(bob, charlie, impossible):
    start = _version()
    steps = [
        (bob, "on", 1),
        (bob, "on", 0),
        (charlie, "on", 1),
        (bob, "off", 1),
        (bob, "off", 0),
        (charlie, "off", 1),
        (charlie, "off", 0),
    ]
    expected = start
    for persona, state, bump in steps:
        persona.post(_url(impossible.pk), {"state": state})
        expected += bump
        assert _version() == expected, (persona.participant.name, state)


def test_it_does_not_change_other_impossibles(alice, bob, impossible):
    other = post_impossible(alice.participant, "Impossible de se garer")
    bob.post(_url(impossible.pk), {"state": "on"})
    assert _count(other) == 0


# --- Not found, not allowed -----------------------------------------------------------------


def _assert_nothing_changed(impossible: Impossible, version: int) -> None:
    assert not MeToo.objects.exists()
    assert _count(impossible) == 0
    assert _version() == version


def test_it_returns_404_for_an_unknown_impossible(bob, impossible, events, django_capture_on_commit_callbacks):
    version_before = _version()
    with django_capture_on_commit_callbacks(execute=True):
        response = bob.post(_url(impossible.pk + 1000), {"state": "on"})
    assert response.status_code == 404
    _assert_nothing_changed(impossible, version_before)
    assert events == []


def test_it_returns_404_for_an_impossible_of_another_atelier(bob, impossible, other_atelier, events):
    stranger = participation.join_atelier(other_atelier, name="Zoé", organisation="", role="autre")
    foreign = post_impossible(stranger, "Impossible ailleurs")
    version_before = _version()

    response = bob.post(_url(foreign.pk), {"state": "on"})

    assert response.status_code == 404
    assert not MeToo.objects.exists()
    assert _count(foreign) == 0
    assert _version() == version_before
    assert _version("AUTRE9") == 1


@pytest.mark.parametrize("state", ["on", "off"])
def test_it_returns_404_for_a_hidden_impossible(bob, impossible, events, django_capture_on_commit_callbacks, state):
    Impossible.objects.filter(pk=impossible.pk).update(hidden=True)
    version_before = _version()

    with django_capture_on_commit_callbacks(execute=True):
        response = bob.post(_url(impossible.pk), {"state": state}, **HTMX)

    assert response.status_code == 404
    _assert_nothing_changed(impossible, version_before)
    assert events == []


def test_it_does_not_withdraw_from_a_hidden_impossible(bob, impossible):
    participation.set_me_too(bob.participant, impossible.pk, on=True)
    Impossible.objects.filter(pk=impossible.pk).update(hidden=True)

    response = bob.post(_url(impossible.pk), {"state": "off"})

    assert response.status_code == 404
    assert MeToo.objects.count() == 1
    assert _count(impossible) == 1


def test_the_service_raises_not_found_for_a_malformed_id(bob, impossible):
    version_before = _version()
    with pytest.raises(NotFound):
        participation.set_me_too(bob.participant, "abc", on=True)
    _assert_nothing_changed(impossible, version_before)


def test_only_members_can_say_moi_aussi(outsider, impossible, events):
    response = outsider.post(_url(impossible.pk), {"state": "on"})
    assertRedirects(response, "/a/TST234/join/", fetch_redirect_response=False)
    assert not MeToo.objects.exists()


def test_a_participant_cannot_say_moi_aussi_in_another_atelier_by_url(bob, other_atelier):
    stranger = participation.join_atelier(other_atelier, name="Zoé", organisation="", role="autre")
    foreign = post_impossible(stranger, "Impossible ailleurs")

    response = bob.post(_url(foreign.pk, code="AUTRE9"), {"state": "on"})

    assertRedirects(response, "/a/AUTRE9/join/", fetch_redirect_response=False)
    assert not MeToo.objects.exists()


def test_it_rejects_get(bob, impossible):
    assert bob.get(_url(impossible.pk)).status_code == 405
    assert not MeToo.objects.exists()
