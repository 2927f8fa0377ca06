from __future__ import annotations

from django.core.management.base import BaseCommand

from boards.observatoire import themes


class Command(BaseCommand):
    help = (
        "Suggest observatoire themes: group similar impossibles across ateliers "
        "(only those counted in the observatoire). Safe to run again."
    )

    def handle(self, *args, **options):
        outcome = themes.suggest()
        self.stdout.write(f"{outcome.created} theme(s) suggested, {outcome.joined} impossible(s) added to a theme")
