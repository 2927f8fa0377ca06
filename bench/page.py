"""Board page cost by board size (run with Django configured, debug off).

    python -m bench.page --sizes 0,10,100,500,1000 --runs 20 --out page.json

For each size, an atelier with that many impossibles (each with 8 « moi aussi »
and 3 offers), then the board page through Django's test client: median and
90th percentile of the server time (middleware, view, queries, template), the
SQL query count and the page size. The snapshot a reconnecting socket gets
(``boards.messages.snapshot_message``, uncached) is timed the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django

from bench.procs import orphan_guard

PEOPLE = 12
ME_TOOS = 8
OFFERS = 3


def fill(count: int) -> tuple[Any, Any]:
    from boards.models import (
        Atelier,
        Category,
        HelpKind,
        HelpOffer,
        Impossible,
        MeToo,
        Participant,
        Role,
        new_join_code,
    )

    code = new_join_code()
    while Atelier.objects.filter(code=code).exists():
        code = new_join_code()
    fields = {f.name for f in Atelier._meta.get_fields()}
    extra = {"phase": "impossibles"} if "phase" in fields else {}
    atelier = Atelier.objects.create(title=f"Page de {count} impossibles", code=code, **extra)
    people = Participant.objects.bulk_create(
        Participant(atelier=atelier, name=f"Personne {i}", organisation=f"Org {i}", role=Role.values[i % len(Role)])
        for i in range(PEOPLE)
    )
    categories = Category.values
    impossibles = Impossible.objects.bulk_create(
        Impossible(
            atelier=atelier,
            author=people[i % PEOPLE],
            statement=f"Impossible numéro {i} : recruter des soudeurs à moins de 50 km",
            details=f"Détails du numéro {i}\nsur deux lignes",
            category=categories[i % len(categories)],
            anonymous=i % 5 == 0,
            submission_key=f"page-{i}",
            me_too_count=ME_TOOS,
            offer_count=OFFERS,
        )
        for i in range(count)
    )
    MeToo.objects.bulk_create(
        MeToo(impossible=impossible, participant=people[j]) for impossible in impossibles for j in range(ME_TOOS)
    )
    kinds = HelpKind.values
    HelpOffer.objects.bulk_create(
        HelpOffer(
            impossible=impossible,
            author=people[(n + k + 1) % PEOPLE],
            kind=kinds[k % len(kinds)],
            message=f"Offre {k} pour {n}",
            contact=f"contact-{n}-{k}@example.org",
            submission_key=f"page-{n}-{k}",
        )
        for n, impossible in enumerate(impossibles)
        for k in range(OFFERS)
    )
    return atelier, people[0]


def timed(action: Callable[[], Any], runs: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    action()  # warm up anything cached per process
    with CaptureQueriesContext(connection) as queries:
        result = action()
    # Read now: the context slices the connection's log lazily, and later requests reset it.
    query_count = len(queries.captured_queries)
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        durations.append(time.perf_counter() - started)
    durations.sort()
    return {
        "median_ms": statistics.median(durations) * 1000,
        "p90_ms": durations[min(len(durations) - 1, int(len(durations) * 0.9))] * 1000,
        "queries": query_count,
        "result": result,
    }


def measure(sizes: list[int], runs: int) -> list[dict[str, Any]]:
    from django.core.cache import cache
    from django.test import Client

    from boards.access import session_key
    from boards.live import messages

    rows = []
    for size in sizes:
        atelier, person = fill(size)
        client = Client()
        session = client.session
        session[session_key(atelier.pk)] = person.pk
        session.save()
        client.cookies["sessionid"] = session.session_key
        url = f"/a/{atelier.code}/"
        page = timed(lambda client=client, url=url: client.get(url), runs)
        response = page.pop("result")
        row: dict[str, Any] = {
            "impossibles": size,
            "status": response.status_code,
            "page": {**page, "kib": len(response.content) / 1024},
        }

        def snapshot(atelier: Any = atelier) -> Any:
            cache.clear()
            return messages.snapshot_message(atelier, "fr")

        try:
            snap = timed(snapshot, runs)
            _version, html = snap.pop("result")
            row["snapshot"] = {**snap, "kib": len(html) / 1024}
        except Exception as error:
            row["snapshot"] = {"error": f"{type(error).__name__}: {error}"}
        rows.append(row)
    return rows


def main() -> None:
    orphan_guard()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="0,10,100,500,1000")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cerveau.settings")
    django.setup()
    from django.conf import settings
    from django.db import connection

    rows = measure([int(size) for size in args.sizes.split(",")], args.runs)
    args.out.write_text(
        json.dumps({"debug": settings.DEBUG, "vendor": connection.vendor, "runs": args.runs, "rows": rows})
    )


if __name__ == "__main__":
    main()
