"""Erase the contacts left in help offers once their atelier is over.

Run it daily from cron (docs/deploy.md); running it again changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from boards.services import privacy


class Command(BaseCommand):
    help = (
        "Erase contacts shared in help offers of ateliers over for more than N days (CERVEAU_CONTACT_RETENTION_DAYS)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=None, help="Days after the atelier is over (default: the setting)."
        )

    def handle(self, *args, days: int | None = None, **options):
        days = privacy.retention_days() if days is None else days
        if days < 0:
            raise CommandError("--days must be zero or more")
        erased = privacy.purge_contacts(older_than=timedelta(days=days))
        self.stdout.write(f"{erased} contact(s) erased from ateliers over for more than {days} day(s).")
