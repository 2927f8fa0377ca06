"""Rate limits: slow down scripts, never a real room.

Join-code guessing: only wrong codes count, per source network (/24, /64),
in ten-minute windows, and only look-ups by people who are not members
yet are ever refused (see "Join-code guessing" below). A room of 200 people
behind one venue NAT joins with the right code and never meets the limit; a
script trying codes does, long before it could find one (31^6 codes, a
handful of live ateliers).

Writes: posting impossibles and offering help are counted per participant
(a person never posts ten impossibles in ten minutes), joining per address
and atelier (with a ceiling a room of 500 behind one NAT never reaches) and
per browser session (one browser creating twenty participants in a minute is
a script). Each distinct submission counts once: a double tap or a retried
form carries the same submission key and is not a flood.

Counters live in the "ratelimit" cache (Redis when REDIS_URL is set, so every
process shares them). They are fixed windows and atomic: `cache.add` creates
the counter with its expiry, `cache.incr` bumps it, and the limit is checked
against the value the increment returned, so concurrent requests cannot
both take the last slot.

Facilitators' logins (the site's and the admin's) count wrong passwords
three ways. The hard block is per account AND source network (/24 in IPv4,
/64 in IPv6): a guesser is stopped after a few tries, and the real
facilitator, from any other network, still gets in. A network trying many
accounts is stopped too. From everywhere at once (a botnet), an account
gets a slower limit, which does not hold back a browser that logged in to
that account before (a signed "known browser" cookie): an attacker cannot
lock the facilitator out. Password resets are counted per e-mail address
and per network. Every block ends with its window.

WebSocket messages are limited per socket by a token bucket
(`MessageBucket`): a few messages a second with a burst. Real pages send a
ping every 25 seconds and a resync now and then.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import secrets
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from django_htmx.http import trigger_client_event
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int


# Overridden one by one with settings.RATE_LIMITS (CERVEAU_RATE_LIMITS),
# e.g. {"impossible": (10, 600)}.
DEFAULT_LIMITS = {
    # Per participant.
    "impossible": Limit(10, 600),
    "offer": Limit(20, 600),
    # Per client address and atelier: far above any room behind one NAT.
    "join_address": Limit(1000, 3600),
    # Per browser session, across ateliers.
    "join_session": Limit(20, 60),
    # Wrong join codes per network (/24, /64) before its look-ups by code are refused.
    "join_guess": Limit(60, 600),
    # Token buckets per participant: `count` at once, then `count` per `seconds`.
    # A person taps « moi aussi » a few times a second at most, and a few dozen
    # times in an evening; each tap is pushed to every phone in the room.
    "me_too": Limit(30, 60),
    "profile": Limit(6, 60),
    # Wrong passwords per account and source network: the hard block.
    "login_account_network": Limit(10, 900),
    # Wrong passwords per source network, whatever the account.
    "login_network": Limit(50, 900),
    # Wrong passwords per account from everywhere, but for known browsers.
    "login_account": Limit(100, 3600),
    # Password-reset requests per e-mail address, and per source network.
    "reset_address": Limit(3, 3600),
    "reset_network": Limit(20, 3600),
}
# Open sockets per participant (their phone and a few tabs): one count.
DEFAULT_SOCKETS = 8
# Per socket: (burst, messages per second).
DEFAULT_SOCKET_MESSAGES = (30, 2.0)

TOO_MANY_IMPOSSIBLES = _(
    "Vous avez publié beaucoup d'impossibles en peu de temps. Patientez quelques minutes avant d'en publier un autre."
)
TOO_MANY_OFFERS = _(
    "Vous avez proposé beaucoup d'aides en peu de temps. Patientez quelques minutes avant d'en proposer une autre."
)
TOO_MANY_LOGINS = _(
    "Trop de tentatives de connexion : par sécurité, ce compte est bloqué quelques minutes depuis ce réseau. "
    "Réessayez plus tard, ou choisissez un nouveau mot de passe (« Mot de passe oublié ? »)."
)
TOO_MANY_RESETS = _(
    "Trop de demandes de nouveau mot de passe depuis ce réseau ou pour cette adresse. Réessayez dans une heure."
)
TOO_MANY_JOINS = _("Trop d'inscriptions depuis ce réseau ou ce navigateur. Patientez quelques minutes et réessayez.")
TOO_MANY_ME_TOOS = _("Doucement : beaucoup de « moi aussi » en peu de temps. Patientez un instant et réessayez.")
TOO_MANY_PROFILE_EDITS = _("Votre profil a changé beaucoup de fois en peu de temps. Patientez un instant et réessayez.")


def limit(name: str) -> Limit:
    configured = settings.RATE_LIMITS.get(name)
    return Limit(*configured) if configured is not None else DEFAULT_LIMITS[name]


class _SharedOrLocal:
    """The shared counters, or this process's own while Redis is away: every
    participant's request looks its atelier up, and must not fail for that."""

    def _either(self, call):
        try:
            return call(caches["ratelimit"])
        except (RedisError, OSError):
            logger.warning("rate-limit counters unavailable: counting in this process meanwhile")
            return call(caches["default"])

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: self._either(lambda cache: getattr(cache, name)(*args, **kwargs))

    def count(self, key: str, seconds: int) -> int:
        """Add one to a counter that expires `seconds` after it was made; the new value."""
        return self._either(lambda cache: _count(cache, key, seconds))


