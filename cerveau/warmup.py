"""What a process loads before its first request.

Django loads the URL conf on the first request, and with it every view
module and what they import (the exports' PDF and calendar libraries, the
similarity engine); it compiles a template, and reads a language's
translations, the first time one is needed. On a process started just
before an evening, the first phone to scan the QR code paid for all of it:
0.65 s of CPU before its page (docs/benchmarks.md). Loaded at start-up, it
also ends up in what `cerveau/asgi.py` freezes out of the garbage
collector's passes.
"""

from __future__ import annotations

from django.conf import settings
from django.template.loader import get_template
from django.urls import get_resolver
from django.utils.translation import trans_real

# The pages a room loads in its first minute, and what they extend.
FIRST_PAGES = ("base.html", "boards/join.html", "boards/board.html", "boards/home.html")


def warm_up() -> None:
    for language, _name in settings.LANGUAGES:
        trans_real.translation(language)
    resolver = get_resolver()
    # Imports every view module; `reverse_dict` fills what `reverse()` reads.
    resolver.url_patterns  # noqa: B018
    resolver.reverse_dict  # noqa: B018
    for name in FIRST_PAGES:
        get_template(name)
