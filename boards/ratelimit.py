"""Rate limits: slow down scripts, never a real room.

Join-code guessing: only failed look-ups count, per client address and for
the whole site, in fixed ten-minute windows. A room of 200 people behind one
venue NAT joins with the right code and never meets the limit; a script
trying codes does, long before it could find one (31^6 codes, a handful of
live ateliers).

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
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import caches
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from django_htmx.http import trigger_client_event
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 600
PER_ADDRESS = 60
SITEWIDE = 1000


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
# Per socket: (burst, messages per second).
DEFAULT_SOCKET_MESSAGES = (30, 2.0)

TOO_MANY_IMPOSSIBLES = _(
    "Vous avez publié beaucoup d'impossibles en peu de temps. Patientez quelques minutes avant d'en publier un autre."
)
TOO_MANY_OFFERS = _(
    "Vous avez proposé beaucoup d'aides en peu de temps. Patientez quelques minutes avant d'en proposer une autre."
)
TOO_MANY_LOGINS = _(
    "Trop de tentatives de connexion : par sécurité, ce compte est bloqué quelques minutes depuis ce réseau. "
    "Réessayez plus tard, ou choisissez un nouveau mot de passe (« Mot de passe oublié ? »)."
)
TOO_MANY_RESETS = _(
    "Trop de demandes de nouveau mot de passe depuis ce réseau ou pour cette adresse. Réessayez dans une heure."
)
TOO_MANY_JOINS = _("Trop d'inscriptions depuis ce réseau ou ce navigateur. Patientez quelques minutes et réessayez.")


def limit(name: str) -> Limit:
    configured = settings.RATE_LIMITS.get(name)
    return Limit(*configured) if configured is not None else DEFAULT_LIMITS[name]


class _SharedOrLocal:
    """The shared counters, or this process's own while Redis is away: every
    participant's request looks its atelier up, and must not fail for that."""

    def __getattr__(self, name: str):
        def call(*args, **kwargs):
            try:
                return getattr(caches["ratelimit"], name)(*args, **kwargs)
            except (RedisError, OSError):
                logger.warning("rate-limit counters unavailable: counting in this process meanwhile")
                return getattr(caches["default"], name)(*args, **kwargs)

        return call


_counters = _SharedOrLocal()


def _window(seconds: int) -> int:
    return int(time.time() // seconds)


def _bump(key: str, seconds: int) -> int:
    """Add one to a counter that expires with its window; return the new value."""
    cache = _counters
    cache.add(key, 0, seconds)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, seconds)
        return 1


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


def join_refusal(request, atelier) -> Refusal | None:
    """Why this visitor may not join now (None: go ahead). Every valid join
    form counts, per address and atelier and per browser session."""
    by_address = limit("join_address")
    if not _within(f"rl:join:{_identity(atelier)}:ip:{client_address(request)}", by_address):
        return _refusal(TOO_MANY_JOINS, by_address)
    session_key = request.session.session_key
    by_session = limit("join_session")
    # A first visit has no session yet: the address limit covers it.
    if session_key and not _within(f"rl:join:session:{_digest(session_key)}", by_session):
        return _refusal(TOO_MANY_JOINS, by_session)
    return None


def _digest(value: str) -> str:
    # Short, fixed-length keys; session keys are credentials: never in the clear.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


# --- Join-code guessing -----------------------------------------------------------------------


def _keys(address: str) -> tuple[str, str]:
    window = _window(WINDOW_SECONDS)
    return f"join-fail:{window}:ip:{address}", f"join-fail:{window}:all"


def client_address(request) -> str:
    # Behind a reverse proxy, configure it to set REMOTE_ADDR (docs/deploy).
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def is_limited(request) -> bool:
    address_key, site_key = _keys(client_address(request))
    counts = _counters.get_many([address_key, site_key])
    return counts.get(address_key, 0) >= PER_ADDRESS or counts.get(site_key, 0) >= SITEWIDE


def record_failure(request) -> None:
    for key in _keys(client_address(request)):
        _bump(key, WINDOW_SECONDS)


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
