"""Plan export cost on a large atelier.

    .venv/bin/python -m bench.exports [--runs 3] [--json out.json]

Builds, in a temporary SQLite database (never the dev or test ones), an
atelier with 500 impossibles, 3,000 « moi aussi », 800 help offers and 200
actions with helpers and due dates, then times every format of
`boards.exporters`: the whole export as the download view runs it (plan
query + render), and the render alone. Median of N runs, after one warm-up
(fonts, imports). Also prints the SQL query count of one export and the
file size.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import django

IMPOSSIBLES = 500
ME_TOOS = 3000
OFFERS = 800
ACTIONS = 200
PEOPLE = 300
FACILITATORS = 2


def _setup(database: Path) -> None:
    # The benchmark's own file, whatever the environment points at.
    os.environ.pop("DATABASE_URL", None)
    os.environ["CERVEAU_SQLITE_PATH"] = str(database)
    os.environ.setdefault("CERVEAU_INSECURE_DEFAULTS", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cerveau.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)


def fill(seed: int = 7) -> Any:
    """The large atelier, straight through the ORM with bulk inserts."""
    from django.contrib.auth.models import User
    from django.db import transaction

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
        Role,
    )

    rng = random.Random(seed)
    starts = datetime.datetime(2027, 3, 20, 9, 0, tzinfo=datetime.UTC)
    with transaction.atomic():
        atelier = Atelier.objects.create(
            title="Atelier de l'impossible — Cognac, grand format",
            territory="Cognac, Charente, Nouvelle-Aquitaine",
            commune="Cognac",
            departement="Charente",
            region="Nouvelle-Aquitaine",
            insee_code="16102",
            venue="La Salamandre, salle des fêtes",
            starts_at=starts,
            phase="plan",
        )
        for n in range(FACILITATORS):
            user = User.objects.create_user(
                f"bench-exports-{atelier.pk}-{n}", first_name="Animatrice", last_name=str(n)
            )
            atelier.facilitators.add(user)
        roles = Role.values
        people = Participant.objects.bulk_create(
            Participant(
                atelier=atelier,
                name=f"Personne n° {i}",
                organisation=f"Société coopérative d'intérêt collectif {i % 61}",
                role=roles[i % len(roles)],
            )
            for i in range(PEOPLE)
        )
        categories = Category.values
        impossibles = Impossible.objects.bulk_create(
            Impossible(
                atelier=atelier,
                author=people[i % PEOPLE],
                statement=(
                    f"Impossible n° {i} : obtenir le permis d'aménager à Cognac pour une œuvre collective "
                    f"de 1\u202f000\u00a0m² — « délais trop longs »"
                ),
                details="Trois refus en deux ans.\nLe dossier est complet, mais l'instruction s'arrête à chaque fois.",
                category=categories[i % len(categories)],
                anonymous=i % 7 == 0,
                submission_key=f"bench-{i}",
            )
            for i in range(IMPOSSIBLES)
        )
        pairs = rng.sample(range(IMPOSSIBLES * PEOPLE), ME_TOOS)
        me_toos = [MeToo(impossible=impossibles[p // PEOPLE], participant=people[p % PEOPLE]) for p in pairs]
        MeToo.objects.bulk_create(me_toos)
        kinds = HelpKind.values
        offers = HelpOffer.objects.bulk_create(
            HelpOffer(
                impossible=impossibles[i % IMPOSSIBLES],
                author=people[(i * 7 + 3) % PEOPLE],
                kind=kinds[i % len(kinds)],
                message=f"Je connais l'instructeur du service urbanisme et j'ai déjà monté ce dossier (offre {i}).",
                contact=f"personne{i}@example.org — 06 12 34 56 {i % 100:02d}",
                submission_key=f"bench-offer-{i}",
            )
            for i in range(OFFERS)
        )
        for impossible in impossibles:
            impossible.me_too_count = 0
            impossible.offer_count = 0
        by_id = {impossible.pk: impossible for impossible in impossibles}
        for me_too in me_toos:
            by_id[me_too.impossible_id].me_too_count += 1
        offers_by_impossible: dict[int, list[HelpOffer]] = {}
        for offer in offers:
            by_id[offer.impossible_id].offer_count += 1
            offers_by_impossible.setdefault(offer.impossible_id, []).append(offer)
        Impossible.objects.bulk_update(impossibles, ["me_too_count", "offer_count"])
        pilots = Pilot.objects.bulk_create(
            Pilot(atelier=atelier, name=f"Pilote {n}", organisation=f"Mairie annexe {n}") for n in range(40)
        )
        statuses = ActionStatus.values
        actions = PlanAction.objects.bulk_create(
            PlanAction(
                atelier=atelier,
                impossible=impossibles[n % IMPOSSIBLES],
                title=f"Action {n} : réunir la DDT, la mairie et les porteurs de projet autour du dossier",
                pilot=pilots[n % len(pilots)],
                next_step="Envoyer le compte rendu à toutes les personnes présentes et fixer la date du comité.",
                due_on=starts.date() + datetime.timedelta(days=14 + n),
                status=statuses[n % len(statuses)],
                submission_key=f"bench-action-{n}",
            )
            for n in range(ACTIONS)
        )
        through = PlanAction.accepted_offers.through
        through.objects.bulk_create(
            through(planaction_id=action.pk, helpoffer_id=offer.pk)
            for action in actions
            for offer in offers_by_impossible.get(action.impossible_id, [])[:3]
        )
    return atelier


def timed(action: Any, runs: int) -> tuple[float, Any]:
    action()  # warm-up
    durations = []
    result = None
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations), result


def measure(runs: int) -> list[dict[str, Any]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from boards import exporters
    from boards.plan_document import build_plan

    atelier = fill()
    rows = []
    plan_time, _plan = timed(lambda: build_plan(atelier, include_contacts=True), runs)
    rows.append({"format": "build_plan", "export_s": plan_time, "render_s": None, "queries": None, "kib": None})
    for exporter in exporters.all_exporters():
        export_time, (_name, _type, content) = timed(
            lambda exporter=exporter: exporters.export(atelier, exporter.identifier, include_contacts=True), runs
        )
        plan = build_plan(atelier, include_contacts=True)
        from django.utils import timezone, translation

        def render(exporter: Any = exporter, plan: Any = plan) -> bytes:
            with translation.override(plan.language), timezone.override(plan.time_zone):
                return exporter.render(plan)

        render_time, _content = timed(render, runs)
        with CaptureQueriesContext(connection) as queries:
            exporters.export(atelier, exporter.identifier, include_contacts=True)
        rows.append(
            {
                "format": exporter.identifier,
                "export_s": export_time,
                "render_s": render_time,
                "queries": len(queries.captured_queries),
                "kib": len(content) / 1024,
            }
        )
    return rows


def table(rows: list[dict[str, Any]], runs: int) -> str:
    lines = [
        f"Plan exports: {IMPOSSIBLES} impossibles, {ME_TOOS} « moi aussi », {OFFERS} offers, "
        f"{ACTIONS} actions (SQLite, median of {runs})",
        "",
        f"{'format':<11} {'export (s)':>10} {'render (s)':>10} {'queries':>8} {'size (KiB)':>11}",
    ]
    for row in rows:
        render = f"{row['render_s']:.3f}" if row["render_s"] is not None else "-"
        queries = str(row["queries"]) if row["queries"] is not None else "-"
        kib = f"{row['kib']:.0f}" if row["kib"] is not None else "-"
        lines.append(f"{row['format']:<11} {row['export_s']:>10.3f} {render:>10} {queries:>8} {kib:>11}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the measures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-exports-") as tmp:
        _setup(Path(tmp) / "exports.sqlite3")
        from django.db import connection

        try:
            rows = measure(args.runs)
        finally:
            connection.close()
    print(table(rows, args.runs))
    if args.json:
        args.json.write_text(json.dumps({"runs": args.runs, "python": sys.version.split()[0], "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
