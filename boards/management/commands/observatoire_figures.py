from __future__ import annotations

from django.core.management.base import BaseCommand

from boards.observatoire import figures


class Command(BaseCommand):
    help = (
        "Compute the observatoire's published figures (statistical secrecy applied). "
        "Run daily from cron; safe to run again or twice at once."
    )

    def handle(self, *args, **options):
        stored, held = figures.compute()
        self.stdout.write(f"{stored} figure(s) published; {held} small cell(s) rolled up or kept secret")
