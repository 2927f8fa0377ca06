"""Pages a room loads by the hundred, drawn once and filled in for each person.

When the QR code goes up, hundreds of phones load the same join page, then
the same board, within a minute. `boards/cards.py` draws the board's cards
once per version; the rest of those pages (the header, the forms, the site's
frame) was drawn again for every phone, and cost more than the view itself.
A page here is drawn once per state of what it shows (the atelier's version,
the language, the time zone, the address and what the view adds), with a
mark in each place that is one person's: their name, their CSRF token, the
server's time, the form's submission key, their own impossibles. Each
person's page is that drawing with the marks replaced by their values,
escaped as the template would have escaped them.

A page is shared only when nothing else of the person can reach it: a
signed-in user (facilitators' menus and permissions) or pending flash
messages get a page drawn for them alone, and so does a view that passes
anything but the default (a form with errors, a running clock).
`tests/test_shells.py` checks that a page filled in from the shared drawing
is the page drawn for the person alone, byte for byte.

Marks are `<slot:name>` tags, in the drawing as they are (SafeString): user
text is always escaped, so its `<` never renders as one, and a mark can only
come from the page's own template. Marks are replaced in one pass, so a
value put in is never searched for marks itself.

The cache is the process's own (`CACHES["default"]`), entries expire after a
few minutes and a new version is a new key: a page is never stale.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from django.contrib.messages import get_messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

CACHE_SECONDS = 300

_MARK = re.compile(r"<slot:([a-z_]+)>")


def shareable(request: HttpRequest) -> bool:
    """Whether a page for this request may come from a shared drawing: no
    signed-in user, no flash message waiting to be shown (counting them
    does not mark them as shown)."""
    return not request.user.is_authenticated and not len(get_messages(request))


class Page:
    """One person's page of a shared drawing.

        page = Page(request)
        context = {"atelier": atelier, "who": page.slot("who", participant.name)}
        return page.render("boards/board.html", context, key=(atelier.pk, atelier.version))

    `slot()` gives the context a mark when the page is shared, the value
    itself when it is drawn for this person alone (`share=False`, or a
    request that is not `shareable`). The CSRF token is always a slot."""

    def __init__(self, request: HttpRequest, *, share: bool = True) -> None:
        self.request = request
        self.shared = share and shareable(request)
        self.token = get_token(request)
        self.values: dict[str, Any] = {}

    def slot(self, name: str, value: Any) -> Any:
        self.values[name] = value
        return mark_safe(f"<slot:{name}>") if self.shared else value

    def render(self, template_name: str, context: dict[str, Any], *, key: tuple, status: int = 200) -> HttpResponse:
        context = {**context, "csrf_token": self.slot("csrf_token", self.token)}
        if not self.shared:
            return render(self.request, template_name, context, status=status)
        cache_key = self._cache_key(template_name, key)
        html = cache.get(cache_key)
        if html is None:
            html = render_to_string(template_name, context, self.request)
            cache.set(cache_key, html, CACHE_SECONDS)
        return HttpResponse(fill(html, self.values), status=status)

    def _cache_key(self, template_name: str, key: tuple) -> str:
        parts = (
            template_name,
            translation.get_language(),
            timezone.get_current_timezone_name(),
            self.request.get_full_path(),
            *key,
        )
        return "shell:" + hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def fill(html: str, values: dict[str, Any]) -> SafeString:
    """The drawing with every mark replaced by its value, escaped unless it
    is already HTML (SafeString)."""

    def value(match: re.Match) -> str:
        return conditional_escape(values[match.group(1)])

    return mark_safe(_MARK.sub(value, html))
