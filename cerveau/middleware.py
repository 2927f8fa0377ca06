"""Security headers that Django's own middleware does not set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.utils.deprecation import MiddlewareMixin

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's policy (settings.CONTENT_SECURITY_POLICY), plus this host's
    WebSocket origins in connect-src.

    CSP3 browsers count ws:/wss: of the page's own host as 'self', but Safari
    before 15.4 does not, and older iPhones are in the room: naming the host
    keeps their live board working. The host is the request's, already checked
    against ALLOWED_HOSTS, so the policy never names a host we do not serve.
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if report_only:
            return parts
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", ()), f"ws://{host}", f"wss://{host}"]
        parts.update = update
        return parts


class PermissionsPolicyMiddleware(MiddlewareMixin):
    """Sets settings.PERMISSIONS_POLICY on every response: no page of ours needs
    the camera, the microphone or the phone's position, so no injected or
    framed script gets them either."""

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if settings.PERMISSIONS_POLICY:
            response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response
