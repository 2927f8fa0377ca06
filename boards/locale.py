"""An atelier's language and time zone, activated one way.

Times always read as where the atelier takes place. Its language rules the
room's screens and documents (the projector, the poster, the published plan,
a pilot's follow-up page, every export, what is stored in words); a
participant's or a facilitator's own pages follow that person's choice.
"""

from __future__ import annotations

import zoneinfo
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.utils import timezone, translation

if TYPE_CHECKING:
    from collections.abc import Iterator

    from boards.models import Atelier


@contextmanager
def atelier_locale(atelier: Atelier, *, room: bool = True) -> Iterator[None]:
    """The atelier's time zone, and with `room` its language."""
    with timezone.override(zoneinfo.ZoneInfo(atelier.time_zone)):
        if not room:
            yield
            return
        with translation.override(atelier.language):
            yield
