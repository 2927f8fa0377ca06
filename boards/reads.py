"""The board as pages, htmx responses and pushes read it: a page of
impossibles in display order, the atelier's figures, in one consistent read.

Query counts here are constant: they do not grow with the board.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Count, Prefetch, Sum

from boards.models import Atelier, HelpOffer, Impossible, Participant, PlanAction, Precision

SORTS = ("recent", "top")
# A phone shows the first cards and loads more on demand: the page, its
# snapshots and its query count stay the same size however big the board.
PAGE_SIZE = 40
MAX_SHOWN = 1000


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


def visible_precisions() -> Prefetch:
    return Prefetch(
        "precisions",
        queryset=Precision.objects.filter(hidden=False).select_related("author").order_by("created_at", "id"),
        to_attr="visible_precisions",
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
        .prefetch_related(visible_offers(), visible_precisions(), plan_actions())
    )


def order_impossibles(queryset, sort: str):
    if sort == "top":
        return queryset.order_by("-me_too_count", "-created_at", "-id")
    return queryset.order_by("-created_at", "-id")


def current_version(atelier_id: int) -> int:
    return Atelier.objects.values_list("version", flat=True).get(pk=atelier_id)


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