def _count(cache, key: str, seconds: int) -> int:
    if (count := getattr(cache, "count", None)) is not None:
        return count(key, seconds)  # Redis, in one round trip (cerveau.caches)
    cache.add(key, 0, seconds)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, seconds)
        return 1


_counters = _SharedOrLocal()


def _window(seconds: int) -> int:
    return int(time.time() // seconds)


def _bump(key: str, seconds: int) -> int:
    """Add one to a counter that expires with its window; return the new value."""
    return _counters.count(key, seconds)


def _within(key: str, rule: Limit) -> bool:
    return _bump(f"{key}:{_window(rule.seconds)}", rule.seconds) <= rule.count


@dataclass(frozen=True)
class Refusal:
    """Why a write is refused, in the visitor's language, and for how long."""

    message: str
    retry_after: int  # seconds

    def respond(self, response: HttpResponse) -> HttpResponse:
        """The page with the message in its form, as a 429."""
        response.status_code = 429
        response["Retry-After"] = str(self.retry_after)
        return response

    def toast(self) -> HttpResponse:
        """For htmx: a 429 whose `cerveau:refused` event shows the message."""
        response = HttpResponse(self.message, content_type="text/plain; charset=utf-8")
        return self.respond(trigger_client_event(response, "cerveau:refused", {"message": self.message}))


def _refusal(message, rule: Limit) -> Refusal:
    return Refusal(str(message), max(1, int(rule.seconds - time.time() % rule.seconds)))


def _identity(instance) -> str:
    """A row's id plus its creation time: ids start again in a recreated
    database (a test run, a restored backup) while Redis keeps its counters."""
    created = getattr(instance, "created_at", None)
    return f"{instance.pk}.{int(created.timestamp() * 1_000_000)}" if created else str(instance.pk)


def _submission(kind: str, participant, submission_key: str, rule: Limit, message) -> Refusal | None:
    """Count one submission of a participant; None if allowed, else why not.

    The first request with a submission key claims it (`cache.add` is atomic):
    repeats of that key (a double tap, a retry, a form shown again with an
    error) are not counted again. A refused submission gives its key back, so
    retrying it is counted, and refused, again.
    """
    cache = _counters
    who = _identity(participant)
    claim = f"rl:{kind}:{who}:key:{_digest(submission_key)}"
    if not cache.add(claim, 1, rule.seconds):
        return None
    if _within(f"rl:{kind}:{who}", rule):
        return None
    cache.delete(claim)
    return _refusal(message, rule)


def impossible_refusal(participant, submission_key: str) -> Refusal | None:
    """Why this participant may not post this impossible now (None: go ahead)."""
    return _submission("impossible", participant, submission_key, limit("impossible"), TOO_MANY_IMPOSSIBLES)


def offer_refusal(participant, submission_key: str) -> Refusal | None:
    """Why this participant may not offer help now (None: go ahead)."""
    return _submission("offer", participant, submission_key, limit("offer"), TOO_MANY_OFFERS)


def me_too_refusal(participant) -> Refusal | None:
    """Why this participant may not say or withdraw « moi aussi » now (None: go ahead)."""
    return _bucket_refusal("me_too", participant, TOO_MANY_ME_TOOS)


def profile_refusal(participant) -> Refusal | None:
    """Why this participant may not change their profile now (None: go ahead)."""
    return _bucket_refusal("profile", participant, TOO_MANY_PROFILE_EDITS)


def sockets_per_participant() -> int:
    return int(settings.RATE_LIMITS.get("sockets", DEFAULT_SOCKETS))


def _bucket_refusal(name: str, participant, message) -> Refusal | None:
    rule = limit(name)
    per_second = rule.count / rule.seconds
    if _buckets.take(f"rl:{name}:{_identity(participant)}", rule.count, per_second):
        return None
    return Refusal(str(message), max(1, math.ceil(1 / per_second)))


class TokenBuckets:
    """Token buckets in the shared counters: `capacity` takes at once, then
    `per_second` on average. On Redis one script reads, refills and takes
    atomically (every process shares the bucket); in the embedded default,
    and while Redis is away, this process keeps its own under a lock."""

    SCRIPT = """
    local capacity, per_second, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
    local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
    local tokens = tonumber(state[1]) or capacity
    local stamp = tonumber(state[2]) or now
    tokens = math.min(capacity, tokens + math.max(0, now - stamp) * per_second)
    local taken = 0
    if tokens >= 1 then
      tokens = tokens - 1
      taken = 1
    end
    redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
    redis.call('EXPIRE', KEYS[1], math.ceil(capacity / per_second) + 1)
    return taken
    """

    def __init__(self, clock=time.time) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.local: dict[str, tuple[float, float]] = {}

    def take(self, key: str, capacity: float, per_second: float) -> bool:
        cache = caches["ratelimit"]
        if isinstance(cache, RedisCache):
            try:
                client = cache._cache.get_client(key, write=True)
                full_key = cache.make_and_validate_key(key)
                return bool(client.eval(self.SCRIPT, 1, full_key, capacity, per_second, self.clock()))
            except (RedisError, OSError):
                logger.warning("rate-limit counters unavailable: counting in this process meanwhile")
        return self._take_here(key, capacity, per_second)

    def _take_here(self, key: str, capacity: float, per_second: float) -> bool:
        now = self.clock()
        with self.lock:
            tokens, stamp = self.local.get(key, (capacity, now))
            tokens = min(capacity, tokens + max(0.0, now - stamp) * per_second)
            taken = tokens >= 1
            self.local[key] = (tokens - 1 if taken else tokens, now)
            if len(self.local) > 100_000:  # forget full buckets first: they hold no debt
                for stale in [k for k, (t, _s) in self.local.items() if t >= capacity]:
                    del self.local[stale]
            return taken


_buckets = TokenBuckets()


def join_refusal(request, atelier) -> Refusal | None:
    """Why this visitor may not join now (None: go ahead). Every valid join
    form counts, per address and atelier and per browser session."""
    by_address = limit("join_address")
    if not _within(f"rl:join:{_identity(atelier)}:ip:{client_address(request)}", by_address):
        return _refusal(TOO_MANY_JOINS, by_address)
    browser = request.session.get(BROWSER_KEY)
    by_session = limit("join_session")
    # A first visit has no session yet: the address limit covers it.
    if browser and not _within(f"rl:join:session:{_digest(browser)}", by_session):
        return _refusal(TOO_MANY_JOINS, by_session)
    return None


# The session key changes at every join (no session fixation), so a browser
# is known across its joins by an id its session carries.
BROWSER_KEY = "cerveau.browser"


def mark_browser(session) -> None:
    session.setdefault(BROWSER_KEY, secrets.token_urlsafe(16))


def _digest(value: str) -> str:
    # Short, fixed-length keys; session keys are credentials: never in the clear.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


# --- Join-code guessing -----------------------------------------------------------------------
#
# Only people who are not members yet look an atelier up by its code: a
# participant whose session already holds the atelier never meets this
# limiter, whatever others do from the same network. Wrong codes are counted
# per source prefix (a /24 in IPv4, a /64 in IPv6: what one household, venue
# or attacker usually holds), and a prefix over the limit is refused every
# look-up by code, right or wrong alike, so it learns nothing. There is no
# site-wide block one attacker could trigger for everyone: an abnormal
# site-wide rate is logged (once per window) for the people who run the site.
# Links and QR codes shown in the room carry an invitation (access.invitation)
# and are never refused: a newcomer at a venue whose address is guessing still
# gets in by scanning the code on the screen.

# Wrong codes per network, within a window that opens at its first wrong
# code (no calendar boundary for a script to straddle).
ALERT_SITEWIDE = 1000


def client_address(request) -> str:
    # Behind a reverse proxy, configure it to set REMOTE_ADDR (docs/deploy).
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def source_prefix(address: str) -> str:
    """The network a client address belongs to, as the guess counters see it."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    bits = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


def _network_key(request) -> str:
    return f"join-fail:net:{source_prefix(client_address(request))}"


def guessing_blocked(request) -> bool:
    """Has this visitor's network tried too many wrong codes lately?"""
    return (_counters.get(_network_key(request)) or 0) >= limit("join_guess").count


def guessing_retry_after() -> int:
    """Seconds a refused network waits at most."""
    return limit("join_guess").seconds


def record_wrong_code(request) -> None:
    rule = limit("join_guess")
    _bump(_network_key(request), rule.seconds)
    if _bump("join-fail:all", rule.seconds) >= ALERT_SITEWIDE and _counters.add("join-fail:alerted", 1, rule.seconds):
        prefix = source_prefix(client_address(request))
        logger.warning(
            "join-code guessing: %s wrong codes site-wide within %s minutes (latest from %s); "
            "networks past %s wrong codes are refused new look-ups, members and invitation links are not",
            ALERT_SITEWIDE,
            rule.seconds // 60,
            prefix,
            rule.count,
            extra={"event": "ratelimit.guessing", "prefix": prefix},
        )


# --- Facilitators' logins and password resets ------------------------------------------------

KNOWN_DEVICE_COOKIE = "cerveau_known"
KNOWN_DEVICE_SALT = "cerveau.known-browser"
KNOWN_DEVICE_SECONDS = 365 * 24 * 3600


def source_network(request) -> str:
    """The client's network: its /24 in IPv4, its /64 in IPv6 (one home,
    office or phone line), so that hopping between addresses of one
    network changes nothing."""
    address = client_address(request)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False))


