"""Settings for Cerveau collectif.

Every value that differs between a laptop and production is read from the
environment (listed in the README). The defaults need no server at all:
SQLite on disk and the in-memory channel layer.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = env_str(name)
    if not raw:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = env_str(name)
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and not env_bool("CERVEAU_INSECURE_DEFAULTS", default=False):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off "
            "(set CERVEAU_INSECURE_DEFAULTS=1 for local test runs)."
        )
    # The "django-insecure-" prefix makes `check --deploy` refuse it.
    SECRET_KEY = "django-insecure-local-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# The address phones use to join (QR codes, posters); defaults to the request's.
PUBLIC_URL = env_str("CERVEAU_PUBLIC_URL")
# Served over HTTPS (by daphne itself or behind a proxy): the default for
# secure cookies, the redirect to HTTPS and HSTS (see "Security headers").
HTTPS = env_bool("DJANGO_HTTPS", default=False)

INSTALLED_APPS = [
    # daphne first: it replaces runserver with an ASGI server that speaks WebSocket.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    "boards",
]

MIDDLEWARE = [
    # Outermost: every answer, whoever made it, says it is this site's.
    "boards.middleware.AnswerMarkMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so static files carry the same headers as pages.
    "cerveau.middleware.ContentSecurityPolicyMiddleware",
    "cerveau.middleware.PermissionsPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "boards.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "cerveau.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ASGI_APPLICATION = "cerveau.asgi.application"
WSGI_APPLICATION = None

# --- Database -------------------------------------------------------------
# SQLite by default. WAL lets readers run beside the writer; IMMEDIATE makes
# every write transaction take the write lock up front, so concurrent writers
# queue (busy timeout) instead of failing with "database is locked" on
# upgrade. Board reads begin DEFERRED instead (boards/reads.py): no lock.
# Closed connections are kept for the next request (cerveau/backends/sqlite3).
SQLITE_PATH = Path(env_str("CERVEAU_SQLITE_PATH") or BASE_DIR / "db.sqlite3")
DATABASE_URL = env_str("DATABASE_URL")
# Test databases are named per test process, so two test runs on one machine
# never share (and delete) each other's database.
TEST_DB_SUFFIX = str(os.getpid())


def env_positive_int(name: str, default: int) -> int:
    value = env_int(name, default)
    if value < 1:
        raise ImproperlyConfigured(f"{name} must be a whole number above 0, got {value}")
    return value


# In a daphne process every HTTP request runs its database work on a thread
# of its own (cerveau/handler.py), holding a pooled connection until it
# ends, and all the sockets share one more thread (Channels): the pool's size
# is how many requests query at once, the rest wait for a connection up to the
# pool timeout (then 503). One event loop and one interpreter lock per
# process: past about 10 the requests only take turns. Processes × this size
# must stay under PostgreSQL's max_connections, or PgBouncer's
# max_client_conn (docs/deploy.md, "Many ateliers at once").
DB_POOL_SIZE = env_positive_int("CERVEAU_DB_POOL_SIZE", 20)
DB_POOL_TIMEOUT = env_positive_int("CERVEAU_DB_POOL_TIMEOUT", 30)
DB_CONNECT_TIMEOUT = env_positive_int("CERVEAU_DB_CONNECT_TIMEOUT", 5)
# DATABASE_URL points at PgBouncer in transaction mode: each transaction may
# run on another server connection, so nothing may outlive one. Server-side
# cursors (QuerySet.iterator()) do, hence off; prepared statements do too,
# and Django's psycopg 3 backend already turns them off.
DB_PGBOUNCER = env_bool("CERVEAU_DB_PGBOUNCER", default=False)
if DATABASE_URL:
    if not DATABASE_URL.startswith(("postgres://", "postgresql://", "pgsql://")):
        raise ImproperlyConfigured(
            f"DATABASE_URL must be a postgres:// URL (unset: SQLite), got {DATABASE_URL.split(':', 1)[0]!r}"
        )
    # A pool per process: a room tapping at once shares a few connections
    # instead of opening one per request thread.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)}
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, DB_POOL_SIZE),
        "max_size": DB_POOL_SIZE,
        # Long enough for a room all tapping at once to queue for a
        # connection; a lost database answers 503 once it is over.
        "timeout": DB_POOL_TIMEOUT,
    }
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = DB_PGBOUNCER
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{TEST_DB_SUFFIX}"}
    # A database that went away must fail a request quickly (and clearly),
    # not hang it: the next request reconnects.
    DATABASES["default"]["OPTIONS"]["connect_timeout"] = DB_CONNECT_TIMEOUT
elif DB_PGBOUNCER:
    raise ImproperlyConfigured("CERVEAU_DB_PGBOUNCER needs DATABASE_URL (PgBouncer's address)")
else:
    DATABASES = {
        "default": {
            "ENGINE": "cerveau.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA busy_timeout=20000;"
                    "PRAGMA foreign_keys=ON;"
                ),
            },
            # Consumers close connections between messages: an in-memory
            # test database would vanish with them, so tests use a file too.
            "TEST": {"NAME": str(BASE_DIR / f"test-db-{TEST_DB_SUFFIX}.sqlite3")},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer --------------------------------------------------------
REDIS_SCHEMES = ("redis", "rediss", "unix")


def redis_url(name: str, url: str) -> str:
    """One Redis URL, as redis-py reads it: refuse what it would misread."""
    parsed = urlparse(url)
    if parsed.scheme not in REDIS_SCHEMES or not (parsed.netloc or parsed.path):
        raise ImproperlyConfigured(f"{name}: {url!r} is not a redis://, rediss:// or unix:// URL")
    try:
        parsed.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: {url!r} has a port that is not a number") from None
    return url


def redis_urls(name: str, default: list[str]) -> list[str]:
    urls = [redis_url(name, url) for url in env_list(name, default)]
    if len(set(urls)) != len(urls):
        raise ImproperlyConfigured(f"{name} lists a Redis server twice")
    return urls


# host:port, host (port 26379, Sentinel's own) or [IPv6]:port.
SENTINEL_ADDRESS = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+))(?::(?P<port>[0-9]{1,5}))?")


def env_sentinels(name: str) -> list[tuple[str, int]]:
    """Redis Sentinels' addresses, comma-separated."""
    sentinels = []
    for item in env_list(name, []):
        match = SENTINEL_ADDRESS.fullmatch(item)
        port = int(match["port"] or 26379) if match else 0
        if not match or not 0 < port < 65536:
            raise ImproperlyConfigured(f"{name}: {item!r} must be host:port (e.g. 10.0.0.5:26379)")
        sentinels.append((match["ipv6"] or match["host"], port))
    return sentinels


REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    if "," in REDIS_URL:
        raise ImproperlyConfigured(
            "REDIS_URL names one Redis server; list the channel layer's shards in CERVEAU_CHANNEL_REDIS_URLS"
        )
    redis_url("REDIS_URL", REDIS_URL)
# "pubsub" publishes each push once per group and each process fans it out
# to its own sockets; "core" stores one copy per socket in Redis (per-channel
# capacity, at-least-once within expiry). Pushes are small and versioned and
# clients resync, so pubsub's at-most-once delivery costs nothing here, and it
# is what lets one push reach 2,000 phones (docs/benchmarks.md).
CHANNEL_LAYER_KIND = env_str("CERVEAU_CHANNEL_LAYER", "pubsub")
if CHANNEL_LAYER_KIND not in {"pubsub", "core"}:
    raise ImproperlyConfigured("CERVEAU_CHANNEL_LAYER must be 'pubsub' or 'core'")
# Redis Sentinel: the channel layer asks these Sentinels where each named
# primary is, and asks again after a failover. Several primaries shard the
# layer like several URLs do. (channels-redis has no Redis Cluster support:
# its pub/sub and Lua scripts need every key of a call on one node.)
REDIS_SENTINELS = env_sentinels("CERVEAU_REDIS_SENTINELS")
REDIS_SENTINEL_MASTERS = env_list("CERVEAU_REDIS_SENTINEL_MASTERS", [])
if bool(REDIS_SENTINELS) != bool(REDIS_SENTINEL_MASTERS):
    raise ImproperlyConfigured(
        "CERVEAU_REDIS_SENTINELS and CERVEAU_REDIS_SENTINEL_MASTERS go together: "
        "the Sentinels' addresses and the names of the primaries they watch"
    )
for master in REDIS_SENTINEL_MASTERS:
    if not re.fullmatch(r"[A-Za-z0-9._-]+", master):
        raise ImproperlyConfigured(f"CERVEAU_REDIS_SENTINEL_MASTERS: {master!r} is not a primary's name")
if len(set(REDIS_SENTINEL_MASTERS)) != len(REDIS_SENTINEL_MASTERS):
    raise ImproperlyConfigured("CERVEAU_REDIS_SENTINEL_MASTERS lists a primary twice")
if REDIS_SENTINELS and env_str("CERVEAU_CHANNEL_REDIS_URLS"):
    raise ImproperlyConfigured(
        "CERVEAU_CHANNEL_REDIS_URLS and CERVEAU_REDIS_SENTINELS both name the channel layer's servers: set one"
    )
