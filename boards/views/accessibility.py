"""The accessibility statement (déclaration d'accessibilité), in the form the
RGAA 4.1 asks for, linked from every page's footer."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET

from boards import qr

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

# What the statement reports, from the test run it was written from
# (tests/test_browser_accessibility.py, tests/test_browser_projector.py).
TESTED_ON = datetime.date(2026, 12, 4)
AXE_CORE_VERSION = "4.12.1"
CHROMIUM_VERSION = "156"


def contact_link(contact: str) -> str:
    """A link for the configured contact: mailto: for an address, the URL itself for a web page."""
    if contact.startswith(("https://", "http://")):
        return contact
    if "@" in contact:
        return f"mailto:{contact}"
    return ""


@require_GET
def accessibility_statement(request: HttpRequest) -> HttpResponse:
    contact = settings.ACCESSIBILITY_CONTACT
    context = {
        "site_url": qr.absolute_url(request, "/"),
        "tested_on": TESTED_ON,
        "axe_version": AXE_CORE_VERSION,
        "chromium_version": CHROMIUM_VERSION,
        "contact": contact,
        "contact_href": contact_link(contact),
    }
    return render(request, "boards/accessibility.html", context)
