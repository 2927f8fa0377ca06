"""The join-code limiter: it slows down scripts guessing codes, and nobody else.

Members of an atelier are never slowed, whatever their network does; a
network that tried too many wrong codes is refused new look-ups by code, the
same way for a right code as for a wrong one; the room's QR codes and links
carry an invitation that always gets in; and no amount of guessing blocks the
whole site (it is logged instead).
"""

from __future__ import annotations

import logging
import re

import pytest
from django.test import Client
from django.utils.html import escape
from pytest_django.asserts import assertRedirects

from boards import access, ratelimit
from boards.models import MeToo, Participant, Role
from boards.services import facilitation
from tests.conftest import post_impossible

HOME_LIMITED = "Trop de codes erronés depuis ce réseau. Scannez le QR code affiché dans la salle"
PAGE_LIMITED = "Trop de codes erronés"
# Per-response CSRF tokens: in forms and in htmx's headers.
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"|"X-CSRFToken": "[^"]+"')


def _limit() -> int:
    return ratelimit.limit("join_guess").count


@pytest.fixture
def small_limits(monkeypatch, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "join_guess": (4, 600)}
    monkeypatch.setattr(ratelimit, "ALERT_SITEWIDE", 10)


def _wrong(client: Client, where: str, n: int):
    code = f"ZZZ{n:03d}"
    if where == "home":
        return client.get("/", {"code": code})
    if where == "join":
        return client.get(f"/a/{code}/join/")
    return client.get(f"/a/{code}/")


def _right(client: Client, where: str):
    if where == "home":
        return client.get("/", {"code": "TST234"})
    if where == "join":
        return client.get("/a/TST234/join/")
    return client.get("/a/TST234/")


def _assert_limited(response, where: str) -> None:
    assert response.status_code == 429
    assert int(response.get("Retry-After", 1)) > 0
    message = HOME_LIMITED if where == "home" else PAGE_LIMITED
    assert escape(message) in response.content.decode()


def _assert_let_through(response, where: str) -> None:
    if where == "join":
        assert response.status_code == 200
        assert 'name="name"' in response.content.decode()
    else:
        assertRedirects(response, "/a/TST234/join/", fetch_redirect_response=False)


def _guess(address: str, count: int, start: int = 0) -> None:
    client = Client(REMOTE_ADDR=address)
    for n in range(start, start + count):
        assert _wrong(client, ["home", "join", "board"][n % 3], n).status_code in {404, 422, 429}


def _member(atelier, name: str, address: str) -> Client:
    """Someone who joined through the real form from `address`."""
    client = Client(REMOTE_ADDR=address)
    response = client.post(f"/a/{atelier.code}/join/", {"name": name, "role": Role.ENTREPRENEUR})
    assertRedirects(response, f"/a/{atelier.code}/", fetch_redirect_response=False)
    return client


# --- Networks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "prefix"),
    [
        ("203.0.113.7", "203.0.113.0/24"),
        ("203.0.113.250", "203.0.113.0/24"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),
        ("fe80::1%eth0", "fe80::/64"),
        ("unknown", "unknown"),
    ],
)
def test_addresses_are_counted_by_network(address, prefix):
    assert ratelimit.source_prefix(address) == prefix


# --- Who is slowed, who is not ----------------------------------------------------------------


def test_the_limit_with_the_real_numbers_refuses_the_whole_network_only(atelier):
    _guess("203.0.113.7", _limit())

    neighbour = Client(REMOTE_ADDR="203.0.113.99")
    _assert_limited(_right(neighbour, "home"), "home")
    _assert_limited(neighbour.post("/a/TST234/join/", {"name": "Bot", "role": Role.OTHER}), "join")
    assert not Participant.objects.exists()
    _assert_let_through(_right(Client(REMOTE_ADDR="203.0.114.8"), "home"), "home")


