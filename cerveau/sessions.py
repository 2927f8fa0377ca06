"""Django's database sessions, lighter for every phone that joins.

Django picks a new session key, asks the database whether it is taken, then
inserts it with `must_create`, which already refuses a taken key (and
`create()` then draws another). The question costs a round trip per new
session, for a collision among 36^32 keys; this store only inserts.

Every page and socket of a phone reads its session: the read is compiled
once (cerveau/prepared.py) instead of at every request.
"""

from __future__ import annotations

from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone
from django.utils.crypto import get_random_string

from cerveau.prepared import Prepared

_live_session = Prepared(lambda key, now: Session.objects.filter(session_key=key, expire_date__gt=now))


class SessionStore(DatabaseSessionStore):
    def _get_new_session_key(self) -> str:
        # Only create() asks for a key here, and saves it with must_create.
        return get_random_string(32, VALID_KEY_CHARS)

    async def _aget_new_session_key(self) -> str:
        return self._get_new_session_key()

    def _get_session_from_db(self) -> Session | None:
        # Django's look-up (a live session with this key), compiled once.
        session = _live_session.one(self.session_key, timezone.now()) if self.session_key else None
        if session is None:
            self._session_key = None
        return session
