"""How a view answers a write, the same way everywhere.

A write either happened (`done`), was refused by a rule of the atelier
(`refused`: the phase, the lock, a link that no longer works; nothing
changed, the person is told why), or its form has errors to fix (shown
again with UNPROCESSABLE). htmx requests get a status and an event the page
script understands (`cerveau:refresh`, `cerveau:refused`); plain forms, which
work without JavaScript, are sent back where they came from with a message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django_htmx.http import trigger_client_event

if TYPE_CHECKING:
    from django.http import HttpRequest

# A form with errors: the page shows it again, with what was typed.
UNPROCESSABLE = 422
# A rule of the atelier said no: nothing changed (static/boards/board.js
# shows the `cerveau:refused` message instead of a generic error).
REFUSED = 409


def done(request: HttpRequest, back_to: str, message: str = "") -> HttpResponse:
    """The write happened: htmx screens refetch what they show; a plain form
    goes back to `back_to` (a URL or a URL name with no argument) with `message`."""
    if request.htmx:
        return trigger_client_event(HttpResponse(status=204), "cerveau:refresh")
    if message:
        messages.success(request, message)
    return redirect(back_to)


def refused(request: HttpRequest, back_to: str, message: str) -> HttpResponse:
    """Nothing changed, and the person is told why: over htmx a REFUSED
    answer whose `cerveau:refused` event carries the message; a plain form
    goes back to `back_to` with it."""
    if request.htmx:
        response = HttpResponse(message, status=REFUSED, content_type="text/plain; charset=utf-8")
        return trigger_client_event(response, "cerveau:refused", {"message": message})
    messages.error(request, message)
    return redirect(back_to)