def _account(username: str) -> str:
    # "Fanny", " fanny " and "FANNY" are one account to count.
    return _digest((username or "").strip().casefold())


def _login_keys(request, username: str) -> dict[str, str]:
    account, network = _account(username), source_network(request)
    return {
        "login_account_network": f"rl:login:{account}:net:{network}",
        "login_network": f"rl:login:net:{network}",
        "login_account": f"rl:login:{account}",
    }


def login_refusal(request, username: str) -> Refusal | None:
    """Why this login attempt is refused before the password is even checked
    (None: check it). Refused attempts do not count."""
    keys = _login_keys(request, username)
    if is_known_device(request, username):
        del keys["login_account"]
    windowed = {name: f"{key}:{_window(limit(name).seconds)}" for name, key in keys.items()}
    counts = _counters.get_many(list(windowed.values()))
    for name, key in windowed.items():
        if counts.get(key, 0) >= limit(name).count:
            return _refusal(TOO_MANY_LOGINS, limit(name))
    return None


def record_login_failure(request, username: str) -> None:
    for name, key in _login_keys(request, username).items():
        rule = limit(name)
        _bump(f"{key}:{_window(rule.seconds)}", rule.seconds)


def remember_device(response: HttpResponse, username: str) -> None:
    """Mark this browser as one that logged in to this account."""
    response.set_cookie(
        KNOWN_DEVICE_COOKIE,
        signing.dumps(_account(username), salt=KNOWN_DEVICE_SALT),
        max_age=KNOWN_DEVICE_SECONDS,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def is_known_device(request, username: str) -> bool:
    value = request.COOKIES.get(KNOWN_DEVICE_COOKIE, "")
    try:
        return signing.loads(value, salt=KNOWN_DEVICE_SALT, max_age=KNOWN_DEVICE_SECONDS) == _account(username)
    except signing.BadSignature:
        return False


def password_reset_refusal(request, email: str) -> Refusal | None:
    """Why this password-reset request is refused (None: send the e-mail).
    Every request counts, whether the address has an account or not."""
    for name, key in (
        ("reset_network", f"rl:reset:net:{source_network(request)}"),
        ("reset_address", f"rl:reset:{_account(email)}"),
    ):
        if not _within(key, limit(name)):
            return _refusal(TOO_MANY_RESETS, limit(name))
    return None


# --- WebSocket messages -----------------------------------------------------------------------


class MessageBucket:
    """A token bucket for one socket: `burst` messages at once, then
    `per_second` on average. Local to the socket's process, like the socket."""

    def __init__(self, burst: float | None = None, per_second: float | None = None, clock=time.monotonic) -> None:
        configured = settings.RATE_LIMITS.get("socket_messages", DEFAULT_SOCKET_MESSAGES)
        default_burst, default_rate = configured
        self.burst = float(default_burst if burst is None else burst)
        self.per_second = float(default_rate if per_second is None else per_second)
        self.clock = clock
        self.tokens = self.burst
        self.stamp = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
