"""Update the COG file from a newer release of Etalab's administrative
divisions, and derive the ateliers' territory codes again.

Yearly, when INSEE publishes a new COG (steps in boards/territories/data/README.md):

    cd "$(mktemp -d)" && npm pack @etalab/decoupage-administratif@<version>
    manage.py refresh_territories --from <that directory>/etalab-decoupage-administratif-<version>.tgz

Without --from, only the ateliers' codes are derived again, from the file in use.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from boards import territories
from boards.services import facilitation
from boards.territories import build


class Command(BaseCommand):
    help = "Rebuild the COG file from an upstream release (--from), then derive every atelier's territory codes again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--from",
            dest="source",
            type=Path,
            help=f"An {build.PACKAGE} release: its npm tarball (.tgz) or unpacked directory.",
        )
        parser.add_argument(
            "--cog-year", type=int, help="The COG year of that release, when its README does not say it."
        )
        parser.add_argument(
            "--output",
            type=Path,
            default=territories.DATA_FILE,
            help="Where to write the file (default: the one shipped with the app).",
        )

    def handle(self, *args, source: Path | None, cog_year: int | None, output: Path, **options):
        if source is not None:
            try:
                data = build.build(source, output, year=cog_year)
            except (OSError, build.UpstreamError) as error:
                raise CommandError(str(error)) from None
            meta = data["source"]
            self.stdout.write(
                f"{output}: COG {meta['cog']} from {meta['package']} {meta['version']}, "
                f"{len(data['communes'])} communes, {len(data['others'])} other codes "
                f"(communes déléguées and associées, former codes, arrondissements), "
                f"{len(data['departements'])} départements and COM, {len(data['epci'])} EPCI "
                f"({output.stat().st_size // 1024} KB)."
            )
            territories.reload(output)
        changed, unknown = facilitation.refresh_territory_codes()
        self.stdout.write(f"{changed} atelier(s) with new territory codes.")
        for atelier in unknown:
            self.stdout.write(
                self.style.WARNING(
                    f"Unknown INSEE code {atelier.insee_code} for atelier {atelier.code} « {atelier.title} »: "
                    "its territory codes are blank until its facilitators correct it."
                )
            )