# Several Redis servers share the channel layer's load: each group (one
# atelier) and each socket's channel lives on one of them, chosen by a hash of
# its name, so every process must list them in the same order.
CHANNEL_REDIS_URLS = (
    [] if REDIS_SENTINELS else redis_urls("CERVEAU_CHANNEL_REDIS_URLS", [REDIS_URL] if REDIS_URL else [])
)
# Names in Redis (channels, groups, counters) start with this: several sites,
# or several test runs, can share one Redis server. Pub/sub channels ignore
# the URL's database number, so a prefix is the only separation they have.
REDIS_PREFIX = env_str("CERVEAU_REDIS_PREFIX")
# redis-py's pool refuses connections past its size ("Too many connections")
# when a whole room connects at once: size it for that.
REDIS_MAX_CONNECTIONS = env_positive_int("CERVEAU_REDIS_MAX_CONNECTIONS", 1000)
redis_hosts: list[dict] = [{"address": url, "max_connections": REDIS_MAX_CONNECTIONS} for url in CHANNEL_REDIS_URLS]
# The primaries' password (requirepass), and the Sentinels' own, if they have one.
primary_password = env_str("CERVEAU_REDIS_SENTINEL_MASTER_PASSWORD")
sentinel_password = env_str("CERVEAU_REDIS_SENTINEL_PASSWORD")
for master in REDIS_SENTINEL_MASTERS:
    redis_hosts.append(
        {
            "sentinels": REDIS_SENTINELS,
            "master_name": master,
            "sentinel_kwargs": {"password": sentinel_password} if sentinel_password else None,
            "max_connections": REDIS_MAX_CONNECTIONS,
            **({"password": primary_password} if primary_password else {}),
        }
    )
if redis_hosts:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"
            if CHANNEL_LAYER_KIND == "pubsub"
            else "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": redis_hosts, "prefix": REDIS_PREFIX or "asgi"}
            if CHANNEL_LAYER_KIND == "pubsub"
            else {
                "hosts": redis_hosts,
                "prefix": REDIS_PREFIX or "asgi",
                "capacity": 1500,
                "expiry": 30,
                "group_expiry": 86400,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Snapshots are cached per (atelier, version, language): a room reconnecting
# at once renders the board once.
# Join-code failures are counted across processes when Redis is there.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "ratelimit": (
        {
            "BACKEND": "cerveau.caches.SharedPoolRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_PREFIX or "cerveau",
        }
        if REDIS_URL
        # Never culled: LocMemCache drops a third of its keys past MAX_ENTRIES
        # (300 by default), which would forget a guesser's counter in a full room.
        else {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "ratelimit",
            "OPTIONS": {"MAX_ENTRIES": 1_000_000},
        }
    ),
}

# Write limits (boards/ratelimit.py), "name=count/seconds" separated by
# commas, each overriding one default, e.g. "impossible=30/600,offer=40/600".
# socket_messages is "burst/per_second" for each WebSocket.
RATE_LIMIT_NAMES = (
    "impossible",
    "offer",
    "me_too",
    "profile",
    "join_address",
    "join_session",
    "join_guess",
    "login_account_network",
    "login_network",
    "login_account",
    "reset_address",
    "reset_network",
    "socket_messages",
    "sockets",
)


def env_rate_limits(name: str) -> dict[str, tuple[float, float] | int]:
    limits: dict[str, tuple[float, float] | int] = {}
    for item in env_list(name, []):
        key, _sep, value = (part.strip() for part in item.partition("="))
        if key == "sockets":
            # Open sockets per participant: a count, no period.
            limits[key] = int(value) if value.isdigit() and int(value) > 0 else 0
            if not limits[key]:
                raise ImproperlyConfigured(f"{name}: {item!r} must be sockets=<a whole number above 0>")
            continue
        count, _slash, period = value.partition("/")
        try:
            parsed = (float(count), float(period))
        except ValueError:
            parsed = None
        if key not in RATE_LIMIT_NAMES or parsed is None or min(parsed) <= 0:
            raise ImproperlyConfigured(
                f"{name}: {item!r} must be name=count/seconds with a name among {', '.join(RATE_LIMIT_NAMES)}"
            )
        limits[key] = parsed if key == "socket_messages" else (int(parsed[0]), int(parsed[1]))
    return limits


RATE_LIMITS = env_rate_limits("CERVEAU_RATE_LIMITS")

