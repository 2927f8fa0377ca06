"""Compute the similarity features of impossibles that lack them or whose
features are stale (after a thesaurus change, or an edit the engine was not
told about). Running it again changes nothing."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from boards.models import Atelier, Impossible
from boards.similarity import engine


class Command(BaseCommand):
    help = "Compute missing or stale « Ça ressemble à… » features (all of them with --force)."

    def add_arguments(self, parser):
        parser.add_argument("--atelier", metavar="CODE", help="Only this atelier's impossibles (its join code).")
        parser.add_argument("--force", action="store_true", help="Recompute every row, even current ones.")

    def handle(self, *args, atelier: str | None = None, force: bool = False, **options):
        queryset = Impossible.objects.all()
        if atelier:
            try:
                queryset = queryset.filter(atelier=Atelier.objects.get(code=atelier.strip().upper()))
            except Atelier.DoesNotExist:
                raise CommandError(f"no atelier with code {atelier!r}") from None
        written = engine.refresh_all(queryset, force=force)
        self.stdout.write(f"{written} impossible(s) (re)computed, out of {queryset.count()}.")
