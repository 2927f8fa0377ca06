"""The one write path: every change to a board goes through a function here.

Each action validates its domain rules, writes inside one transaction that
also bumps the atelier's version (`core.begin_write`), and schedules its
broadcast for after the commit. HTTP views and WebSocket consumers call
these; nothing else writes.
"""

from boards.services.core import NotFound, Refused
from boards.services.participation import (
    join_atelier,
    offer_help,
    post_impossible,
    set_me_too,
    update_participant,
)

__all__ = [
    "NotFound",
    "Refused",
    "join_atelier",
    "offer_help",
    "post_impossible",
    "set_me_too",
    "update_participant",
]
