"""What a push says: the HTML a change, a snapshot or the presence count
renders to, once per language, from the partials the pages use.

The page, the htmx responses and the pushes render the same partials of
`boards/board.html`, so a live update cannot drift from a reload. Pushed
fragments are shared by everyone in a group, so they carry no CSRF token
(`shared`): htmx sends the token from the page's <body hx-headers>.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.functional import SimpleLazyObject

from boards import cards
from boards.live import protocol
from boards.live.protocol import Event, Kind
from boards.models import Atelier, Impossible
from boards.reads import (
    PAGE_SIZE,
    current_version,
    impossibles_queryset,
    load_stats,
    plan_actions,
    visible_offers,
    visible_precisions,
)

# Snapshots are cached per version, language and view: a room reconnecting
# at once renders each view once.
SNAPSHOT_CACHE_SECONDS = 300

# Events that redraw one impossible's fragments.
_ABOUT_ONE_IMPOSSIBLE = {
    Event.IMPOSSIBLE_POSTED,
    Event.ME_TOO_CHANGED,
    Event.OFFER_POSTED,
    Event.OFFERS_CHANGED,
    Event.PRECISIONS_CHANGED,
    Event.IMPOSSIBLE_EDITED,
    Event.IMPOSSIBLE_MERGED,
    Event.ACTION_CHANGED,
}


# What the fragments of boards/live/event.html read of the impossible, beyond
# its own row: a « moi aussi » redraws a number, not the card's offers.
_WHOLE_CARD = {Event.IMPOSSIBLE_POSTED, Event.IMPOSSIBLE_MERGED}
_PARTS = {
    Event.OFFER_POSTED: (visible_offers,),
    Event.OFFERS_CHANGED: (visible_offers,),
    Event.PRECISIONS_CHANGED: (visible_precisions,),
    Event.ACTION_CHANGED: (plan_actions,),
}


def _one_impossible(atelier_id: int, impossible_id: int, kind: str) -> Impossible | None:
    if kind in _WHOLE_CARD:
        queryset = impossibles_queryset(atelier_id)
    else:
        queryset = Impossible.objects.visible().filter(atelier_id=atelier_id)
        queryset = queryset.prefetch_related(*(part() for part in _PARTS.get(kind, ())))
    return queryset.filter(pk=impossible_id).first()


def _event_context(atelier_id: int, event: dict[str, Any]) -> dict:
    kind = event["type"]
    context: dict = {
        "event": kind,
        # Read only by the fragments that show the atelier (its state, a whole card).
        "atelier": SimpleLazyObject(lambda: Atelier.objects.select_related("spotlight").get(pk=atelier_id)),
        "stats": load_stats(atelier_id),
        "removed": [],
    }
    if kind == Event.IMPOSSIBLE_HIDDEN:
        context["removed"] = [event["impossible"]]
    elif kind == Event.IMPOSSIBLE_MERGED:
        context["removed"] = [event["merged"]]
    # Phones quote the spotlighted statement in #atelier-state: resend it when
    # moderation may have moved the spotlight (hiding or merging clears or
    # moves it) or changed its text.
    context["with_state"] = bool(context["removed"]) or (
        kind == Event.IMPOSSIBLE_EDITED and context["atelier"].spotlight_id == event["impossible"]
    )
    if kind in _ABOUT_ONE_IMPOSSIBLE:
        impossible = _one_impossible(atelier_id, event["impossible"], kind)
        if impossible is None:
            # Hidden or deleted since: the stats still changed.
            context["event"] = "stats"
        context["impossible"] = impossible
    elif kind == Event.PARTICIPANT_UPDATED:
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


def languages() -> list[str]:
    """Every language a page may read: one rendering and one group each."""
    return [code for code, _name in settings.LANGUAGES]


def event_messages(atelier_id: int, version: int, event: dict[str, Any]) -> dict[str, str]:
    """One event rendered once per language: {language: html}."""
    context = _event_context(atelier_id, event)
    context.update(version=version, kind=Kind.EVENT, oob=True, shared=True)
    rendered = {}
    for language in languages():
        with translation.override(language):
            rendered[language] = render_to_string("boards/live/event.html", context)
    return rendered


def presence_message(online: int) -> str:
    # Language-neutral (just a number), so one render serves every group.
    return render_to_string("boards/live/presence.html", {"online": online, "oob": True})


def snapshot_message(atelier: Atelier, language: str, sort: str = "recent", category: str = "") -> tuple[int, str]:
    """The board as the page views it (first page, its sort and category),
    as one push: the page's own shared cards (boards/cards.py)."""
    version = current_version(atelier.pk)
    html = cache.get(_snapshot_key(atelier.pk, version, language, sort, category))
    if html is None:
        with translation.override(language):
            board = cards.shared(atelier, sort=sort, category=category, limit=PAGE_SIZE)
            html = render_to_string(
                "boards/live/snapshot.html",
                {
                    "board": board,
                    "cards": cards.for_everyone(board),
                    "version": board.version,
                    "kind": Kind.SNAPSHOT,
                    "oob": True,
                    "stats": board.stats,
                    "sort": sort,
                    "category": category,
                    "shared": True,
                },
            )
        version = board.version
        cache.set(_snapshot_key(atelier.pk, version, language, sort, category), html, SNAPSHOT_CACHE_SECONDS)
    return version, html


def _snapshot_key(atelier_id: int, version: int, language: str, sort: str, category: str) -> str:
    return f"snapshot:{atelier_id}:{version}:{language}:{sort}:{category}"


def resync(atelier: Atelier, language: str, view: tuple[str, str], client_version: object) -> str | None:
    """What a page that holds `client_version` needs: nothing when it is
    current, else the whole board as it views it (a version marker only for
    TICKS, the link pages, which fetch what they may show)."""
    version = current_version(atelier.pk)
    if str(client_version) == str(version):
        return None
    if language == protocol.TICKS:
        return protocol.version_marker(version, Kind.SNAPSHOT)
    sort, category = view
    return snapshot_message(atelier, language, sort, category)[1]
