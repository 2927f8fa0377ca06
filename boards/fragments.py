"""Reads the board and renders the partials that pages and pushes share.

The page, the htmx responses and the WebSocket pushes all render the same
partials of `boards/board.html`, so a live update cannot drift from a reload.
Query counts here are constant: they do not grow with the board.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Prefetch, Q, Sum
from django.template.loader import render_to_string
from django.utils import translation

from boards import broadcast
from boards.models import Atelier, HelpOffer, Impossible, Participant, PlanAction

SORTS = ("recent", "top")
# A phone shows the first cards and loads more on demand: the page, its
# snapshots and its query count stay the same size however big the board.
PAGE_SIZE = 40
MAX_SHOWN = 1000
SNAPSHOT_CACHE_SECONDS = 300


@dataclass
class Stats:
    impossibles: int = 0
    me_toos: int = 0
    offers: int = 0
    participants: int = 0
    actions: int = 0


@dataclass
class Board:
    atelier: Atelier
    version: int
    impossibles: list[Impossible] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    has_more: bool = False
    sort: str = "recent"
    category: str = ""


def clean_view(sort: object, category: object, atelier: Atelier) -> tuple[str, str]:
    """The sort and category a visitor asked for, or the defaults."""
    sort = sort if sort in SORTS else "recent"
    category = category if isinstance(category, str) and category in atelier.categories else ""
    return sort, category


def visible_offers() -> Prefetch:
    return Prefetch(
        "offers",
        queryset=HelpOffer.objects.filter(hidden=False).select_related("author").order_by("created_at", "id"),
        to_attr="visible_offers",
    )


def plan_actions() -> Prefetch:
    return Prefetch(
        "actions",
        queryset=PlanAction.objects.select_related("pilot__participant").order_by("created_at", "id"),
        to_attr="plan_actions",
    )


def impossibles_queryset(atelier_id: int):
    return (
        Impossible.objects.visible()
        .filter(atelier_id=atelier_id)
        .select_related("author")
        .prefetch_related(visible_offers(), plan_actions())
    )


def order_impossibles(queryset, sort: str):
    if sort == "top":
        return queryset.order_by("-me_too_count", "-created_at", "-id")
    return queryset.order_by("-created_at", "-id")


def load_stats(atelier_id: int) -> Stats:
    totals = (
        Impossible.objects.visible()
        .filter(atelier_id=atelier_id)
        .aggregate(impossibles=Count("id"), me_toos=Sum("me_too_count"), offers=Sum("offer_count"))
    )
    return Stats(
        impossibles=totals["impossibles"] or 0,
        me_toos=totals["me_toos"] or 0,
        offers=totals["offers"] or 0,
        participants=Participant.objects.filter(atelier_id=atelier_id).count(),
        actions=PlanAction.objects.filter(
            atelier_id=atelier_id, impossible__hidden=False, impossible__pending=False
        ).count(),
    )


class _consistent_read(transaction.Atomic):
    """A transaction whose reads all see one committed state.

    The board and its version must match exactly: a snapshot labelled N that
    already contains N+1 would make the client apply N+1 twice. PostgreSQL's
    default READ COMMITTED gives each statement a new view, so ask for
    REPEATABLE READ when this is the outermost transaction.

    SQLite's write transactions begin IMMEDIATE (settings), which takes the
    write lock: a read must not, or every page load and snapshot would queue
    with the writers (and a crowd of readers starve them past the busy
    timeout). A DEFERRED transaction in WAL mode reads one snapshot, from its
    first read, without taking any lock.
    """

    def __init__(self) -> None:
        super().__init__(using=None, savepoint=True, durable=False)

    def __enter__(self) -> None:
        outermost = not connection.in_atomic_block
        if outermost and connection.vendor == "sqlite":
            connection.ensure_connection()
            mode, connection.transaction_mode = connection.transaction_mode, "DEFERRED"
            try:
                super().__enter__()
            finally:
                connection.transaction_mode = mode
            return
        super().__enter__()
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def page_of_impossibles(atelier_id: int, *, sort: str, category: str, offset: int, limit: int):
    """One page of the board in display order, and whether more follow."""
    queryset = order_impossibles(impossibles_queryset(atelier_id), sort)
    if category:
        queryset = queryset.filter(category=category)
    rows = list(queryset[offset : offset + limit + 1])
    return rows[:limit], len(rows) > limit


def load_board(atelier: Atelier, *, sort: str = "recent", category: str = "", limit: int = PAGE_SIZE) -> Board:
    with _consistent_read():
        # Re-read: the phase, timer and spotlight must match the version.
        atelier = Atelier.objects.select_related("spotlight").get(pk=atelier.pk)
        impossibles, has_more = page_of_impossibles(atelier.pk, sort=sort, category=category, offset=0, limit=limit)
        stats = load_stats(atelier.pk)
    return Board(
        atelier=atelier,
        version=atelier.version,
        impossibles=impossibles,
        stats=stats,
        has_more=has_more,
        sort=sort,
        category=category,
    )


# --- Live messages ----------------------------------------------------------


def _event_context(atelier_id: int, event: broadcast.Event) -> dict:
    kind = event["type"]
    context: dict = {
        "event": kind,
        "atelier": Atelier.objects.select_related("spotlight").get(pk=atelier_id),
        "stats": load_stats(atelier_id),
        "removed": [],
    }
    if kind == "impossible.hidden":
        context["removed"] = [event["impossible"]]
    elif kind == "impossible.merged":
        context["removed"] = [event["merged"]]
    # Phones quote the spotlighted statement in #atelier-state: resend it when
    # moderation may have moved the spotlight (hiding or merging clears or
    # moves it) or changed its text.
    context["with_state"] = bool(context["removed"]) or (
        kind == "impossible.edited" and context["atelier"].spotlight_id == event["impossible"]
    )
    if kind in {
        "impossible.posted",
        "metoo.changed",
        "offer.posted",
        "offers.changed",
        "impossible.edited",
        "impossible.merged",
        "action.changed",
    }:
        impossible = impossibles_queryset(atelier_id).filter(pk=event["impossible"]).first()
        if impossible is None:
            # Hidden or deleted since: the stats still changed.
            context["event"] = "stats"
        context["impossible"] = impossible
    elif kind == "participant.updated":
        # Only bylines that show (or showed) the name: redrawing an anonymous
        # one would tell whose it is.
        authored = Impossible.objects.visible().filter(atelier_id=atelier_id, author_id=event["participant"])
        if "impossibles" in event:
            authored = authored.filter(pk__in=event["impossibles"])
        else:
            authored = authored.filter(anonymous=False)
        context["authored"] = list(authored.select_related("author"))
        context["offered_on"] = list(
            impossibles_queryset(atelier_id)
            .filter(Q(offers__author_id=event["participant"]) & Q(offers__hidden=False))
            .distinct()
        )
    return context


def event_messages(atelier_id: int, version: int, event: broadcast.Event) -> dict[str, str]:
    """Render one event once per language: {language: html}."""
    context = _event_context(atelier_id, event)
    # Pushed fragments are shared by everyone, so they carry no CSRF token
    # (`shared`): htmx sends the token from the page's <body hx-headers>.
    context.update(version=version, kind="event", oob=True, shared=True)
    messages = {}
    for language in broadcast.languages():
        with translation.override(language):
            messages[language] = render_to_string("boards/live/event.html", context)
    return messages


def presence_message(online: int) -> str:
    # Language-neutral (just a number), so one render serves every group.
    return render_to_string("boards/live/presence.html", {"online": online, "oob": True})


def snapshot_message(atelier: Atelier, language: str, sort: str = "recent", category: str = "") -> tuple[int, str]:
    """The board as the client views it (first page, its sort and category),
    as one push. Cached per version, language and view, so a room
    reconnecting at once renders each view once."""
    version = Atelier.objects.values_list("version", flat=True).get(pk=atelier.pk)
    html = cache.get(_snapshot_key(atelier.pk, version, language, sort, category))
    if html is None:
        board = load_board(atelier, sort=sort, category=category)
        with translation.override(language):
            html = render_to_string(
                "boards/live/snapshot.html",
                {
                    "board": board,
                    "version": board.version,
                    "kind": "snapshot",
                    "oob": True,
                    "stats": board.stats,
                    "shared": True,
                },
            )
        version = board.version
        cache.set(_snapshot_key(atelier.pk, version, language, sort, category), html, SNAPSHOT_CACHE_SECONDS)
    return version, html


def _snapshot_key(atelier_id: int, version: int, language: str, sort: str, category: str) -> str:
    return f"snapshot:{atelier_id}:{version}:{language}:{sort}:{category}"
