"""Facilitators' logins, the admin's login and password resets are rate
limited (boards/ratelimit.py): a script guessing passwords is stopped long
before it can find one, and it cannot lock the real facilitator out.

- Hard block per account AND source network (/24 in IPv4, /64 in IPv6):
  10 wrong passwords in 15 minutes, then even the right one is refused (429)
  from that network, until the window ends.
- Per network, whatever the account: 50 failures in 15 minutes (one network
  trying many accounts).
- Per account from everywhere (a botnet): 100 failures in an hour; a browser
  that logged in to that account before is not held back by this one.
- Password resets: 3 an hour per e-mail address, 20 an hour per network.
"""

from __future__ import annotations

import re
import secrets

import httpx
import pytest
from django.conf import global_settings
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.utils.html import escape

from boards import ratelimit
from tests import servers

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier

PASSWORD = "Soudure-TIG-2030"
LIMITED_FR = "Trop de tentatives de connexion"
LIMITED_EN = "Too many login attempts"
RESET_LIMITED_FR = "Trop de demandes de nouveau mot de passe"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def one_window(monkeypatch):
    """Every attempt of the test in one rate-limit window, whatever the clock."""
    monkeypatch.setattr(ratelimit, "_window", lambda seconds: 0)


@pytest.fixture
def fanny(atelier) -> User:
    user = User.objects.create_user("fanny", email="fanny@example.org", password=PASSWORD)
    atelier.facilitators.add(user)
    return user


def _login(client: Client, username: str = "fanny", password: str = PASSWORD, path: str = "/accounts/login/"):
    return client.post(path, {"username": username, "password": password})


def _wrong(client: Client, times: int, username: str = "fanny", path: str = "/accounts/login/") -> None:
    for n in range(times):
        response = _login(client, username, f"pas-le-bon-{n}", path)
        assert response.status_code == 200, response.status_code
        assert 'name="password"' in response.content.decode()  # the form again: wrong password


def _assert_logged_in(response) -> None:
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] in {"/facilitate/", "/admin/"}


def _assert_limited(response, message: str = LIMITED_FR) -> None:
    assert response.status_code == 429
    assert escape(message) in response.content.decode()
    assert int(response["Retry-After"]) > 0
    assert 'name="username"' in response.content.decode()  # still the login page


# --- Per account and network ----------------------------------------------------------------------


def test_after_ten_wrong_passwords_even_the_right_one_is_refused_in_french(fanny, one_window):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    _wrong(attacker, 10)

    response = _login(attacker)

    _assert_limited(response)
    assert "_auth_user_id" not in attacker.session


def test_nine_wrong_passwords_then_the_right_one_logs_in(fanny, one_window):
    client = Client(REMOTE_ADDR="203.0.113.7")
    _wrong(client, 9)

    _assert_logged_in(_login(client))


def test_the_refusal_is_in_english_for_an_english_browser(fanny, one_window):
    attacker = Client(REMOTE_ADDR="203.0.113.7", HTTP_ACCEPT_LANGUAGE="en")
    _wrong(attacker, 10)

    _assert_limited(_login(attacker), LIMITED_EN)


def test_the_block_covers_the_whole_ipv4_slash_24(fanny, one_window):
    _wrong(Client(REMOTE_ADDR="203.0.113.7"), 10)

    _assert_limited(_login(Client(REMOTE_ADDR="203.0.113.200")))
    _assert_logged_in(_login(Client(REMOTE_ADDR="203.0.114.7")))


def test_the_block_covers_the_whole_ipv6_slash_64(fanny, one_window):
    _wrong(Client(REMOTE_ADDR="2001:db8:1:2::5"), 10)

    _assert_limited(_login(Client(REMOTE_ADDR="2001:db8:1:2:ffff:ffff:ffff:1")))
    _assert_logged_in(_login(Client(REMOTE_ADDR="2001:db8:1:3::5")))


def test_user_names_are_counted_whatever_their_case(fanny, one_window):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(10):
        _login(attacker, "FaNnY" if n % 2 else " fanny ", f"faux-{n}")

    _assert_limited(_login(attacker))


def test_another_account_can_still_log_in_from_the_blocked_network(fanny, one_window):
    User.objects.create_user("colin", password=PASSWORD)
    venue = "198.51.100.20"
    _wrong(Client(REMOTE_ADDR=venue), 10)

    _assert_logged_in(_login(Client(REMOTE_ADDR="198.51.100.21"), "colin"))


