"""Joining an atelier: the home page code lookup, the join form, the
"already joined" shortcut and the profile page."""

from __future__ import annotations

import re

import pytest
from django.utils.html import escape
from pytest_django.asserts import assertContains, assertRedirects

from boards.access import session_key
from boards.forms import ParticipantForm
from boards.models import Atelier, Participant, Role

JOIN_URL = "/a/TST234/join/"
BOARD_URL = "/a/TST234/"
PROFILE_URL = "/a/TST234/me/"


def _valid_join(**overrides) -> dict:
    return {"name": "Dominique", "organisation": "Forges de Cognac", "role": Role.PUBLIC_AGENT, **overrides}


def _field_errors(response, field: str) -> str:
    """The error list rendered right under one field (empty if none)."""
    found = re.search(rf'<ul class="errors" id="id_{field}_errors?">(.*?)</ul>', response.content.decode(), re.S)
    return found.group(1) if found else ""


def _required(field: str) -> str:
    """The French message the form shows when `field` is left empty, as rendered."""
    return escape(str(ParticipantForm.base_fields[field].error_messages["required"]))


# --- Home page: "enter the code shown in the room" -------------------------


def test_home_page_shows_the_code_form(outsider):
    response = outsider.get("/")
    assert response.status_code == 200
    assertContains(response, 'name="code"')


@pytest.mark.parametrize("typed", ["TST234", "tst234", "tst-234", "TST 234", " Tst-2 34 "])
def test_home_page_redirects_a_valid_code_to_the_join_page(atelier, outsider, typed):
    response = outsider.get("/", {"code": typed})
    assertRedirects(response, JOIN_URL, fetch_redirect_response=False)


def test_home_page_lists_only_the_ateliers_you_joined(atelier, other_atelier, alice):
    response = alice.get("/")

    assertContains(response, "Vos ateliers")
    assertContains(response, f'href="{BOARD_URL}"')
    assert other_atelier.title not in response.content.decode()


def test_home_page_lists_no_atelier_for_a_newcomer(atelier, outsider):
    response = outsider.get("/")

    assert "Vos ateliers" not in response.content.decode()


def test_home_page_rejects_an_unknown_code_in_french(atelier, outsider):
    ateliers_before = Atelier.objects.count()

    response = outsider.get("/", {"code": "ZZZ999"})

    assertContains(response, "Aucun atelier ne porte ce code", status_code=422)
    assert Atelier.objects.count() == ateliers_before
    assert not Participant.objects.exists()


def test_home_page_rejects_a_code_that_is_only_punctuation(atelier, outsider):
    response = outsider.get("/", {"code": " - "})
    assert response.status_code == 422
    assert not Participant.objects.exists()


# --- Join page ---------------------------------------------------------------


def test_join_page_shows_the_atelier_and_the_form(atelier, outsider):
    response = outsider.get(JOIN_URL)
    assertContains(response, "Atelier de l&#x27;impossible — Test")
    assertContains(response, 'name="name"')
    assertContains(response, 'name="role"')


def test_join_page_accepts_the_code_in_lowercase(atelier, outsider):
    response = outsider.get("/a/tst234/join/")
    assert response.status_code == 200
    assertContains(response, 'id="join-title"')
    assertContains(response, 'name="name"')


def test_it_creates_the_participant_and_remembers_it(atelier, outsider):
    response = outsider.post(JOIN_URL, _valid_join())

    assertRedirects(response, BOARD_URL, fetch_redirect_response=False)
    participant = Participant.objects.get()
    assert participant.atelier == atelier
    assert participant.name == "Dominique"
    assert participant.organisation == "Forges de Cognac"
    assert participant.role == Role.PUBLIC_AGENT
    assert outsider.session[session_key(atelier.pk)] == participant.pk
    # The session cookie is now who they are: the board opens.
    board = outsider.get(BOARD_URL)
    assertContains(board, "Vous êtes <strong>Dominique</strong>")


def _session_keys() -> set[str]:
    """Every stored session. Pages served to browser tests by their daphne
    process may leave a few in the shared test database: tests compare."""
    from django.contrib.sessions.models import Session

    return set(Session.objects.values_list("session_key", flat=True))


def test_joining_without_a_session_stores_one_session(atelier, outsider):
    others = _session_keys()

    outsider.post(JOIN_URL, _valid_join())

    assert _session_keys() - others == {outsider.cookies["sessionid"].value}


