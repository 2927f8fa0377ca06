from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BoardsConfig(AppConfig):
    name = "boards"
    verbose_name = _("Tableaux des ateliers")

    def ready(self) -> None:
        from boards import signals  # noqa: F401  (connects the receivers)
