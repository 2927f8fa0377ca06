from __future__ import annotations

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from boards import access, broadcast

CLOSE_LOGGED_OUT = broadcast.CLOSE_SIGNED_OUT


@receiver(user_logged_out)
def close_sockets_on_logout(sender, request, user, **kwargs) -> None:
    # Sent before the session is flushed: its key still names its sockets.
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        broadcast.close_session(access.session_group(session_key), CLOSE_LOGGED_OUT)
