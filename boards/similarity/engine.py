"""The engine against the database: candidates are an atelier's visible
impossibles (`Impossible.objects.visible()`: not hidden, not merged away,
not waiting for moderation), read with their stored features.

Every public function here answers something harmless instead of raising:
posting an impossible or opening the console must keep working whatever
happens to the engine (a bug, a missing table, a thesaurus that does not
parse). Failures are logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.db.models import F, QuerySet

from boards.models import Atelier, Impossible
from boards.similarity import scoring
from boards.similarity.models import DismissedDuplicate, ImpossibleFeatures

logger = logging.getLogger(__name__)

SUGGESTIONS = 3
# Pairwise work (the console's duplicates, the observatoire's themes) looks at
# this many impossibles at most: n² pairs, in memory.
MAX_PAIRWISE = 2000


@dataclass(frozen=True)
class Match:
    """A card a participant could be shown. No author: an anonymous post
    stays anonymous whoever reads the suggestion."""

    id: int
    statement: str
    category: str
    score: float


@dataclass(frozen=True)
class Pair:
    """Two impossibles of one atelier that look like the same one, older first."""

    first_id: int
    first_statement: str
    second_id: int
    second_statement: str
    score: float


# --- Features: computed when posted or edited, read by every look-up -----------------


def refresh(impossible_id: int) -> bool:
    """Compute and store the features of one impossible from its current
    statement. The services call it after an impossible is posted or edited
    (`refresh_on_commit`). Never raises: False when it could not."""
    try:
        statement = Impossible.objects.values_list("statement", flat=True).get(pk=impossible_id)
        _store(impossible_id, statement)
        return True
    except Impossible.DoesNotExist:
        return False
    except Exception:
        logger.exception("similarity: could not compute the features of impossible %s", impossible_id)
        return False


def refresh_on_commit(impossible_id: int) -> None:
    """`refresh` once the current transaction has committed (at once outside one).

    Robust: whatever happens in it is logged, never raised into the request
    that committed the post (which has already happened)."""

    # A plain function rather than a partial: Django logs a failed robust
    # hook by its __qualname__. `refresh` is looked up when it runs.
    def refresh_features() -> None:
        refresh(impossible_id)

    transaction.on_commit(refresh_features, robust=True)


def _store(impossible_id: int, statement: str) -> None:
    terms = scoring.terms(statement)
    ImpossibleFeatures.objects.update_or_create(
        impossible_id=impossible_id,
        defaults={
            "version": scoring.features_version(),
            "statement": statement,
            "terms": terms.to_json(),
            "revision": time.time_ns(),
        },
    )


def refresh_all(queryset=None, *, force: bool = False, batch: int = 500) -> int:
    """Compute the features that are missing or stale (all of them with
    `force`) for `queryset` (every impossible by default). Returns how many
    were written. Used by `manage.py similarity_features`."""
    queryset = Impossible.objects.all() if queryset is None else queryset
    version = scoring.features_version()
    written = 0
    rows = queryset.order_by("pk").values_list(
        "pk", "statement", "similarity_features__version", "similarity_features__statement"
    )
    for pk, statement, stored_version, stored_statement in rows.iterator(chunk_size=batch):
        if force or stored_version != version or stored_statement != statement:
            _store(pk, statement)
            written += 1
    return written


# --- Reading a board --------------------------------------------------------------------

# Per process: the prepared features of the impossibles seen lately, and the
# stacked board of each atelier looked at lately. A look-up on an atelier
# whose board has not changed since the last one reads one column of ids.
_CACHE_SIZE = 20000
_BOARDS = 64
_prepared_cache: OrderedDict[tuple, scoring.Prepared] = OrderedDict()
_board_cache: OrderedDict[object, tuple[tuple, scoring.Board]] = OrderedDict()
_lock = threading.Lock()


def _current(queryset):
    """`queryset` narrowed to the impossibles whose stored features are
    current: the engine's version, computed from the statement as it is now
    (compared by the database). The others are left out until refreshed."""
    return queryset.filter(
        similarity_features__version=scoring.features_version(),
        similarity_features__statement=F("statement"),
    )


def _board(queryset, scope: object = None) -> tuple[list[int], scoring.Board]:
    """The ids and the stacked board of the current impossibles of `queryset`.
    With a `scope` (an atelier), an unchanged board is reused."""
    rows = tuple(_current(queryset).values_list("pk", "similarity_features__revision"))
    if scope is not None:
        with _lock:
            cached = _board_cache.get(scope)
            if cached is not None and cached[0] == rows:
                _board_cache.move_to_end(scope)
                return [pk for pk, _ in rows], cached[1]
    prepared: list[scoring.Prepared | None] = []
    missing: dict[int, int] = {}
    with _lock:
        for position, row in enumerate(rows):
            item = _prepared_cache.get(row)
            if item is None:
                missing[row[0]] = position
            else:
                _prepared_cache.move_to_end(row)
            prepared.append(item)
    if missing:
        fetched = ImpossibleFeatures.objects.filter(impossible_id__in=list(missing)).values_list(
            "impossible_id", "terms"
        )
        for pk, terms in fetched:
            position = missing[pk]
            item = scoring.Prepared(scoring.Terms.from_json(terms))
            prepared[position] = item
            with _lock:
                _prepared_cache[rows[position]] = item
                while len(_prepared_cache) > _CACHE_SIZE:
                    _prepared_cache.popitem(last=False)
    # A row refreshed between the two queries is left out of this look-up.
    kept = [(row[0], item) for row, item in zip(rows, prepared, strict=True) if item is not None]
    board = scoring.Board([item for _, item in kept])
    if scope is not None and len(kept) == len(rows):
        with _lock:
            _board_cache[scope] = (rows, board)
            _board_cache.move_to_end(scope)
            while len(_board_cache) > _BOARDS:
                _board_cache.popitem(last=False)
    return [pk for pk, _ in kept], board


def _statements(ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    return {
        pk: (statement, category)
        for pk, statement, category in Impossible.objects.filter(pk__in=list(ids)).values_list(
            "pk", "statement", "category"
        )
    }


def _atelier_id(atelier: Atelier | int) -> int:
    return atelier.pk if isinstance(atelier, Atelier) else int(atelier)


# --- The three uses -------------------------------------------------------------------


def similar(atelier: Atelier | int, text: str, *, exclude: Iterable[int] = ()) -> list[Match]:
    """The visible impossibles of `atelier` that look like `text`: what a
    participant about to post it would be shown (« Ça ressemble à… »), best
    first, at most 3, only those at or above the engine's threshold. `exclude`:
    ids to leave out (the impossible being edited). Never raises: [] when in
    doubt."""
    try:
        started = time.perf_counter()
        query = scoring.prepare(text or "")
        if not query.blocks[0][0].size and not query.blocks[2][0].size:
            return []  # nothing to compare: emoji only, punctuation, stopwords
        atelier_id = _atelier_id(atelier)
        ids, board = _board(Impossible.objects.visible().filter(atelier_id=atelier_id).order_by("pk"), scope=atelier_id)
        if not ids:
            return []
        scores = board.scores(query)
        excluded = {int(pk) for pk in exclude}
        best = [
            int(i)
            for i in np.argsort(-scores, kind="stable")[: SUGGESTIONS + len(excluded)]
            if scores[i] >= scoring.SUGGEST_THRESHOLD and ids[i] not in excluded
        ][:SUGGESTIONS]
        texts = _statements(ids[i] for i in best)
        matches = [
            Match(id=ids[i], statement=texts[ids[i]][0], category=texts[ids[i]][1], score=round(float(scores[i]), 3))
            for i in best
            if ids[i] in texts
        ]
        logger.debug("similarity: %s candidates in %.1f ms", len(ids), 1000 * (time.perf_counter() - started))
        return matches
    except Exception:
        logger.exception("similarity: look-up failed for atelier %s", atelier)
        return []


def likely_duplicates(atelier: Atelier | int, *, limit: int = 50) -> list[Pair]:
    """Pairs of the atelier's visible impossibles that look like the same
    one, best first, without the pairs a facilitator dismissed (« Pas un
    doublon »). For the facilitators' console. Never raises: [] when in doubt."""
    try:
        atelier_id = _atelier_id(atelier)
        queryset = Impossible.objects.visible().filter(atelier_id=atelier_id)
        newest = _current(queryset).order_by("-created_at", "-pk").values_list("pk", flat=True)[:MAX_PAIRWISE]
        ids, board = _board(queryset.filter(pk__in=list(newest)).order_by("pk"))
        if len(ids) < 2:
            return []
        scores = board.pair_scores()
        upper = np.triu(scores >= scoring.DUPLICATE_THRESHOLD, k=1)
        dismissed = set(DismissedDuplicate.objects.filter(atelier_id=atelier_id).values_list("first_id", "second_id"))
        found = []
        for i, j in zip(*np.nonzero(upper), strict=True):
            a, b = sorted((ids[i], ids[j]))
            if (a, b) not in dismissed:
                found.append((-float(scores[i, j]), a, b))
        found.sort()
        found = found[:limit]
        texts = _statements({pk for _, a, b in found for pk in (a, b)})
        return [
            Pair(a, texts[a][0], b, texts[b][0], round(-negative, 3))
            for negative, a, b in found
            if a in texts and b in texts
        ]
    except Exception:
        logger.exception("similarity: likely duplicates failed for atelier %s", atelier)
        return []


