"""Who is connected right now, across every server process.

One row per open socket. A process that dies cannot delete its rows, so
a row counts only while its socket has pinged recently.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from django.db import connection
from django.utils import timezone

from boards.models import Participant, Presence
from cerveau.prepared import Prepared

PING_SECONDS = 25
# A ping refreshes its row at most once a minute (hundreds of phones ping),
# and a row counts for 150 s: a live socket is always counted, a dead
# process's sockets stop counting after two and a half minutes.
TOUCH_EVERY = timedelta(seconds=60)
STALE_AFTER = timedelta(seconds=150)


# A participant's live sockets, read as each of its sockets opens (a handful
# at most: more are refused), compiled once (cerveau/prepared.py).
_live_sockets = Prepared(
    lambda participant, since: Presence.objects.filter(participant_id=participant, seen_at__gte=since).values_list(
        "pk", flat=True
    )
)


def connect(participant: Participant, channel_name: str, *, most: int) -> bool:
    """Count this socket in; False (and not counted) when the participant
    already has `most` live sockets: a script opening hundreds of them
    would fill the table and every presence count."""
    now = timezone.now()
    # One statement, no transaction of its own: an insert that takes the row
    # over if this channel were somehow counted already.
    _execute(
        _UPSERT,
        [channel_name, participant.atelier_id, participant.pk, connection.ops.adapt_datetimefield_value(now)],
    )
    # Counted after the insert, so sockets opening at once cannot all slip
    # under the limit (some may all be refused: only a flood gets that far).
    if len(_live_sockets(participant.pk, now - STALE_AFTER)) <= most:
        return True
    disconnect(channel_name)
    return False


def touch(channel_name: str) -> None:
    now = timezone.now()
    # Only write when the row is getting old: hundreds of sockets ping.
    Presence.objects.filter(channel_name=channel_name, seen_at__lt=now - TOUCH_EVERY).update(seen_at=now)


def disconnect(channel_name: str) -> None:
    _execute(_DELETE, [channel_name])


# Every socket writes its row as it opens and deletes it as it closes: the
# two statements are written once here (SQLite and PostgreSQL both take
# them), as the ORM's bulk_create(update_conflicts=True) and delete() would
# write them, at a third of their cost per socket (docs/benchmarks.md).
_UPSERT = (
    "INSERT INTO {table} ({channel_name}, {atelier_id}, {participant_id}, {seen_at}) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT ({channel_name}) DO UPDATE SET {atelier_id} = EXCLUDED.{atelier_id}, "
    "{participant_id} = EXCLUDED.{participant_id}, {seen_at} = EXCLUDED.{seen_at}"
)
_DELETE = "DELETE FROM {table} WHERE {channel_name} = %s"


@cache
def _sql(statement: str, vendor: str) -> str:
    """`statement` with the table's and columns' names, quoted for `vendor`'s database."""
    quote = connection.ops.quote_name
    names = {field.attname: quote(field.column) for field in Presence._meta.concrete_fields}
    return statement.format(table=quote(Presence._meta.db_table), **names)


def _execute(statement: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_sql(statement, connection.vendor), params)


def online_count(atelier_id: int) -> int:
    since = timezone.now() - STALE_AFTER
    return (
        Presence.objects.filter(atelier_id=atelier_id, seen_at__gte=since).values("participant_id").distinct().count()
    )