def test_joining_with_a_session_already_stored_gives_it_a_new_key(atelier, outsider):
    """A cookie set before joining (planted, or from an earlier visit) never
    becomes the participant's."""
    others = _session_keys()
    session = outsider.session
    session["something"] = "before"
    session.save()
    before = session.session_key

    outsider.post(JOIN_URL, _valid_join())

    after = outsider.cookies["sessionid"].value
    assert after != before
    assert _session_keys() - others == {after}
    assert outsider.session["something"] == "before"


def test_it_trims_the_name_and_organisation(atelier, outsider):
    outsider.post(JOIN_URL, _valid_join(name="  Dominique  ", organisation="  Forges  "))
    participant = Participant.objects.get()
    assert participant.name == "Dominique"
    assert participant.organisation == "Forges"


def test_it_allows_an_empty_organisation(atelier, outsider):
    response = outsider.post(JOIN_URL, _valid_join(organisation=""))
    assert response.status_code == 302
    assert Participant.objects.get().organisation == ""


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_it_rejects_a_missing_or_blank_name(atelier, outsider, name):
    response = outsider.post(JOIN_URL, _valid_join(name=name))

    assert response.status_code == 422
    assert _required("name") in _field_errors(response, "name")
    assert not Participant.objects.exists()
    assert session_key(atelier.pk) not in outsider.session


def test_it_rejects_a_too_long_name(atelier, outsider):
    response = outsider.post(JOIN_URL, _valid_join(name="x" * 61))
    assert response.status_code == 422
    assert "au plus 60 caractères" in _field_errors(response, "name")
    assert not Participant.objects.exists()


def test_it_rejects_an_unknown_role(atelier, outsider):
    response = outsider.post(JOIN_URL, _valid_join(role="ministre"))

    assert response.status_code == 422
    assert "Sélectionnez un choix valide" in _field_errors(response, "role")
    assert _field_errors(response, "name") == ""
    assert not Participant.objects.exists()


def test_it_rejects_a_missing_role(atelier, outsider):
    data = _valid_join()
    del data["role"]
    response = outsider.post(JOIN_URL, data)
    assert response.status_code == 422
    assert _required("role") in _field_errors(response, "role")
    assert not Participant.objects.exists()


def test_it_keeps_what_was_typed_after_an_error(atelier, outsider):
    response = outsider.post(JOIN_URL, _valid_join(role="ministre"))
    assertContains(response, 'value="Dominique"', status_code=422)


def test_it_redirects_an_already_joined_visitor_to_the_board(alice):
    response = alice.get(JOIN_URL)
    assertRedirects(response, BOARD_URL, fetch_redirect_response=False)


def test_it_does_not_create_a_second_participant_for_an_already_joined_visitor(alice):
    response = alice.post(JOIN_URL, _valid_join(name="Alice bis"))
    assertRedirects(response, BOARD_URL, fetch_redirect_response=False)
    assert list(Participant.objects.values_list("name", flat=True)) == ["Alice"]


def test_joining_one_atelier_does_not_join_another(alice, other_atelier):
    response = alice.get("/a/AUTRE9/")
    assertRedirects(response, "/a/AUTRE9/join/", fetch_redirect_response=False)
    assert alice.get("/a/AUTRE9/join/").status_code == 200


def test_a_session_pointing_to_another_ateliers_participant_is_not_trusted(alice, other_atelier):
    # A tampered session: atelier B's key holding a participant of atelier A.
    session = alice.session
    session[session_key(other_atelier.pk)] = alice.participant.pk
    session.save()

    response = alice.get("/a/AUTRE9/")
    assertRedirects(response, "/a/AUTRE9/join/", fetch_redirect_response=False)


@pytest.mark.parametrize("url", ["/a/NOPE99/join/", "/a/NOPE99/", "/a/NOPE99/me/"])
def test_it_returns_404_for_an_unknown_atelier(db, outsider, url):
    assert outsider.get(url).status_code == 404


def test_it_returns_404_when_joining_an_unknown_atelier_by_post(db, outsider):
    response = outsider.post("/a/NOPE99/join/", _valid_join())
    assert response.status_code == 404
    assert not Participant.objects.exists()


def test_an_atelier_deleted_while_someone_joins_answers_404_and_saves_nothing(atelier, outsider, monkeypatch):
    from boards.services import participation

    real = participation.join_atelier

    def deleted_meanwhile(found, **fields):
        Atelier.objects.filter(pk=found.pk).delete()
        return real(found, **fields)

    monkeypatch.setattr(participation, "join_atelier", deleted_meanwhile)
    outsider.get(JOIN_URL)
    assert outsider.post(JOIN_URL, _valid_join()).status_code == 404
    assert not Participant.objects.exists()