# --- Sessions: participants have no account, the session cookie is who they are.
# Database sessions without the look-up before each new key (cerveau/sessions.py).
SESSION_ENGINE = "cerveau.sessions"
SESSION_COOKIE_AGE = 60 * 60 * 24 * 30
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", default=HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- Facilitators' accounts ---------------------------------------------------
LOGIN_URL = "login"
# Password rules for facilitators' accounts (password change and reset, the admin).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_REDIRECT_URL = "boards:facilitator_home"
LOGOUT_REDIRECT_URL = "boards:home"
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Cerveau collectif <noreply@localhost>")

# --- Internationalisation -------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("Français")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("CERVEAU_TIME_ZONE", "Europe/Paris")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Served by WhiteNoise from the finders as well, so a fresh checkout works
# without collectstatic; production runs collectstatic for compressed files.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Security headers -------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# cerveau.middleware.PermissionsPolicyMiddleware: features no page uses.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

# Scripts and styles come from our static files only: no inline <script>, no
# style attribute, no eval (htmx is told so by the htmx-config meta). JSON
# blocks (`json_script`) are data, not scripts, and need nothing.
# cerveau.middleware adds this host's ws:// and wss:// to connect-src.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# HTTPS: each defaults to on with DJANGO_HTTPS and can be set on its own.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=HTTPS)
# Health checks come straight to daphne over plain HTTP (docs/deploy.md).
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# The browsers' preload list takes registered domains (example.org), not the
# atelier's host name: whether to preload is the domain owner's decision, so
# `check --deploy` does not ask for it here.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
# Behind a proxy that talks plain HTTP to daphne, Django knows a request came
# over HTTPS only from a header the proxy sets. Trust one ONLY if the proxy
# sets it on every request, overwriting the client's: otherwise anyone could
# claim HTTPS. daphne --proxy-headers already reads X-Forwarded-Proto; this is
# for other setups. The value names the header (e.g. X-Forwarded-Proto); it
# must say "https".
proxy_ssl_header = env_str("DJANGO_SECURE_PROXY_SSL_HEADER")
if proxy_ssl_header and not re.fullmatch(r"[A-Za-z0-9-]+", proxy_ssl_header):
    raise ImproperlyConfigured(f"DJANGO_SECURE_PROXY_SSL_HEADER must be a header name, got {proxy_ssl_header!r}")
SECURE_PROXY_SSL_HEADER = ("HTTP_" + proxy_ssl_header.upper().replace("-", "_"), "https") if proxy_ssl_header else None

# --- Logs -------------------------------------------------------------------------
# To stderr: "text" for people, "json" (one object per line, with the fields
# passed as `extra=`) for log collectors.
LOG_FORMAT = env_str("CERVEAU_LOG_FORMAT", "text")
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured("CERVEAU_LOG_FORMAT must be 'text' or 'json'")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "cerveau.logging.JSONFormatter"},
    },
    # Share and follow-up links' tokens are masked in every line (cerveau.logging).
    "filters": {
        "mask_tokens": {"()": "cerveau.logging.MaskTokens"},
        "cancelled_cleanup": {"()": "cerveau.logging.CancelledCleanup"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["mask_tokens"]}},
    "root": {"handlers": ["console"], "level": env_str("CERVEAU_LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own handlers (a console one in debug, for `make run`, and
        # the mail to admins) would write around the token mask: its lines go
        # through the root's handler like every other.
        "django": {"level": "INFO", "handlers": [], "propagate": True},
        "django.server": {"level": "INFO", "handlers": [], "propagate": True},
        "daphne": {"level": "WARNING"},
        # runserver's request lines: cerveau.access logs every request instead (cerveau/access.py).
        "django.channels.server": {"level": "CRITICAL"},
        # A process stopping while its sockets close is not an error (cerveau.logging).
        "channels_redis.pubsub": {"filters": ["cancelled_cleanup"]},
    },
}

# Pilots' follow-up links stop working this many days after the latest due
# date of their actions (or their renewal); unset or 0: they never expire.
PILOT_LINK_DAYS = env_int("CERVEAU_PILOT_LINK_DAYS", 0) or None
if PILOT_LINK_DAYS is not None and PILOT_LINK_DAYS < 0:
    raise ImproperlyConfigured("CERVEAU_PILOT_LINK_DAYS must be a number of days (unset: links never expire)")

# Contacts left in help offers are erased this many days after the atelier
# is over (manage.py purge_contacts, run daily).
CONTACT_RETENTION_DAYS = env_int("CERVEAU_CONTACT_RETENTION_DAYS", 30)
# Where people report an accessibility problem (the accessibility statement,
# /accessibilite/): an e-mail address or a web address of the association
# running the ateliers.
ACCESSIBILITY_CONTACT = env_str("CERVEAU_ACCESSIBILITY_CONTACT")
