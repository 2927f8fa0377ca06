"""Logging out closes that browser's sockets (protocol.Close.SIGNED_OUT)."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from boards.live import publish


@receiver(user_logged_out)
def close_sockets_on_logout(sender, request, user, **kwargs) -> None:
    # Sent before the session is flushed: its key still names its sockets.
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        publish.close_session(session_key)
