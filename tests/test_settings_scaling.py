"""Settings for many processes: the channel layer sharded over several Redis
servers or found through Redis Sentinel, PostgreSQL pools sized per process,
PgBouncer in transaction mode. Each is read from the environment and
refused at start when it makes no sense.

The settings module is run afresh for each environment (the settings in use
are not touched); the Sentinel test starts its own redis-server and Sentinel.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import runpy
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis
import redis.asyncio
from django.core.exceptions import ImproperlyConfigured

from tests.servers import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

SETTINGS_FILE = Path(__file__).resolve().parent.parent / "cerveau" / "settings.py"
SCALING_ENV = (
    "DATABASE_URL",
    "REDIS_URL",
    "CERVEAU_CHANNEL_LAYER",
    "CERVEAU_CHANNEL_REDIS_URLS",
    "CERVEAU_REDIS_SENTINELS",
    "CERVEAU_REDIS_SENTINEL_MASTERS",
    "CERVEAU_REDIS_SENTINEL_PASSWORD",
    "CERVEAU_REDIS_SENTINEL_MASTER_PASSWORD",
    "CERVEAU_REDIS_MAX_CONNECTIONS",
    "CERVEAU_DB_POOL_SIZE",
    "CERVEAU_DB_POOL_TIMEOUT",
    "CERVEAU_DB_CONNECT_TIMEOUT",
    "CERVEAU_DB_PGBOUNCER",
)
PG = "postgres://cerveau:secret@10.0.0.9:5432/cerveau"

# Each environment is read afresh, whatever the run's own backend.
pytestmark = pytest.mark.once


@pytest.fixture
def load_settings(monkeypatch):
    """The settings module's values for an environment."""

    def load(**env: str) -> dict:
        for name in SCALING_ENV:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("CERVEAU_INSECURE_DEFAULTS", "1")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(SETTINGS_FILE))

    return load


def layer(values: dict) -> dict:
    return values["CHANNEL_LAYERS"]["default"]


# --- Several Redis servers -----------------------------------------------------------------------


def test_without_redis_the_layer_lives_in_the_process(load_settings):
    assert layer(load_settings())["BACKEND"] == "channels.layers.InMemoryChannelLayer"


