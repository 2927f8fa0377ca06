from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BoardsConfig(AppConfig):
    name = "boards"
    verbose_name = _("Tableaux des ateliers")

    def ready(self) -> None:
        # Importing them connects their receivers.
        from boards import signals  # noqa: F401
        from boards.live import signals as live_signals  # noqa: F401
