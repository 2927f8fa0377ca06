"""Theme suggestions across ateliers (`manage.py observatoire_themes`).

The similarity engine groups the impossibles the observatoire may count
(`counted()`); each group that spans at least two ateliers becomes a
suggested theme, or joins the theme most of its members already belong to.
Impossibles a curator placed or detached are never moved. Running it again
without new impossibles changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from boards.models import Category, Impossible, Reach, Theme
from boards.services import observatoire as services
from boards.similarity import engine

MIN_ATELIERS = 2


def counted() -> QuerySet:
    """The impossibles the observatoire counts: their author let them leave
    the room, and they are on their board (not hidden, not merged away, not
    waiting for moderation)."""
    return Impossible.objects.filter(
        reach__in=[Reach.COUNTED, Reach.PUBLISHABLE], hidden=False, pending=False, merged_into__isnull=True
    )


@dataclass(frozen=True)
class Outcome:
    created: int  # new suggested themes
    joined: int  # impossibles added to a theme


def _name(members: list[dict]) -> str:
    # Only words their author allowed to publish may name a theme; the
    # curator renames it anyway before accepting it.
    publishable = [m for m in members if m["reach"] == Reach.PUBLISHABLE]
    if publishable:
        best = max(publishable, key=lambda m: (m["me_too_count"], -m["pk"]))
        return best["statement"]
    category = Counter(m["category"] for m in members).most_common(1)[0][0]
    return _("%(category)s : %(count)s impossibles semblables") % {
        "category": Category(category).label,
        "count": len(members),
    }


def suggest() -> Outcome:
    queryset = counted()
    engine.refresh_all(queryset)
    groups = engine.group(queryset)
    ids = [pk for group in groups for pk in group]
    rows = {
        row["pk"]: row
        for row in Impossible.objects.filter(pk__in=ids).values(
            "pk", "atelier_id", "theme_id", "theme_curated", "category", "statement", "reach", "me_too_count"
        )
    }
    created = joined = 0
    for group in groups:
        members = [rows[pk] for pk in group if pk in rows]
        free = [m["pk"] for m in members if m["theme_id"] is None and not m["theme_curated"]]
        if not free:
            continue
        themes = Counter(m["theme_id"] for m in members if m["theme_id"] is not None)
        if themes:
            # The theme most of the group is in; the oldest on a tie.
            target = min(themes, key=lambda pk: (-themes[pk], pk))
            joined += services.extend_theme(Theme.objects.get(pk=target), free)
        elif len({m["atelier_id"] for m in members}) >= MIN_ATELIERS:
            category = Counter(m["category"] for m in members).most_common(1)[0][0]
            services.suggest_theme(_name(members), category, free)
            created += 1
            joined += len(free)
    return Outcome(created, joined)
