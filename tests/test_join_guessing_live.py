"""A guessing attack on a real server while a full room works.

500 participants behind the venue's one address have joined; an attacker at
that same address and at 20 other networks sends 2,000 wrong codes while the
room posts and says « moi aussi ». Nobody in the room meets a 429, a newcomer
scanning the room's QR code still joins, and the attacker is refused alike
for right and wrong codes. Clients send from distinct loopback addresses,
which daphne sees as distinct networks.
"""

from __future__ import annotations

import logging
import random
import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.sessions.backends.db import SessionStore

from boards import access, ratelimit
from boards.models import Impossible, MeToo, Participant, Role
from boards.services import participation
from tests import servers
from tests.servers import Visitor, new_http_client

# 500 phones and 2,000 wrong codes: run against the production topology, where
# the limiter's counters live in Redis and are shared by every process. The
# limiter's rules are tested on both backends in tests/test_join_guessing.py.
pytestmark = [pytest.mark.servers, pytest.mark.production]
# Thousands of requests: their INFO lines would cost more than the requests.
logging.getLogger("httpx").setLevel(logging.WARNING)

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier

CSRF_SECRET = "k" * 32
ROOM = 500
WRONG_CODES = 2000
OTHER_NETWORKS = 20


@pytest.fixture
def networks():
    """Loopback networks of our own: the counters (Redis) outlive a test run."""
    base = random.Random(secrets.randbits(32))
    second = base.randrange(1, 250)
    thirds = base.sample(range(1, 250), OTHER_NETWORKS + 1)
    return {"venue": f"127.{second}.{thirds[0]}.20", "others": [f"127.{second}.{t}.7" for t in thirds[1:]]}


def _phone(server, code: str, address: str) -> Visitor:
    return Visitor(server=server, code=code, http=new_http_client(address))


def _room(server, atelier, address: str) -> list[Visitor]:
    """ROOM participants who joined earlier (the join form is tested elsewhere):
    each phone holds its own session, as the join form leaves it."""
    phones = []
    for n in range(ROOM):
        participant = participation.join_atelier(atelier, name=f"Personne {n}", organisation="", role=Role.ENTREPRENEUR)
        session = SessionStore()
        session[access.session_key(atelier.pk)] = participant.pk
        session.create()
        phone = _phone(server, atelier.code, address)
        phone.http.cookies.set("sessionid", session.session_key)
        # The CSRF cookie a page of the board left (the secret is the form's token).
        phone.http.cookies.set("csrftoken", CSRF_SECRET)
        phones.append(phone)
    return phones


def _guess(server, address: str, codes: list[str]) -> list[int]:
    statuses = []
    with new_http_client(address) as http:
        for n, code in enumerate(codes):
            path = [f"/a/{code}/", f"/a/{code}/join/", f"/?code={code}"][n % 3]
            statuses.append(http.get(server.url + path).status_code)
    return statuses


def _act(phone: Visitor, target: int, n: int) -> list[int]:
    """Say « moi aussi », post: the statuses the phone got."""
    token = phone.http.cookies.get("csrftoken")
    me_too = phone.http.post(
        phone.url(f"/a/{phone.code}/impossibles/{target}/me-too/"), data={"csrfmiddlewaretoken": token, "state": "on"}
    )
    post = phone.http.post(
        phone.url(f"/a/{phone.code}/impossibles/"),
        data={
            "csrfmiddlewaretoken": token,
            "statement": f"Impossible de trouver un local n° {n}",
            "decision": "publish",  # past « Ça ressemble à… »
            "category": "foncier",
            "details": "",
            "submission_key": secrets.token_hex(8),
        },
    )
    return [me_too.status_code, post.status_code]


def test_a_guessing_attack_never_slows_the_room(daphne_server, live_atelier, networks):
    code = live_atelier.code
    room = _room(daphne_server, live_atelier, networks["venue"])
    try:
        first = room[0].post_impossible("Impossible de recruter des soudeurs")

        # The attack: a share of the wrong codes from the venue's own address.
        wrong = [f"Z{n:05d}" for n in range(WRONG_CODES)]
        sources = [networks["venue"], *networks["others"]]
        batches = {address: wrong[index :: len(sources)] for index, address in enumerate(sources)}
        with ThreadPoolExecutor(max_workers=8) as pool:
            attack = [pool.submit(_guess, daphne_server, address, codes) for address, codes in batches.items()]
            work = [pool.submit(_act, phone, first, n) for n, phone in enumerate(room)]
            room_statuses = [future.result() for future in work]
            attack_statuses = [status for future in attack for status in future.result()]

        assert all(statuses == [302, 302] for statuses in room_statuses), sorted(
            {tuple(statuses) for statuses in room_statuses}
        )
        assert MeToo.objects.filter(impossible_id=first).count() == ROOM
        assert Impossible.objects.filter(atelier=live_atelier).count() == ROOM + 1
        # The limiter did bite: every network ended refused.
        assert attack_statuses.count(429) >= WRONG_CODES - ratelimit.limit("join_guess").count * len(sources)

        # Once refused, a right code looks exactly like a wrong one.
        attacker = _phone(daphne_server, code, networks["others"][0])
        right, guess = (
            attacker.http.get(attacker.url(f"/a/{code}/join/")),
            attacker.http.get(attacker.url("/a/Z99999/join/")),
        )
        assert right.status_code == guess.status_code == 429

        # A newcomer at the venue who types the code is refused like the attacker...
        typist = _phone(daphne_server, code, networks["venue"])
        assert typist.http.get(typist.url(f"/a/{code}/join/")).status_code == 429
        # ...but one who scans the room's QR code still joins.
        newcomer = _phone(daphne_server, code, networks["venue"])
        # Its form posts to the page's own address, invitation included.
        invited = newcomer.url(f"/a/{code}/join/?invite={access.invitation(live_atelier)}")
        page = newcomer.http.get(invited)
        assert page.status_code == 200, page.text[:500]
        joined = newcomer.http.post(
            invited,
            data={"csrfmiddlewaretoken": servers.csrf_token_in(page.text), "name": "Nora", "role": "entrepreneur"},
        )
        assert joined.status_code == 302 and joined.headers["location"] == f"/a/{code}/"
        assert newcomer.get(f"/a/{code}/").status_code == 200
        assert Participant.objects.filter(atelier=live_atelier).count() == ROOM + 1

        # Those who run the site heard about it (once per window: see test_join_guessing).
        assert "join-code guessing:" in daphne_server.log_path.read_text()
    finally:
        for phone in room:
            phone.close()
