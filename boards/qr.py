"""The join link and its QR code, made on the server (no external service)."""

from __future__ import annotations

import segno
from django.conf import settings
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from boards import access
from boards.models import Atelier


def absolute_url(request, path: str) -> str:
    # The projector's laptop may browse on 127.0.0.1 while phones need the
    # address the room can reach: CERVEAU_PUBLIC_URL says which.
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL.rstrip("/") + path
    return request.build_absolute_uri(path)


def join_url(request, atelier: Atelier) -> str:
    """The short address people type from a slide or a poster."""
    return absolute_url(request, reverse("boards:join", args=[atelier.code]))


def invitation_url(request, atelier: Atelier) -> str:
    """The address the room's QR codes and links open: it carries the
    atelier's invitation, so the join-code limiter never refuses it."""
    return absolute_url(request, access.invited_join_path(atelier))


def qr_svg(url: str) -> SafeString:
    code = segno.make(url, error="m")
    # segno writes the SVG from the URL's bits only: no user text reaches it,
    # so it is safe to inline. omitsize lets CSS size it.
    svg = code.svg_inline(scale=1, border=2, dark="#16213e", light="#ffffff", omitsize=True)
    return mark_safe(svg)


def join_qr_svg(request, atelier: Atelier) -> SafeString:
    return qr_svg(invitation_url(request, atelier))
