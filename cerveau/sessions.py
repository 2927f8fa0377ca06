"""Django's database sessions, one query lighter for every phone that joins.

Django picks a new session key, asks the database whether it is taken, then
inserts it with `must_create`, which already refuses a taken key (and
`create()` then draws another). The question costs a round trip per new
session, for a collision among 36^32 keys; this store only inserts.
"""

from __future__ import annotations

from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils.crypto import get_random_string


class SessionStore(DatabaseSessionStore):
    def _get_new_session_key(self) -> str:
        # Only create() asks for a key here, and saves it with must_create.
        return get_random_string(32, VALID_KEY_CHARS)

    async def _aget_new_session_key(self) -> str:
        return self._get_new_session_key()