def test_redis_url_alone_carries_the_layer_and_the_counters(load_settings):
    values = load_settings(REDIS_URL="redis://10.0.0.5:6379/0")
    assert layer(values)["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert layer(values)["CONFIG"]["hosts"] == [{"address": "redis://10.0.0.5:6379/0", "max_connections": 1000}]
    assert values["CACHES"]["ratelimit"]["LOCATION"] == "redis://10.0.0.5:6379/0"


@pytest.mark.parametrize("kind", ["pubsub", "core"])
def test_several_urls_shard_the_layer_in_their_order(load_settings, kind):
    urls = ["redis://10.0.0.5:6379/0", "rediss://:pw@10.0.0.6:6380/0", "unix:///run/redis/redis.sock"]
    values = load_settings(
        REDIS_URL="redis://10.0.0.7:6379/1",
        CERVEAU_CHANNEL_REDIS_URLS=" , ".join(urls),
        CERVEAU_CHANNEL_LAYER=kind,
        CERVEAU_REDIS_MAX_CONNECTIONS="200",
    )
    assert [host["address"] for host in layer(values)["CONFIG"]["hosts"]] == urls
    assert {host["max_connections"] for host in layer(values)["CONFIG"]["hosts"]} == {200}
    # The counters stay on REDIS_URL.
    assert values["CACHES"]["ratelimit"]["LOCATION"] == "redis://10.0.0.7:6379/1"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_URL": "redis://a:6379/0,redis://b:6379/0"}, "CERVEAU_CHANNEL_REDIS_URLS"),
        ({"REDIS_URL": "10.0.0.5:6379"}, "not a redis://"),
        ({"REDIS_URL": "http://10.0.0.5:6379"}, "not a redis://"),
        ({"CERVEAU_CHANNEL_REDIS_URLS": "redis://a:6379/0,a:6380"}, "not a redis://"),
        ({"CERVEAU_CHANNEL_REDIS_URLS": "redis://a:63x9/0"}, "port that is not a number"),
        ({"CERVEAU_CHANNEL_REDIS_URLS": "redis://a:6379/0,redis://a:6379/0"}, "twice"),
        ({"REDIS_URL": "redis://a:6379/0", "CERVEAU_REDIS_MAX_CONNECTIONS": "0"}, "above 0"),
        ({"CERVEAU_CHANNEL_LAYER": "cluster"}, "'pubsub' or 'core'"),
    ],
    ids=["comma-in-redis-url", "no-scheme", "http", "shard-without-scheme", "bad-port", "twice", "pool-0", "kind"],
)
def test_a_redis_setting_that_makes_no_sense_stops_the_start(load_settings, env, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings(**env)


# --- Redis Sentinel --------------------------------------------------------------------------------


def test_sentinels_find_each_primary_of_the_layer(load_settings):
    values = load_settings(
        REDIS_URL="redis://127.0.0.1:6379/0",
        CERVEAU_REDIS_SENTINELS="10.0.0.5:26379, sentinel-b.example.org ,[fd00::7]:26380",
        CERVEAU_REDIS_SENTINEL_MASTERS="cerveau-a,cerveau-b",
        CERVEAU_REDIS_SENTINEL_PASSWORD="s3ntinel",
        CERVEAU_REDIS_SENTINEL_MASTER_PASSWORD="pr1mary",
    )
    sentinels = [("10.0.0.5", 26379), ("sentinel-b.example.org", 26379), ("fd00::7", 26380)]
    assert layer(values)["CONFIG"]["hosts"] == [
        {
            "sentinels": sentinels,
            "master_name": name,
            "sentinel_kwargs": {"password": "s3ntinel"},
            "max_connections": 1000,
            "password": "pr1mary",
        }
        for name in ("cerveau-a", "cerveau-b")
    ]


def test_channels_redis_reads_the_sentinel_hosts_as_sentinel_pools(load_settings):
    from channels_redis.utils import create_pool, decode_hosts
    from redis.asyncio.sentinel import SentinelConnectionPool

    values = load_settings(CERVEAU_REDIS_SENTINELS="10.0.0.5:26379", CERVEAU_REDIS_SENTINEL_MASTERS="cerveau")
    (host,) = decode_hosts(layer(values)["CONFIG"]["hosts"])
    pool = create_pool(host)
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "cerveau"
    assert pool.max_connections == 1000
    (sentinel,) = pool.sentinel_manager.sentinels
    assert sentinel.connection_pool.connection_kwargs["host"] == "10.0.0.5"
    assert sentinel.connection_pool.connection_kwargs["port"] == 26379


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CERVEAU_REDIS_SENTINELS": "10.0.0.5:26379"}, "go together"),
        ({"CERVEAU_REDIS_SENTINEL_MASTERS": "cerveau"}, "go together"),
        ({"CERVEAU_REDIS_SENTINELS": "10.0.0.5:99999", "CERVEAU_REDIS_SENTINEL_MASTERS": "m"}, "host:port"),
        ({"CERVEAU_REDIS_SENTINELS": "redis://10.0.0.5:26379", "CERVEAU_REDIS_SENTINEL_MASTERS": "m"}, "host:port"),
        ({"CERVEAU_REDIS_SENTINELS": "fd00::7:26379", "CERVEAU_REDIS_SENTINEL_MASTERS": "m"}, "host:port"),
        ({"CERVEAU_REDIS_SENTINELS": "a:26379", "CERVEAU_REDIS_SENTINEL_MASTERS": "my master"}, "primary's name"),
        ({"CERVEAU_REDIS_SENTINELS": "a:26379", "CERVEAU_REDIS_SENTINEL_MASTERS": "m,m"}, "twice"),
        (
            {
                "CERVEAU_REDIS_SENTINELS": "a:26379",
                "CERVEAU_REDIS_SENTINEL_MASTERS": "m",
                "CERVEAU_CHANNEL_REDIS_URLS": "redis://b:6379/0",
            },
            "set one",
        ),
    ],
    ids=["no-masters", "no-sentinels", "port", "url", "bare-ipv6", "name", "twice", "both"],
)
def test_a_sentinel_setting_that_makes_no_sense_stops_the_start(load_settings, env, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings(**env)


@contextlib.contextmanager
def redis_process(tmp_path: Path, *args: str) -> Iterator[int]:
    """A redis-server of our own on a free port (never the suite's shared one)."""
    port = free_port()
    process = subprocess.Popen(
        # A configuration file, if any, comes first.
        ["redis-server", *args, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port, socket_timeout=1).ping()
                break
            except redis.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_layer_reaches_its_primary_through_a_real_sentinel(load_settings, tmp_path):
    """channels-redis, configured by these settings, asks a Sentinel for the
    primary and carries a group message through it."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is missing: .ci/run installs it")
        pytest.skip("redis-server is missing (apt-get install redis-server)")
    from django.utils.module_loading import import_string

    with redis_process(tmp_path) as primary:
        config = tmp_path / "sentinel.conf"
        config.write_text(f"sentinel monitor cerveau 127.0.0.1 {primary} 1\n")
        with redis_process(tmp_path, str(config), "--sentinel") as sentinel:
            values = load_settings(
                CERVEAU_REDIS_SENTINELS=f"127.0.0.1:{sentinel}",
                CERVEAU_REDIS_SENTINEL_MASTERS="cerveau",
                CERVEAU_REDIS_PREFIX="sentinel-test",
            )

            config = values["CHANNEL_LAYERS"]["default"]

            async def round_trip() -> tuple[dict, list]:
                channel_layer = import_string(config["BACKEND"])(**config["CONFIG"])
                channel = await channel_layer.new_channel()
                await channel_layer.group_add("atelier-1-fr", channel)
                await channel_layer.group_send("atelier-1-fr", {"type": "board.push", "html": "v2"})
                message = await asyncio.wait_for(channel_layer.receive(channel), timeout=10)
                on_primary = await redis.asyncio.Redis(port=primary).pubsub_numsub("sentinel-test__group__atelier-1-fr")
                await channel_layer.flush()
                return message, on_primary

            message, subscribers = asyncio.run(round_trip())
    assert message == {"type": "board.push", "html": "v2"}
    # The subscription lives on the primary the Sentinel named.
    assert subscribers == [(b"sentinel-test__group__atelier-1-fr", 1)]


# --- PostgreSQL for many processes -----------------------------------------------------------------


def test_each_process_pools_its_own_connections(load_settings):
    database = load_settings(DATABASE_URL=PG, CERVEAU_DB_POOL_SIZE="4", CERVEAU_DB_POOL_TIMEOUT="10")["DATABASES"][
        "default"
    ]
    assert database["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 4, "timeout": 10}
    # Django refuses a pool with persistent connections.
    assert database["CONN_MAX_AGE"] == 0
    assert database["DISABLE_SERVER_SIDE_CURSORS"] is False
    one = load_settings(DATABASE_URL=PG, CERVEAU_DB_POOL_SIZE="1")["DATABASES"]["default"]["OPTIONS"]["pool"]
    assert (one["min_size"], one["max_size"]) == (1, 1)


def test_pgbouncer_in_transaction_mode_gets_no_server_side_cursor_nor_prepared_statement(load_settings):
    from django.db.backends.postgresql.base import DatabaseWrapper

    database = load_settings(DATABASE_URL=PG.replace(":5432", ":6432"), CERVEAU_DB_PGBOUNCER="1")["DATABASES"][
        "default"
    ]
    assert database["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert database["PORT"] == 6432
    wrapper = DatabaseWrapper({**database, "TIME_ZONE": None, "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False})
    # psycopg prepares a statement run 5 times on a connection unless told
    # not to; under PgBouncer the next run may reach another server connection.
    assert wrapper.get_connection_params()["prepare_threshold"] is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": PG, "CERVEAU_DB_POOL_SIZE": "0"}, "above 0"),
        ({"DATABASE_URL": PG, "CERVEAU_DB_POOL_SIZE": "vingt"}, "whole number"),
        ({"DATABASE_URL": PG, "CERVEAU_DB_POOL_TIMEOUT": "-1"}, "above 0"),
        ({"DATABASE_URL": PG, "CERVEAU_DB_CONNECT_TIMEOUT": "0"}, "above 0"),
        ({"DATABASE_URL": PG, "CERVEAU_DB_PGBOUNCER": "transaction"}, "boolean"),
        ({"CERVEAU_DB_PGBOUNCER": "1"}, "needs DATABASE_URL"),
        ({"DATABASE_URL": "mysql://cerveau@10.0.0.9/cerveau"}, "postgres://"),
    ],
    ids=["pool-0", "pool-words", "timeout", "connect-timeout", "pgbouncer-word", "pgbouncer-alone", "mysql"],
)
def test_a_database_setting_that_makes_no_sense_stops_the_start(load_settings, env, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings(**env)