def test_the_block_ends_with_its_window(fanny, monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    _wrong(attacker, 10)
    _assert_limited(_login(attacker))

    now[0] += 15 * 60

    _assert_logged_in(_login(attacker))


def test_refused_attempts_do_not_count_again(fanny, one_window):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    _wrong(attacker, 10)
    for _ in range(50):
        _assert_limited(_login(attacker, password="encore-faux"))

    # The per-account count did not grow: another network is not held back.
    _assert_logged_in(_login(Client(REMOTE_ADDR="192.0.2.1")))


# --- Per network ------------------------------------------------------------------------------------


def test_one_network_trying_many_accounts_is_stopped(fanny, one_window):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(50):
        _login(attacker, f"compte-{n}", "faux")

    _assert_limited(_login(attacker))
    _assert_logged_in(_login(Client(REMOTE_ADDR="192.0.2.1")))


# --- Per account, from everywhere --------------------------------------------------------------------


def _botnet(times: int, username: str = "fanny") -> None:
    for n in range(times):
        _login(Client(REMOTE_ADDR=f"10.{n // 250}.{n % 250}.1"), username, f"faux-{n}")


def test_many_networks_guessing_one_account_are_stopped_everywhere_new(fanny, one_window):
    _botnet(100)

    _assert_limited(_login(Client(REMOTE_ADDR="192.0.2.1")))


def test_a_browser_that_logged_in_before_still_gets_in_during_a_distributed_attack(fanny, one_window):
    laptop = Client(REMOTE_ADDR="192.0.2.1")
    _assert_logged_in(_login(laptop))
    laptop.post("/accounts/logout/")

    _botnet(100)

    _assert_logged_in(_login(laptop))
    # Another account's cookie does not help.
    User.objects.create_user("colin", password=PASSWORD)
    other = Client(REMOTE_ADDR="192.0.2.2")
    _assert_logged_in(_login(other, "colin"))
    _assert_limited(_login(other))


def test_a_forged_known_browser_cookie_does_not_help(fanny, one_window):
    _botnet(100)
    forger = Client(REMOTE_ADDR="192.0.2.1")
    forger.cookies[ratelimit.KNOWN_DEVICE_COOKIE] = "fanny"

    _assert_limited(_login(forger))


# --- The admin's login --------------------------------------------------------------------------------


def test_the_admin_login_is_limited_too(db, one_window):
    User.objects.create_superuser("orga", "orga@example.org", PASSWORD)
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    _wrong(attacker, 10, "orga", path="/admin/login/")

    _assert_limited(_login(attacker, "orga", path="/admin/login/"))
    # The two login pages share the count.
    _assert_limited(_login(attacker, "orga"))
    _assert_logged_in(_login(Client(REMOTE_ADDR="192.0.2.1"), "orga", path="/admin/login/?next=/admin/"))


def test_wrong_passwords_on_the_site_block_the_admin_login(db, one_window):
    User.objects.create_superuser("orga", "orga@example.org", PASSWORD)
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    _wrong(attacker, 10, "orga")

    _assert_limited(_login(attacker, "orga", path="/admin/login/"))


# --- Password resets --------------------------------------------------------------------------------


def _reset(client: Client, email: str = "fanny@example.org"):
    return client.post("/accounts/password_reset/", {"email": email})


def test_three_resets_an_hour_per_address_then_a_clear_refusal(fanny, one_window):
    for n in range(3):
        assert _reset(Client(REMOTE_ADDR=f"192.0.2.{n}")).status_code == 302

    response = _reset(Client(REMOTE_ADDR="198.51.100.1"))

    assert response.status_code == 429
    assert escape(RESET_LIMITED_FR) in response.content.decode()
    assert len(mail.outbox) == 3


def test_one_network_cannot_flood_many_addresses_with_resets(fanny, one_window):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(20):
        assert _reset(attacker, f"personne-{n}@example.org").status_code == 302

    assert _reset(attacker).status_code == 429
    assert mail.outbox == []
    assert _reset(Client(REMOTE_ADDR="192.0.2.1")).status_code == 302
    assert len(mail.outbox) == 1


# --- Through a real daphne --------------------------------------------------------------------------


def _client_from(address: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(transport=transport, timeout=servers.HTTP_TIMEOUT, follow_redirects=False, trust_env=False)


def _post_login(client: httpx.Client, server, username: str, password: str) -> httpx.Response:
    page = client.get(server.url + "/accounts/login/")
    token = servers.csrf_token_in(page.text)
    return client.post(
        server.url + "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": server.url + "/accounts/login/"},
    )


def test_a_password_guesser_is_stopped_by_the_real_server(daphne_server, live_atelier, settings):
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # as the server checks them
    account = servers.create_facilitator(live_atelier)
    # Two networks of the loopback range, new at each run: counters kept in
    # Redis from an earlier run cannot get in the way.
    attacker_network, facilitator_network = (f"127.{secrets.randbelow(250) + 1}.{n}" for n in (1, 2))
    with _client_from(f"{attacker_network}.1") as attacker:
        for n in range(10):
            response = _post_login(attacker, daphne_server, account.username, f"faux-{n}")
            assert response.status_code == 200
        refused = _post_login(attacker, daphne_server, account.username, account.password)
    assert refused.status_code == 429, refused.text[-3000:]
    assert escape(LIMITED_FR) in refused.text
    assert re.fullmatch(r"\d+", refused.headers["Retry-After"])

    # The facilitator, from another network, is not locked out.
    with _client_from(f"{facilitator_network}.1") as facilitator:
        response = _post_login(facilitator, daphne_server, account.username, account.password)
    assert response.status_code == 302
    assert response.headers["Location"] == "/facilitate/"
