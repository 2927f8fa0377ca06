from __future__ import annotations

from django.contrib.auth.signals import user_logged_out, user_login_failed
from django.dispatch import receiver

from boards import access, broadcast, ratelimit

CLOSE_LOGGED_OUT = broadcast.CLOSE_SIGNED_OUT


@receiver(user_logged_out)
def close_sockets_on_logout(sender, request, user, **kwargs) -> None:
    # Sent before the session is flushed: its key still names its sockets.
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        broadcast.close_session(access.session_group(session_key), CLOSE_LOGGED_OUT)


@receiver(user_login_failed)
def count_wrong_password(sender, credentials, request=None, **kwargs) -> None:
    # Every login form (the site's, the admin's) authenticates through here.
    if request is not None:
        ratelimit.record_login_failure(request, credentials.get("username", ""))
