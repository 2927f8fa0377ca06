"""Wrong passwords are counted, whichever login form saw them."""

from __future__ import annotations

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from boards import ratelimit


@receiver(user_login_failed)
def count_wrong_password(sender, credentials, request=None, **kwargs) -> None:
    # Every login form (the site's, the admin's) authenticates through here.
    if request is not None:
        ratelimit.record_login_failure(request, credentials.get("username", ""))
