"""Facilitators' accounts: login, logout, passwords."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from pytest_django.asserts import assertContains, assertRedirects

from boards.live import publish
from boards.models import Participant, Role

PASSWORD = "Soudure-TIG-2030"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def fanny(atelier) -> User:
    user = User.objects.create_user("fanny", email="fanny@example.org", password=PASSWORD)
    atelier.facilitators.add(user)
    return user


def _login(client: Client, username: str = "fanny", password: str = PASSWORD):
    return client.post("/accounts/login/", {"username": username, "password": password})


def _sessionid(client: Client) -> str:
    return client.cookies["sessionid"].value


# --- Login and logout ---------------------------------------------------------------------------


def test_the_login_page_works(db):
    response = Client().get("/accounts/login/")
    assertContains(response, "Espace animation")
    assertContains(response, 'name="username"')
    assertContains(response, 'name="password"')
    assertContains(response, 'href="/accounts/password_reset/"')


def test_logging_in_leads_to_my_ateliers(fanny):
    client = Client()
    assertRedirects(_login(client), "/facilitate/", fetch_redirect_response=False)
    assertContains(client.get("/facilitate/"), "Atelier de l&#x27;impossible — Test")


def test_logging_in_goes_back_to_the_page_asked_for(fanny):
    client = Client()
    client.get("/a/TST234/console/")
    response = client.post(
        "/accounts/login/", {"username": "fanny", "password": PASSWORD, "next": "/a/TST234/console/"}
    )
    assertRedirects(response, "/a/TST234/console/", fetch_redirect_response=False)


def test_a_wrong_password_is_refused_in_french(fanny):
    client = Client()
    response = _login(client, password="pas le bon")
    assert response.status_code == 200
    assertContains(response, "mot de passe")
    assert client.get("/facilitate/").status_code == 302


def test_logging_in_rotates_the_session_key_and_keeps_the_participant(atelier, fanny):
    client = Client()
    client.post("/a/TST234/join/", {"name": "Fanny", "role": Role.OTHER})
    participant = Participant.objects.get()
    before = _sessionid(client)

    _login(client)

    after = _sessionid(client)
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    board = client.get("/a/TST234/")
    assert board.status_code == 200
    assert f"Vous êtes <strong>{participant.name}</strong>" in board.content.decode()
    assert client.get("/a/TST234/console/").status_code == 200
    assert Participant.objects.count() == 1


def test_logging_out_ends_the_session(atelier, fanny, monkeypatch):
    closed: list[str] = []
    monkeypatch.setattr(publish, "close_session", closed.append)
    client = Client()
    _login(client)
    key = _sessionid(client)

    response = client.post("/accounts/logout/")

    assertRedirects(response, "/", fetch_redirect_response=False)
    assert not Session.objects.filter(session_key=key).exists()
    assert closed == [key]
    assertRedirects(
        client.get("/a/TST234/console/"), "/accounts/login/?next=/a/TST234/console/", fetch_redirect_response=False
    )


def test_logging_out_needs_a_post(fanny):
    client = Client()
    _login(client)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.get("/facilitate/").status_code == 200


# --- Passwords ----------------------------------------------------------------------------------


def test_changing_my_password(fanny):
    client = Client()
    _login(client)
    assertContains(client.get("/accounts/password_change/"), 'name="new_password1"')

    response = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": "Cognac-Jarnac-2031", "new_password2": "Cognac-Jarnac-2031"},
    )

    assertRedirects(response, "/accounts/password_change/done/", fetch_redirect_response=False)
    assert client.get("/accounts/password_change/done/").status_code == 200
    assert client.get("/facilitate/").status_code == 200  # still logged in
    assert _login(Client(), password="Cognac-Jarnac-2031").status_code == 302


def test_the_password_change_page_requires_login(db):
    response = Client().get("/accounts/password_change/")
    assertRedirects(response, "/accounts/login/?next=/accounts/password_change/", fetch_redirect_response=False)


def test_resetting_a_forgotten_password_by_email(fanny):
    client = Client()
    assertContains(client.get("/accounts/password_reset/"), 'name="email"')

    response = client.post("/accounts/password_reset/", {"email": "FANNY@example.org"})

    assertRedirects(response, "/accounts/password_reset/done/", fetch_redirect_response=False)
    assert client.get("/accounts/password_reset/done/").status_code == 200
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["fanny@example.org"]
    assert "fanny" in message.body
    link = re.search(r"http://testserver(/accounts/reset/[^/\s]+/[^/\s]+/)", message.body).group(1)

    form = client.get(link, follow=True)
    assert form.status_code == 200
    assertContains(form, 'name="new_password1"')
    set_password_url = form.redirect_chain[-1][0]
    done = client.post(set_password_url, {"new_password1": "Nouveau-2031!", "new_password2": "Nouveau-2031!"})

    assertRedirects(done, "/accounts/reset/done/", fetch_redirect_response=False)
    assert client.get("/accounts/reset/done/").status_code == 200
    assert _login(Client(), password="Nouveau-2031!").status_code == 302
    assert _login(Client(), password=PASSWORD).status_code == 200  # the old one no longer works
    # The link works once.
    again = Client().get(link, follow=True)
    assert "new_password1" not in again.content.decode()


def test_a_reset_for_an_unknown_email_sends_nothing_and_says_the_same(db):
    response = Client().post("/accounts/password_reset/", {"email": "personne@example.org"})
    assertRedirects(response, "/accounts/password_reset/done/", fetch_redirect_response=False)
    assert mail.outbox == []
