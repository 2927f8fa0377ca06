"""Rate limits on joining, posting and offering help.

A script flooding an atelier is stopped with a French message (429, in the
form, or a `cerveau:refused` toast over htmx) and writes nothing beyond the
limit; a real room of 500 phones behind one venue NAT is never refused.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import Counter

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.db import connections
from django.test import Client
from django.utils.html import escape

from boards import ratelimit
from boards.access import session_key
from boards.models import Atelier, HelpKind, HelpOffer, Impossible, MeToo, Participant, Role
from boards.services import participation
from tests.conftest import post_impossible

HTMX = {"HTTP_HX_REQUEST": "true"}
IMPOSSIBLES, OFFERS = ratelimit.DEFAULT_LIMITS["impossible"], ratelimit.DEFAULT_LIMITS["offer"]
TOO_MANY_IMPOSSIBLES = str(ratelimit.TOO_MANY_IMPOSSIBLES)
TOO_MANY_OFFERS = str(ratelimit.TOO_MANY_OFFERS)
TOO_MANY_JOINS = str(ratelimit.TOO_MANY_JOINS)


# --- Helpers ------------------------------------------------------------------------------------


def _key() -> str:
    return secrets.token_urlsafe(12)


def post(client: Client, code: str = "TST234", key: str | None = None, statement: str = "", **headers):
    data = {
        "statement": statement or f"Impossible de recruter des soudeurs n° {secrets.token_hex(3)}",
        "category": "recrutement",
        "details": "",
        "submission_key": key or _key(),
        "decision": "publish",  # past « Ça ressemble à… »: the limits are what is tested
    }
    return client.post(f"/a/{code}/impossibles/", data, **headers)


def offer(client: Client, impossible: Impossible, key: str | None = None, **headers):
    data = {
        "kind": HelpKind.EXPERTISE,
        "message": "Je connais un soudeur retraité",
        "contact": "",
        "submission_key": key or _key(),
    }
    code = impossible.atelier.code
    return client.post(f"/a/{code}/impossibles/{impossible.pk}/offers/", data, **headers)


def join(client: Client, code: str = "TST234", name: str = "Dominique", **headers):
    data = {"name": name, "organisation": "Forges de Cognac", "role": Role.PEER}
    return client.post(f"/a/{code}/join/", data, **headers)


def rows() -> dict[str, int]:
    return {
        "participants": Participant.objects.count(),
        "impossibles": Impossible.objects.count(),
        "offers": HelpOffer.objects.count(),
        "versions": sum(Atelier.objects.values_list("version", flat=True)),
    }


def assert_refused_in_the_form(response, message: str) -> None:
    assert response.status_code == 429, response.status_code
    assert int(response["Retry-After"]) > 0
    html = response.content.decode()
    assert escape(message) in html
    # In the form's error list, where the person looks.
    assert '<ul class="errors errors-form" role="alert">' in html


def assert_refused_with_a_toast(response, message: str) -> None:
    assert response.status_code == 429, response.status_code
    assert int(response["Retry-After"]) > 0
    assert json.loads(response["HX-Trigger"]) == {"cerveau:refused": {"message": message}}
    assert response.content.decode() == message


@pytest.fixture
def impossible(alice):
    return post_impossible(alice.participant, "Impossible de trouver un local de stockage")


# --- Posting impossibles ------------------------------------------------------------------------


def test_a_flood_of_impossibles_is_stopped_at_the_limit_with_a_french_message(alice, events):
    answers = Counter(post(alice).status_code for _ in range(IMPOSSIBLES.count))
    assert answers == {302: IMPOSSIBLES.count}
    before, published = rows(), len(events)

    for _ in range(30):
        assert_refused_in_the_form(post(alice), TOO_MANY_IMPOSSIBLES)

    assert rows() == before
    assert len(events) == published
    assert Impossible.objects.filter(author=alice.participant).count() == IMPOSSIBLES.count


def test_the_refusal_keeps_what_was_typed(alice):
    for _ in range(IMPOSSIBLES.count):
        post(alice)
    response = post(alice, statement="Impossible de trouver un apprenti chaudronnier")
    assert_refused_in_the_form(response, TOO_MANY_IMPOSSIBLES)
    assert "Impossible de trouver un apprenti chaudronnier</textarea>" in response.content.decode()


def test_over_htmx_the_refusal_is_a_toast(alice):
    for _ in range(IMPOSSIBLES.count):
        assert post(alice, **HTMX).status_code == 200
    before = rows()

    assert_refused_with_a_toast(post(alice, **HTMX), TOO_MANY_IMPOSSIBLES)
    assert rows() == before


def test_a_double_tap_is_not_a_flood(alice):
    key = _key()
    for _ in range(3 * IMPOSSIBLES.count):
        assert post(alice, key=key).status_code == 302
    assert Impossible.objects.filter(author=alice.participant).count() == 1

    # The repeats did not use up the allowance: the rest of it is still there.
    answers = [post(alice).status_code for _ in range(IMPOSSIBLES.count)]
    assert answers == [302] * (IMPOSSIBLES.count - 1) + [429]


def test_a_refused_submission_is_still_refused_when_retried(alice):
    for _ in range(IMPOSSIBLES.count):
        post(alice)
    key = _key()
    before = rows()
    for _ in range(5):
        assert post(alice, key=key).status_code == 429
    assert rows() == before


def test_forms_with_errors_do_not_count(alice):
    for _ in range(30):
        response = alice.post("/a/TST234/impossibles/", {"statement": "", "category": "recrutement"})
        assert response.status_code == 422
    assert [post(alice).status_code for _ in range(IMPOSSIBLES.count)] == [302] * IMPOSSIBLES.count


def test_one_participant_at_the_limit_does_not_stop_the_others(alice, bob):
    for _ in range(IMPOSSIBLES.count + 3):
        post(alice)
    assert post(bob).status_code == 302
    assert post(alice).status_code == 429


def test_the_limit_is_per_atelier(alice, atelier, other_atelier):
    for _ in range(IMPOSSIBLES.count + 1):
        post(alice)
    # The same phone joins another atelier: a new participant, a fresh allowance.
    assert join(alice, other_atelier.code).status_code == 302
    assert post(alice, other_atelier.code).status_code == 302
    assert post(alice).status_code == 429


def test_the_window_ends(alice, monkeypatch):
    for _ in range(IMPOSSIBLES.count):
        post(alice)
    assert post(alice).status_code == 429
    this_window = ratelimit._window
    monkeypatch.setattr(ratelimit, "_window", lambda seconds: this_window(seconds) + 1)
    assert post(alice).status_code == 302


def test_the_numbers_are_settings(alice, settings):
    settings.RATE_LIMITS = {"impossible": (2, 60)}
    assert [post(alice).status_code for _ in range(3)] == [302, 302, 429]


# --- Offering help ------------------------------------------------------------------------------


def test_a_flood_of_offers_is_stopped_at_the_limit_with_a_french_message(bob, impossible, events):
    for _ in range(OFFERS.count):
        assert offer(bob, impossible).status_code == 302
    before, published = rows(), len(events)

    for _ in range(30):
        assert_refused_in_the_form(offer(bob, impossible), TOO_MANY_OFFERS)
    assert_refused_with_a_toast(offer(bob, impossible, **HTMX), TOO_MANY_OFFERS)

    assert rows() == before
    assert len(events) == published
    assert Impossible.objects.get(pk=impossible.pk).offer_count == OFFERS.count


def test_a_repeated_offer_counts_once(bob, impossible):
    key = _key()
    for _ in range(2 * OFFERS.count):
        assert offer(bob, impossible, key=key).status_code == 302
    assert HelpOffer.objects.filter(author=bob.participant).count() == 1
    assert [offer(bob, impossible).status_code for _ in range(OFFERS.count - 1)] == [302] * (OFFERS.count - 1)
    assert offer(bob, impossible).status_code == 429


def test_posting_and_offering_are_counted_apart(alice, impossible):
    for _ in range(IMPOSSIBLES.count):
        post(alice)
    assert post(alice).status_code == 429
    assert offer(alice, impossible).status_code == 302


# --- Joining ------------------------------------------------------------------------------------


def test_a_room_of_500_behind_one_address_is_never_refused(atelier, other_atelier):
    """One venue NAT: every phone has the same address. Each joins and posts
    an impossible; one in five also offers help."""
    statuses: Counter = Counter()
    previous = post_impossible(participation.join_atelier(atelier, name="Animation", organisation="", role=Role.OTHER))
    phone = Client(REMOTE_ADDR="192.0.2.10")
    for n in range(500):
        phone.cookies.clear()  # the next phone: no cookie yet
        statuses[("join", join(phone, name=f"Personne {n}").status_code)] += 1
        statuses[("post", post(phone).status_code)] += 1
        if n % 5 == 0:
            statuses[("offer", offer(phone, previous).status_code)] += 1
            previous = Impossible.objects.filter(atelier=atelier).latest("pk")
    assert statuses == {("join", 302): 500, ("post", 302): 500, ("offer", 302): 100}
    assert Participant.objects.filter(atelier=atelier).count() == 501
    # The next room, behind the same NAT, joins its own atelier freely.
    assert join(Client(REMOTE_ADDR="192.0.2.10"), other_atelier.code).status_code == 302


def test_a_script_joining_over_and_over_from_one_address_is_stopped(atelier, other_atelier, settings):
    settings.RATE_LIMITS = {"join_address": (5, 3600)}
    statuses = [join(Client(REMOTE_ADDR="203.0.113.7"), name=f"Bot {n}").status_code for n in range(8)]
    assert statuses == [302] * 5 + [429] * 3
    assert Participant.objects.filter(atelier=atelier).count() == 5
    assert_refused_in_the_form(join(Client(REMOTE_ADDR="203.0.113.7")), TOO_MANY_JOINS)
    # Per atelier, and per address.
    assert join(Client(REMOTE_ADDR="203.0.113.7"), other_atelier.code).status_code == 302
    assert join(Client(REMOTE_ADDR="203.0.113.8")).status_code == 302


def test_one_browser_creating_participant_after_participant_is_stopped(atelier):
    """A script keeping its cookie and forgetting each participant it made."""
    browser = Client()
    by_session = ratelimit.DEFAULT_LIMITS["join_session"]
    statuses = []
    for n in range(by_session.count + 5):
        statuses.append(join(browser, name=f"Bot {n}").status_code)
        session = browser.session
        session.pop(session_key(atelier.pk), None)
        session.save()
    # The first join has no session yet: the address limit covers it.
    assert statuses == [302] * (by_session.count + 1) + [429] * 4
    assert Participant.objects.filter(atelier=atelier).count() == by_session.count + 1
    assert_refused_in_the_form(join(browser), TOO_MANY_JOINS)


def test_joining_many_ateliers_from_one_phone_is_fine(db):
    browser = Client()
    codes = [Atelier.objects.create(title=f"Atelier {n}", code=f"ATL{n:03d}").code for n in range(10)]
    assert [join(browser, code).status_code for code in codes] == [302] * 10


def test_an_invalid_join_form_does_not_count(atelier, settings):
    settings.RATE_LIMITS = {"join_address": (2, 3600)}
    for _ in range(10):
        assert Client().post("/a/TST234/join/", {"name": "", "role": Role.PEER}).status_code == 422
    assert join(Client()).status_code == 302


# --- Shared counters ----------------------------------------------------------------------------


@pytest.fixture(params=["locmem", "redis"])
def shared_cache(request, settings):
    """The ratelimit cache every process would share: Redis when the run has it."""
    if request.param == "redis":
        url = django_settings.REDIS_URL
        if not url:
            pytest.skip("REDIS_URL is unset (scripts/test.sh runs this with Redis)")
        caches = dict(settings.CACHES)
        caches["ratelimit"] = {
            "BACKEND": "cerveau.caches.SharedPoolRedisCache",
            "LOCATION": url,
            "KEY_PREFIX": f"test-ratelimit-{secrets.token_hex(6)}",
        }
        settings.CACHES = caches
    return request.param


def test_requests_in_new_threads_share_one_connection_to_redis(shared_cache):
    """Under ASGI each request runs in a new thread, with a cache backend of
    its own: they must not each open a connection (cerveau/caches.py)."""
    if shared_cache != "redis":
        pytest.skip("Redis only")
    pools = []

    def one_request() -> None:
        caches["ratelimit"].add("probe", 0, 60)
        caches["ratelimit"].incr("probe")
        pools.append(caches["ratelimit"]._cache._get_connection_pool(write=True))

    created = []
    for _ in range(20):
        thread = threading.Thread(target=one_request)
        thread.start()
        thread.join(timeout=30)
        created.append(pools[-1]._created_connections)

    assert len(pools) == 20 and all(pool is pools[0] for pool in pools)
    # One after another, they all reuse the connection the first one opened.
    assert created == [created[0]] * 20
    assert caches["ratelimit"].get("probe") == 20


def test_a_counter_is_exact_from_many_threads_and_expires_with_its_window(shared_cache):
    """Every write looks at its counters: on Redis in one round trip each
    (cerveau.caches.SharedPoolRedisCache.count), made with their window's
    expiry, and read back like Django's own counters."""
    key = f"rl:test:{secrets.token_hex(4)}"
    counted = []

    def tap() -> None:
        for _ in range(10):
            counted.append(ratelimit._bump(key, 60))

    threads = [threading.Thread(target=tap) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(counted) == list(range(1, 81))
    assert caches["ratelimit"].get(key) == 80
    if shared_cache == "redis":
        cache = caches["ratelimit"]
        redis_key = cache.make_and_validate_key(key)
        assert 0 < cache._cache.get_client(redis_key).ttl(redis_key) <= 60


def test_while_the_shared_counters_are_away_this_process_counts_alone(monkeypatch, caplog):
    from redis.exceptions import ConnectionError as RedisConnectionError

    class Away:
        def __getattr__(self, name):
            def refuse(*args, **kwargs):
                raise RedisConnectionError("Redis went away")

            return refuse

    monkeypatch.setattr(ratelimit, "caches", {"ratelimit": Away(), "default": caches["default"]})
    key = f"rl:test:{secrets.token_hex(4)}"
    assert [ratelimit._bump(key, 60) for _ in range(3)] == [1, 2, 3]
    assert caches["default"].get(key) == 3
    assert "rate-limit counters unavailable" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_cannot_all_take_the_last_slots(shared_cache, atelier):
    """Thirty posts at once from one participant: exactly the limit gets in."""
    alice_client = Client()
    assert join(alice_client, name="Alice").status_code == 302
    statuses: list[int] = []
    barrier = threading.Barrier(30)

    def one_post() -> None:
        phone = Client()
        phone.cookies = alice_client.cookies
        barrier.wait()
        try:
            statuses.append(post(phone).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one_post) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert Counter(statuses) == {302: IMPOSSIBLES.count, 429: 30 - IMPOSSIBLES.count}
    assert Impossible.objects.count() == IMPOSSIBLES.count


# --- Configured from the environment ----------------------------------------------------------


def test_the_environment_replaces_limits_one_by_one(monkeypatch):
    from cerveau.settings import env_rate_limits

    monkeypatch.setenv("CERVEAU_RATE_LIMITS", "impossible=30/600, socket_messages=10/0.5")
    assert env_rate_limits("CERVEAU_RATE_LIMITS") == {"impossible": (30, 600), "socket_messages": (10.0, 0.5)}
    monkeypatch.delenv("CERVEAU_RATE_LIMITS")
    assert env_rate_limits("CERVEAU_RATE_LIMITS") == {}


@pytest.mark.parametrize("raw", ["impossibles=30/600", "impossible=30", "impossible=trente/600", "offer=0/600"])
def test_a_mistyped_limit_stops_the_start(monkeypatch, raw):
    from django.core.exceptions import ImproperlyConfigured

    from cerveau.settings import env_rate_limits

    monkeypatch.setenv("CERVEAU_RATE_LIMITS", raw)
    with pytest.raises(ImproperlyConfigured, match="name=count/seconds"):
        env_rate_limits("CERVEAU_RATE_LIMITS")


def test_a_configured_limit_applies(settings):
    settings.RATE_LIMITS = {"impossible": (30, 600)}
    assert ratelimit.limit("impossible") == ratelimit.Limit(30, 600)
    assert ratelimit.limit("offer") == OFFERS


@pytest.mark.parametrize("raw", ["sockets=0", "sockets=beaucoup", "sockets=-2"])
def test_a_mistyped_socket_limit_stops_the_start(monkeypatch, raw):
    from django.core.exceptions import ImproperlyConfigured

    from cerveau.settings import env_rate_limits

    monkeypatch.setenv("CERVEAU_RATE_LIMITS", raw)
    with pytest.raises(ImproperlyConfigured, match="sockets="):
        env_rate_limits("CERVEAU_RATE_LIMITS")


def test_me_too_profile_and_socket_limits_come_from_the_environment(monkeypatch):
    from cerveau.settings import env_rate_limits

    monkeypatch.setenv("CERVEAU_RATE_LIMITS", "me_too=60/30,profile=3/60,sockets=4")
    assert env_rate_limits("CERVEAU_RATE_LIMITS") == {"me_too": (60, 30), "profile": (3, 60), "sockets": 4}


# --- « Moi aussi » and profile edits: token buckets per participant ----------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(ratelimit, "_buckets", ratelimit.TokenBuckets(clock=fake))
    return fake


def me_too(client: Client, impossible: Impossible, on: bool, **headers):
    code = impossible.atelier.code
    return client.post(f"/a/{code}/impossibles/{impossible.pk}/me-too/", {"state": "on" if on else "off"}, **headers)


def test_a_flood_of_me_too_is_stopped_and_nothing_more_is_pushed(
    shared_cache, clock, alice, impossible, events, django_capture_on_commit_callbacks
):
    burst = ratelimit.limit("me_too").count
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [me_too(alice, impossible, on=n % 2 == 0, **HTMX).status_code for n in range(burst + 20)]

    assert statuses == [204] * burst + [429] * 20
    assert len(events) == burst
    refused = me_too(alice, impossible, on=True, **HTMX)
    assert_refused_with_a_toast(refused, str(ratelimit.TOO_MANY_ME_TOOS))


def test_a_real_person_s_pace_of_me_too_is_never_refused(
    shared_cache, clock, alice, atelier, events, django_capture_on_commit_callbacks
):
    impossibles = [post_impossible(alice.participant, f"Impossible n° {n}") for n in range(40)]
    # Forty cards, one tap every two seconds, then taking some back: an evening's pace.
    with django_capture_on_commit_callbacks(execute=True):
        for n, impossible in enumerate(impossibles + impossibles[:20]):
            clock.now += 2
            assert me_too(alice, impossible, on=n < 40, **HTMX).status_code == 204
    assert len(events) == 60


def test_the_me_too_bucket_refills(shared_cache, clock, alice, impossible):
    rule = ratelimit.limit("me_too")
    for n in range(rule.count):
        assert me_too(alice, impossible, on=n % 2 == 0, **HTMX).status_code == 204
    assert me_too(alice, impossible, on=True, **HTMX).status_code == 429

    clock.now += rule.seconds / rule.count  # one token back

    assert me_too(alice, impossible, on=True, **HTMX).status_code == 204
    assert me_too(alice, impossible, on=False, **HTMX).status_code == 429


def test_one_participant_s_flood_does_not_stop_the_others(shared_cache, clock, alice, bob, impossible):
    for n in range(ratelimit.limit("me_too").count + 5):
        me_too(alice, impossible, on=n % 2 == 0, **HTMX)

    assert me_too(bob, impossible, on=True, **HTMX).status_code == 204
    assert MeToo.objects.filter(participant=bob.participant).count() == 1


def test_without_javascript_the_me_too_refusal_shows_on_the_board(clock, alice, impossible):
    for n in range(ratelimit.limit("me_too").count):
        me_too(alice, impossible, on=n % 2 == 0)

    response = me_too(alice, impossible, on=True)

    assert response.status_code == 429
    assert escape(str(ratelimit.TOO_MANY_ME_TOOS)) in response.content.decode()
    assert impossible.statement in response.content.decode()


def test_a_flood_of_profile_edits_is_stopped_in_the_form(
    shared_cache, clock, alice, events, django_capture_on_commit_callbacks
):
    rule = ratelimit.limit("profile")
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(rule.count):
            data = {"name": f"Alice {n}", "organisation": "", "role": Role.ENTREPRENEUR}
            assert alice.post("/a/TST234/me/", data).status_code == 302

    response = alice.post("/a/TST234/me/", {"name": "Alice encore", "organisation": "", "role": Role.ENTREPRENEUR})

    assert_refused_in_the_form(response, str(ratelimit.TOO_MANY_PROFILE_EDITS))
    assert Participant.objects.get(pk=alice.participant.pk).name == f"Alice {rule.count - 1}"
    assert len(events) == rule.count