def test_a_new_session_takes_a_fresh_key_even_when_the_first_one_drawn_is_taken(alice, monkeypatch):
    """The session store inserts a new key without asking first whether it is
    taken (cerveau/sessions.py): a taken key is refused by the insert, and
    another is drawn; the session holding it is left as it was."""
    from cerveau import sessions

    taken = alice.session.session_key
    before = dict(alice.session.items())
    drawn = iter([taken, "k" * 32])
    monkeypatch.setattr(sessions, "get_random_string", lambda length, chars: next(drawn))
    store = sessions.SessionStore()
    store["cerveau.note"] = "fresh"
    store.save()
    assert store.session_key == "k" * 32
    assert dict(sessions.SessionStore(taken).load()) == before
    assert sessions.SessionStore("k" * 32).load() == {"cerveau.note": "fresh"}


def test_joining_saves_the_new_session_without_looking_its_key_up_first(atelier, outsider):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    outsider.get(JOIN_URL)
    with CaptureQueriesContext(connection) as queries:
        assert outsider.post(JOIN_URL, _valid_join()).status_code == 302
    session_reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and "django_session" in q["sql"]]
    assert session_reads == []
    assert outsider.get(BOARD_URL).status_code == 200


def test_board_requires_joining(atelier, outsider):
    response = outsider.get(BOARD_URL)
    assertRedirects(response, JOIN_URL, fetch_redirect_response=False)


def test_board_requires_joining_even_with_a_lowercase_code(atelier, outsider):
    response = outsider.get("/a/tst234/")
    assertRedirects(response, JOIN_URL, fetch_redirect_response=False)


# --- Profile -------------------------------------------------------------------


def test_profile_page_requires_joining(atelier, outsider):
    response = outsider.get(PROFILE_URL)
    assertRedirects(response, JOIN_URL, fetch_redirect_response=False)


def test_profile_page_shows_the_current_values(alice):
    response = alice.get(PROFILE_URL)
    assertContains(response, 'value="Alice"')
    assertContains(response, 'value="Alice SARL"')


def test_it_updates_the_name(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(PROFILE_URL, {"name": "Alice D.", "organisation": "", "role": Role.PEER})

    assertRedirects(response, BOARD_URL, fetch_redirect_response=False)
    alice.participant.refresh_from_db()
    assert alice.participant.name == "Alice D."
    assert alice.participant.organisation == ""
    assert alice.participant.role == Role.PEER
    board = alice.get(BOARD_URL)
    assertContains(board, "Votre profil est à jour.")
    assertContains(board, "Vous êtes <strong>Alice D.</strong>")


def test_it_emits_participant_updated(alice, events, django_capture_on_commit_callbacks):
    version_before = Atelier.objects.get().version
    with django_capture_on_commit_callbacks(execute=True):
        alice.post(PROFILE_URL, {"name": "Alice D.", "organisation": "", "role": Role.PEER})

    atelier = Atelier.objects.get()
    assert atelier.version == version_before + 1
    assert events == [
        (atelier.pk, atelier.version, {"type": "participant.updated", "participant": alice.participant.pk})
    ]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "role": Role.PEER}, "name", None),
        ({"name": "   ", "role": Role.PEER}, "name", None),
        ({"name": "x" * 61, "role": Role.PEER}, "name", "au plus 60 caractères"),
        ({"name": "Alice D.", "role": "ministre"}, "role", "Sélectionnez un choix valide"),
    ],
)
def test_it_rejects_an_invalid_profile_and_changes_nothing(
    alice, events, django_capture_on_commit_callbacks, data, field, message
):
    version_before = Atelier.objects.get().version
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = alice.post(PROFILE_URL, {"organisation": "Nouvelle org", **data})

    assert response.status_code == 422
    assert (message or _required(field)) in _field_errors(response, field)
    participant = Participant.objects.get(pk=alice.participant.pk)
    assert (participant.name, participant.organisation, participant.role) == ("Alice", "Alice SARL", Role.ENTREPRENEUR)
    assert Atelier.objects.get().version == version_before
    assert callbacks == []
    assert events == []


def test_an_invalid_profile_does_not_leak_into_the_rendered_participant(alice):
    # The name is valid but the role is not: the form must not leave its
    # half-applied input on the participant the page displays.
    response = alice.post(PROFILE_URL, {"name": "Alice D.", "organisation": "", "role": "ministre"})
    assert response.status_code == 422
    assert response.context["participant"].name == "Alice"
