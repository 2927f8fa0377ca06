"""Who a socket speaks for: its browser session and user, read in the
consumer's own database hand-off.

Channels' AuthMiddlewareStack resolves a socket's session and user before
the consumer runs, in two thread hand-offs of their own (one builds the
session store, one reads the session and the user). The consumer then hands
off again to read the atelier, the participant and the presence row. When a
room joins at once, every hand-off is a turn of the event loop and of the
database thread: `SessionIdentity` puts an unread session store and an
unresolved user in the scope, and the consumer resolves them at the start
of its own hand-off (`resolve_user`). The user is Channels' `UserLazyObject`:
touching it before then raises, so nothing ever queries from the event loop.
"""

from __future__ import annotations

from importlib import import_module

from channels.auth import UserLazyObject, get_user
from channels.sessions import CookieMiddleware
from django.conf import settings
from django.utils.functional import empty


class SessionIdentity:
    """ASGI middleware: the scope's `session` (not read yet) and `user` (not
    resolved yet), from the session cookie."""

    def __init__(self, application) -> None:
        self.application = application
        self.store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope, receive, send):
        # Building a store reads nothing: the session loads at its first use.
        session = self.store(scope["cookies"].get(settings.SESSION_COOKIE_NAME))
        scope = dict(scope, session=session, user=UserLazyObject())
        return await self.application(scope, receive, send)


def IdentityStack(application):
    return CookieMiddleware(SessionIdentity(application))


def resolve_user(scope: dict) -> None:
    """Read the socket's session and user, from synchronous code: Channels'
    own look-up (the session's user, its backend, its auth hash)."""
    user = scope["user"]
    if user._wrapped is empty:
        # get_user is Channels' look-up wrapped for async callers; `func` is
        # the synchronous function inside.
        user._wrapped = get_user.func(scope)
