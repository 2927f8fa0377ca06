"""A database out of reach answers 503 « try again », not a 500 page.

PostgreSQL restarting, failing over or behind a network blip makes a request
fail with OperationalError or InterfaceError. Retrying is safe: forms carry a
submission key and « moi aussi » sets a state, so a write whose commit made
it before the connection dropped is not made twice. Nothing is kept open
meanwhile: Django drops the broken connection at the end of the request and
the next request connects again (`connect_timeout` makes a lost database
fail fast, `CONN_HEALTH_CHECKS` replaces a stale connection).
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin
from django.utils.html import format_html
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django_htmx.http import trigger_client_event

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
SERVICE_UNAVAILABLE = 503


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("database unavailable: %s %s answered 503 (%s)", request.method, request.path, exception)
        message = _("Le service est momentanément indisponible, réessayez dans un instant.")
        if getattr(request, "htmx", False):
            # Shown like a refusal, by the same toast.
            response = HttpResponse(message, status=SERVICE_UNAVAILABLE, content_type="text/plain; charset=utf-8")
            response = trigger_client_event(response, "cerveau:refused", {"message": message})
        else:
            # No template: base.html would ask the database who is logged in.
            page = format_html(
                '<!doctype html><html lang="{}"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                "<title>{}</title></head><body><main><h1>{}</h1><p>{}</p></main></body></html>",
                get_language() or "fr",
                _("Cerveau collectif"),
                _("Un instant…"),
                message,
            )
            response = HttpResponse(page, status=SERVICE_UNAVAILABLE)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


# Every answer of this site says it is one: a phone's outbox (static/boards/
# outbox.js) keeps a write whose answer came from something else (a Wi-Fi's
# captive portal) and sends it again later.
ANSWER_HEADER = "X-Cerveau-Answer"


class AnswerMarkMiddleware(MiddlewareMixin):
    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response.headers.setdefault(ANSWER_HEADER, "1")
        return response