@pytest.mark.parametrize("checked", ["home", "join", "board"])
@pytest.mark.parametrize("guessed", ["home", "join", "board"])
def test_wrong_codes_from_one_network_stop_its_new_look_ups_everywhere(atelier, small_limits, guessed, checked):
    guesser = Client(REMOTE_ADDR="198.51.100.1")
    for n in range(_limit() - 1):
        assert _wrong(guesser, guessed, n).status_code in {404, 422}
    _assert_let_through(_right(guesser, checked), checked)  # one short of the limit: still fine

    _wrong(guesser, guessed, 99)

    _assert_limited(_right(guesser, checked), checked)
    _assert_limited(_wrong(guesser, checked, 100), checked)
    _assert_let_through(_right(Client(REMOTE_ADDR="198.51.101.2"), checked), checked)


@pytest.mark.parametrize("where", ["home", "join", "board"])
def test_a_blocked_guesser_learns_nothing_from_a_right_code(atelier, small_limits, where):
    guesser = Client(REMOTE_ADDR="198.51.100.1")
    _guess("198.51.100.1", _limit())

    right, wrong = _right(guesser, where), _wrong(guesser, where, 500)

    assert right.status_code == wrong.status_code == 429
    assert right.get("Location") is wrong.get("Location") is None
    # The same page, but for the code the guesser typed themselves.
    same = [
        CSRF.sub("", r.content.decode()).replace(typed, "CODE") for r, typed in ((right, "TST234"), (wrong, "ZZZ500"))
    ]
    assert same[0] == same[1]


def test_members_behind_a_guessing_network_are_never_slowed(atelier, small_limits):
    alice = _member(atelier, "Alice", "203.0.113.10")
    _member(atelier, "Bob", "203.0.113.11")
    impossible = post_impossible(Participant.objects.get(name="Bob"))
    _guess("203.0.113.66", 10 * _limit())

    board = alice.get("/a/TST234/")
    assert board.status_code == 200
    assert impossible.statement in board.content.decode()
    assertRedirects(alice.get("/", {"code": "tst-234"}), "/a/TST234/", fetch_redirect_response=False)
    assertRedirects(alice.get("/a/TST234/join/"), "/a/TST234/", fetch_redirect_response=False)
    response = alice.post(f"/a/TST234/impossibles/{impossible.pk}/me-too/", {"state": "on"})
    assert response.status_code == 302
    assert MeToo.objects.filter(impossible=impossible, participant__name="Alice").count() == 1
    response = alice.post(
        "/a/TST234/impossibles/",
        {"statement": "Impossible de loger nos apprentis", "category": "recrutement", "submission_key": "k1"},
    )
    assert response.status_code == 302
    assert Participant.objects.get(name="Alice").impossibles.get().statement == "Impossible de loger nos apprentis"


def test_a_member_still_counts_wrong_codes_for_other_ateliers(atelier, small_limits):
    alice = _member(atelier, "Alice", "203.0.113.10")
    for n in range(_limit()):
        assert alice.get(f"/a/ZZZ{n:03d}/").status_code == 404

    assert alice.get("/a/ZZZ999/").status_code == 429
    assert alice.get("/a/TST234/").status_code == 200  # her own atelier, still


def test_the_room_s_invitation_link_always_gets_in(atelier, small_limits):
    _guess("203.0.113.66", _limit())
    newcomer = Client(REMOTE_ADDR="203.0.113.12")
    _assert_limited(newcomer.get("/a/TST234/join/"), "join")

    invited = f"/a/TST234/join/?invite={access.invitation(atelier)}"
    page = newcomer.get(invited)
    assert page.status_code == 200
    assert 'name="name"' in page.content.decode()
    # Nothing is written for the invitation: the page's form has no action, so
    # a browser posts it to the page's own address, invitation included.
    assert "sessionid" not in page.cookies
    assert re.search(r"<form method=\"post\"(?![^>]*action)", page.content.decode())
    response = newcomer.post(invited, {"name": "Nora", "role": Role.ENTREPRENEUR})

    assertRedirects(response, "/a/TST234/", fetch_redirect_response=False)
    assert newcomer.get("/a/TST234/").status_code == 200
    assert Participant.objects.get().name == "Nora"