def group(impossibles: QuerySet | Iterable[int | Impossible], *, threshold: float | None = None) -> list[list[int]]:
    """Theme suggestions for the observatoire: the given impossibles (a
    queryset, or ids or objects, from any ateliers; only the visible ones
    count, the newest 2,000 at most) grouped when
    they look alike, each group's ids in ascending order, largest groups
    first, groups of one left out.

    Average linkage: two groups merge when their pairs score
    `threshold` on average, so one ambiguous post cannot chain two themes
    together. Never raises: [] when in doubt."""
    try:
        threshold = scoring.GROUP_THRESHOLD if threshold is None else threshold
        if isinstance(impossibles, QuerySet):
            chosen = Impossible.objects.filter(pk__in=impossibles.values("pk"))
        else:
            wanted = [item.pk if isinstance(item, Impossible) else int(item) for item in impossibles]
            chosen = Impossible.objects.filter(pk__in=wanted)
        newest = _current(chosen.visible()).order_by("-pk").values_list("pk", flat=True)[:MAX_PAIRWISE]
        ids, board = _board(Impossible.objects.filter(pk__in=list(newest)).order_by("pk"))
        if len(ids) < 2:
            return []
        return scoring.average_linkage(ids, board.pair_scores(), threshold)
    except Exception:
        logger.exception("similarity: grouping failed")
        return []


def score(a: str, b: str) -> float:
    """How alike two texts are, between 0 and 1 (symmetric); 0.0 when in doubt."""
    try:
        return scoring.score(a or "", b or "")
    except Exception:
        logger.exception("similarity: scoring failed")
        return 0.0


def warm_up() -> None:
    """Load the thesaurus and the stemmer now rather than on the first look-up."""
    scoring.prepare("recruter des soudeurs")
