from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class BoardsConfig(AppConfig):
    name = "boards"
    verbose_name = _("Tableaux des ateliers")

    def ready(self) -> None:
        # Importing them connects their receivers.
        from boards import signals  # noqa: F401
        from boards.live import signals as live_signals  # noqa: F401
        from boards.observatoire.roles import ensure_curators_group

        # After the permissions (django.contrib.auth, earlier in INSTALLED_APPS).
        post_migrate.connect(ensure_curators_group, sender=self)