def test_the_invitation_follows_a_visitor_sent_to_the_join_page(atelier, small_limits):
    """The board's address with the invitation (a link shared before the
    evening) sends a visitor who has not joined to the join page, invitation
    included: the limiter lets them in there too."""
    _guess("203.0.113.66", _limit())
    newcomer = Client(REMOTE_ADDR="203.0.113.12")
    invitation = access.invitation(atelier)

    response = newcomer.get("/a/TST234/", {"invite": invitation})

    assertRedirects(response, f"/a/TST234/join/?invite={invitation}", fetch_redirect_response=False)
    assert newcomer.get(response["Location"]).status_code == 200
    assert newcomer.post(response["Location"], {"name": "Nora", "role": Role.ENTREPRENEUR}).status_code == 302


@pytest.mark.parametrize("invite", ["", "0" * 16, "not-a-signature"])
def test_a_forged_invitation_is_no_invitation(atelier, small_limits, invite):
    _guess("203.0.113.66", _limit())

    _assert_limited(Client(REMOTE_ADDR="203.0.113.12").get("/a/TST234/join/", {"invite": invite}), "join")


def test_an_invitation_dies_with_its_join_code(atelier, small_limits):
    old_invitation = access.invitation(atelier)
    holder = Client(REMOTE_ADDR="203.0.113.12")
    assert holder.get("/a/TST234/join/", {"invite": old_invitation}).status_code == 200
    facilitation.regenerate_code(atelier)
    atelier.refresh_from_db()
    _guess("203.0.113.66", _limit())

    _assert_limited(holder.get(f"/a/{atelier.code}/join/"), "join")
    _assert_limited(holder.get(f"/a/{atelier.code}/join/", {"invite": old_invitation}), "join")
    assert holder.get(f"/a/{atelier.code}/join/", {"invite": access.invitation(atelier)}).status_code == 200


def test_the_qr_codes_and_console_link_carry_the_invitation(atelier, facilitator):
    invitation = access.invitation(atelier)
    console = facilitator.get("/a/TST234/console/").content.decode()
    assert f'href="http://testserver/a/TST234/join/?invite={invitation}"' in console
    # The printed address stays short enough to type.
    poster = facilitator.get("/a/TST234/poster/").content.decode()
    assert '<p class="url">http://testserver/a/TST234/join/</p>' in poster


# --- No site-wide block ---------------------------------------------------------------------


@pytest.mark.parametrize("checked", ["home", "join", "board"])
def test_guessing_from_many_networks_blocks_no_one_else_and_is_logged_once(atelier, small_limits, checked, caplog):
    with caplog.at_level(logging.WARNING, logger="boards.ratelimit"):
        for network in range(10):
            _guess(f"192.0.{network}.7", _limit() + 2, start=network * 100)

    _assert_let_through(_right(Client(REMOTE_ADDR="192.0.200.1"), checked), checked)
    alerts = [record for record in caplog.records if getattr(record, "event", "") == "ratelimit.guessing"]
    assert len(alerts) == 1, [record.getMessage() for record in caplog.records]
    assert "wrong codes site-wide" in alerts[0].getMessage()


def test_right_codes_never_count(atelier, small_limits):
    client = Client(REMOTE_ADDR="198.51.100.9")
    for _ in range(3 * ratelimit.ALERT_SITEWIDE):
        _assert_let_through(_right(client, "home"), "home")


def test_a_room_of_200_behind_one_address_all_get_in(atelier):
    # A venue's wifi: everybody shares one public address, and many people
    # mistype the code first (one short of the network's limit in total).
    typos = 0
    for n in range(200):
        phone = Client(REMOTE_ADDR="203.0.113.50")
        if n % 3 == 0 and typos < _limit() - 1:
            assert phone.get("/", {"code": "TST235"}).status_code == 422
            typos += 1
            assertRedirects(phone.get("/", {"code": "tst-234"}), "/a/TST234/join/", fetch_redirect_response=False)
        response = phone.post("/a/TST234/join/", {"name": f"Personne {n}", "role": Role.ENTREPRENEUR})
        assertRedirects(response, "/a/TST234/", fetch_redirect_response=False)

    assert Participant.objects.filter(atelier=atelier).count() == 200
    assert typos == _limit() - 1
