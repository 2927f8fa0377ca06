"""The board's cards as a page first shows them: rendered once per version,
language and view, shared by every phone, with each person's own state put
on top.

When the QR code goes up, a room loads the same board hundreds of times in a
minute, and rendering its cards was most of what a join cost. The cards are
the same HTML for everyone but for two things, which the shared rendering
leaves in a neutral form and `personal()` fills in for one page:

- the CSRF token of the « moi aussi » forms (they post without JavaScript
  too). The shared rendering holds a mark that `{% csrf_token %}` escapes to
  `&lt;csrf&gt;`: user text, escaped as well, can never render to it;
- the « moi aussi » the person already gave: every button is rendered
  unpressed, and the person's are turned over, found by their impossible's
  id between attribute quotes that user text cannot contain.

Snapshots pushed to a whole group (boards/live/messages.py) show the same
cards without the token (`for_everyone()`).

Every change to a board bumps its version (`services.core`), so an entry is
never stale: a new version is a new key. The cache is the process's own
(`CACHES["default"]`); with room affinity (docs/deploy.md) a room's pages
are all served by one process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe

from boards.models import Atelier
from boards.reads import Stats, current_version, load_board

CACHE_SECONDS = 300

_TOKEN_MARK = "<csrf>"
_TOKEN_SLOT = 'name="csrfmiddlewaretoken" value="&lt;csrf&gt;"'
_TOKEN_INPUT = f'<input type="hidden" {_TOKEN_SLOT}>'


@dataclass(frozen=True)
class Cards:
    """The first cards of one view of the board, as of `version`, and what
    the page shows around them from the same read."""

    atelier: Atelier
    version: int
    html: str
    count: int
    stats: Stats
    has_more: bool


def shared(atelier: Atelier, *, sort: str, category: str, limit: int, fresh: bool = False) -> Cards:
    """The first `limit` cards of this view in the active language, rendered
    at most once per version. `fresh`: `atelier` was read by this request,
    its version is current (one query less for every page a room loads)."""
    language = translation.get_language()
    version = atelier.version if fresh else current_version(atelier.pk)
    cards = cache.get(_key(atelier.pk, version, language, sort, category, limit))
    if cards is None:
        board = load_board(atelier, sort=sort, category=category, limit=limit)
        html = render_to_string(
            "boards/board.html#cards",
            {"atelier": board.atelier, "impossibles": board.impossibles, "csrf_token": _TOKEN_MARK},
        )
        cards = Cards(board.atelier, board.version, html, len(board.impossibles), board.stats, board.has_more)
        cache.set(_key(atelier.pk, board.version, language, sort, category, limit), cards, CACHE_SECONDS)
    return cards


def personal(cards: Cards, csrf_token: str, me_toos: Iterable[int]) -> SafeString:
    """The shared cards for one person: their CSRF token in every form and
    their « moi aussi » pressed."""
    html = cards.html.replace(_TOKEN_SLOT, f'name="csrfmiddlewaretoken" value="{csrf_token}"')
    for impossible_id in me_toos:
        html = html.replace(_me_too_button(impossible_id, False), _me_too_button(impossible_id, True), 1)
    return mark_safe(html)  # rendered, and escaped, by the template


def for_everyone(cards: Cards) -> SafeString:
    """The shared cards as a push shows them to a whole group (snapshots): no
    form token, htmx sends the page's own, and nobody's « moi aussi »."""
    return mark_safe(cards.html.replace(_TOKEN_INPUT, ""))  # rendered, and escaped, by the template


def _me_too_button(impossible_id: int, pressed: bool) -> str:
    # As `boards/board.html#card` writes it; tests/test_cards.py compares the
    # result with the card rendered for the person directly.
    if pressed:
        return f'name="state" value="off" aria-pressed="true" data-impossible="{int(impossible_id)}"'
    return f'name="state" value="on" aria-pressed="false" data-impossible="{int(impossible_id)}"'


def _key(atelier_id: int, version: int, language: str, sort: str, category: str, limit: int) -> str:
    return f"cards:{atelier_id}:{version}:{language}:{sort}:{category}:{limit}"
