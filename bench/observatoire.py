"""The observatoire at national scale.

    .venv/bin/python -m bench.observatoire [--runs 20] [--database-url postgres://…/cerveau_obs_bench]

Builds, in a temporary SQLite database (or the given PostgreSQL database,
whose name must contain "bench"; it is emptied by the migrations' flush),
2,000 ateliers over four quarters in every metropolitan département, 20,000
participants, 60,000 impossibles (40 accepted themes on 70 % of them),
120,000 « moi aussi », 18,000 offers of help and 10,000 actions, straight
through the ORM. Then it times `manage.py observatoire_figures` once and
every public page and export (median and worst of N runs after a warm-up,
with the SQL query count of one run).
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import django

ATELIERS = 2000
PEOPLE_PER_ATELIER = 10
IMPOSSIBLES_PER_ATELIER = 30
ACTIONS_PER_ATELIER = 5
THEMES = 40
QUARTERS = [datetime.datetime(2026, month, 15, 17, 0, tzinfo=datetime.UTC) for month in (2, 5, 8, 11)]


def _setup(database: Path, url: str | None) -> None:
    if url:
        if "bench" not in url.rsplit("/", 1)[-1]:
            raise SystemExit("the benchmark database's name must contain 'bench'")
        os.environ["DATABASE_URL"] = url
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["CERVEAU_SQLITE_PATH"] = str(database)
    os.environ.setdefault("CERVEAU_INSECURE_DEFAULTS", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cerveau.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    if url:
        call_command("flush", "--noinput", verbosity=0)
        call_command("migrate", "--noinput", verbosity=0)


def fill(seed: int = 11) -> dict[str, int]:
    from django.db import transaction
    from django.utils.text import slugify

    from boards import territories
    from boards.models import (
        ActionStatus,
        Atelier,
        Category,
        HelpKind,
        HelpOffer,
        Impossible,
        MeToo,
        Participant,
        Pilot,
        PlanAction,
        Reach,
        Role,
        Theme,
    )

    rng = random.Random(seed)
    departements = [d for d in territories.departements() if d.zone == territories.METRO]
    categories = list(Category.values)
    roles = list(Role.values)
    with transaction.atomic():
        themes = Theme.objects.bulk_create(
            [
                Theme(
                    name=f"Thème {i}",
                    slug=slugify(f"theme-{i}"),
                    category=categories[i % len(categories)],
                    status=Theme.Status.ACCEPTED,
                )
                for i in range(THEMES)
            ]
        )
        ateliers = Atelier.objects.bulk_create(
            [
                Atelier(
                    title=f"Atelier {i}",
                    code=f"B{i:05d}",
                    departement_code=(d := departements[i % len(departements)]).code,
                    region_code=d.region.code,
                    starts_at=QUARTERS[i % len(QUARTERS)],
                    phase="clos",
                    share_token=f"share-{i}" if i % 2 else None,
                )
                for i in range(ATELIERS)
            ]
        )
        people = Participant.objects.bulk_create(
            [
                Participant(atelier=a, name=f"P{a.pk}-{j}", role=rng.choice(roles))
                for a in ateliers
                for j in range(PEOPLE_PER_ATELIER)
            ]
        )
        by_atelier = [people[i * PEOPLE_PER_ATELIER : (i + 1) * PEOPLE_PER_ATELIER] for i in range(ATELIERS)]
        impossibles = []
        for index, atelier in enumerate(ateliers):
            for k in range(IMPOSSIBLES_PER_ATELIER):
                theme = rng.choice(themes) if rng.random() < 0.7 else None
                impossibles.append(
                    Impossible(
                        atelier=atelier,
                        author=rng.choice(by_atelier[index]),
                        statement=f"Impossible {atelier.pk}-{k}",
                        category=theme.category if theme else rng.choice(categories),
                        reach=rng.choice([Reach.COUNTED] * 6 + [Reach.PUBLISHABLE] * 3 + [Reach.ROOM]),
                        theme=theme,
                        me_too_count=2,
                        submission_key=f"k{k}",
                    )
                )
        impossibles = Impossible.objects.bulk_create(impossibles, batch_size=5000)
        me_toos, offers = [], []
        for impossible in impossibles:
            room = by_atelier[(impossible.atelier_id - ateliers[0].pk)]
            for person in rng.sample([p for p in room if p.pk != impossible.author_id], 2):
                me_toos.append(MeToo(impossible=impossible, participant=person))
            if rng.random() < 0.3:
                offers.append(
                    HelpOffer(
                        impossible=impossible,
                        author=rng.choice(room),
                        kind=HelpKind.EXPERTISE,
                        message="Aide",
                        submission_key=f"o{impossible.pk}",
                    )
                )
        MeToo.objects.bulk_create(me_toos, batch_size=10000)
        HelpOffer.objects.bulk_create(offers, batch_size=10000)
        pilots = Pilot.objects.bulk_create([Pilot(atelier=a, name="Pilote", token=f"t{a.pk}") for a in ateliers])
        actions = []
        for index, atelier in enumerate(ateliers):
            chosen = impossibles[index * IMPOSSIBLES_PER_ATELIER : (index + 1) * IMPOSSIBLES_PER_ATELIER]
            for n, impossible in enumerate(rng.sample(chosen, ACTIONS_PER_ATELIER)):
                actions.append(
                    PlanAction(
                        atelier=atelier,
                        impossible=impossible,
                        title=f"Action {atelier.pk}-{n}",
                        pilot=pilots[index],
                        status=rng.choice(list(ActionStatus.values)),
                        submission_key=f"a{n}",
                    )
                )
        PlanAction.objects.bulk_create(actions, batch_size=5000)
    return {
        "ateliers": len(ateliers),
        "participants": len(people),
        "impossibles": len(impossibles),
        "me_toos": len(me_toos),
        "offers": len(offers),
        "actions": len(actions),
    }


PAGES = [
    "/observatoire/",
    "/observatoire/?quarter=2026-T4&region=75&role=entrepreneur&status=levee",
    "/observatoire/region/75/",
    "/observatoire/departement/16/",
    "/observatoire/theme/theme-1/",
    "/observatoire/donnees.csv",
    "/observatoire/donnees.json",
]


def measure(runs: int) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from boards.observatoire import figures

    sizes = fill()
    if connection.vendor == "postgresql":
        # What autovacuum does after a bulk load: without statistics the
        # planner guesses one row per table and picks nested loops.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    started = time.perf_counter()
    stored, held = figures.compute()
    compute_s = time.perf_counter() - started
    client = Client(HTTP_HOST="127.0.0.1", HTTP_ACCEPT_LANGUAGE="fr")
    pages = []
    for url in PAGES:
        client.get(url)  # warm-up: templates, the COG and the map outline
        timings = []
        for _ in range(runs):
            began = time.perf_counter()
            response = client.get(url)
            timings.append(1000 * (time.perf_counter() - began))
            assert response.status_code == 200, url
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        pages.append(
            {
                "url": url,
                "median_ms": round(statistics.median(timings), 1),
                "max_ms": round(max(timings), 1),
                "queries": len(queries),
                "bytes": len(response.content),
            }
        )
    return {"sizes": sizes, "figures": stored, "held": held, "compute_s": round(compute_s, 1), "pages": pages}


def table(result: dict[str, Any], runs: int, engine: str) -> str:
    sizes = ", ".join(f"{value:,} {name}" for name, value in result["sizes"].items())
    lines = [
        f"{engine}: {sizes}.",
        f"`observatoire_figures`: {result['compute_s']} s, {result['figures']:,} figures stored, "
        f"{result['held']:,} small cells rolled up or kept secret.",
        "",
        f"| page | median (ms, {runs} runs) | worst (ms) | queries | size |",
        "|---|---:|---:|---:|---:|",
    ]
    for page in result["pages"]:
        lines.append(
            f"| `{page['url']}` | {page['median_ms']} | {page['max_ms']} | {page['queries']} | "
            f"{page['bytes'] // 1024} KiB |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url", help="a PostgreSQL database whose name contains 'bench'")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-observatoire-") as tmp:
        _setup(Path(tmp) / "observatoire.sqlite3", args.database_url)
        from django.db import connection

        try:
            result = measure(args.runs)
            engine = connection.vendor
        finally:
            connection.close()
    print(table(result, args.runs, "PostgreSQL" if engine == "postgresql" else "SQLite"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
