"""Time « Ça ressemble à… » on a board of N impossibles.

    python -m boards.similarity.latency                       # SQLite, 500 and 5,000
    DATABASE_URL=postgres://… python -m boards.similarity.latency --sizes 500 5000

It creates a throw-away test database (Django's test database: a temporary
SQLite file, or `test_<name>_<pid>` on PostgreSQL, dropped at the end), fills
one atelier with N visible impossibles written from the evaluation set (its
cards and posts, with place names and a number mixed in so that no two are
equal), computes their features, then times:

- `similar()` for every post of the evaluation set and for hostile texts
  (empty, emoji, 280 characters of one word, HTML, bidi overrides), each call
  on its own, warm (the first call of a process also reads the thesaurus);
- `similar()` right after each of 30 new posts (the atelier's board changed,
  so its stacked features are rebuilt from the per-impossible cache);
- `similar()` in a process that has read nothing yet (every cache empty);
- `likely_duplicates()` on the same atelier.

Figures go to standard output; nothing is written elsewhere.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cerveau.settings")
    os.environ.setdefault("CERVEAU_INSECURE_DEFAULTS", "1")
    import django

    django.setup()


HOSTILE = [
    "",
    "😀😀😀🔥",
    "a" * 280,
    "<script>alert(1)</script><b>recruter</b> des soudeurs",
    "\u202esrueduos retuercer\u202c soudeurs \u200f\u200b",
    "Impossible de recruter des soudeurs " * 8,
]


def statements(n: int, seed: int = 7) -> list[str]:
    from boards.similarity import evaluate

    data = evaluate.load()
    base = data.card_texts + data.post_texts
    places = ["", " à Cognac", " à Jarnac", " en Charente", " à Segonzac", " à Barbezieux", " à Saintes"]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text = base[i % len(base)] + places[(i // len(base)) % len(places)]
        out.append(f"{text} ({rng.randint(1, 99)})"[:280] if i >= len(base) * len(places) else text)
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def measure(n: int) -> dict[str, float]:
    from boards.models import Atelier, Category, Impossible, Participant, Role
    from boards.services import participation
    from boards.similarity import engine, evaluate

    atelier = Atelier.objects.create(title=f"Mesure {n}", code=f"LAT{n % 1000:03d}")
    author = participation.join_atelier(atelier, name="Mesure", organisation="", role=Role.ENTREPRENEUR)
    Impossible.objects.bulk_create(
        Impossible(atelier=atelier, author=author, statement=s, category=Category.OTHER, submission_key=f"k{i}")
        for i, s in enumerate(statements(n))
    )
    started = time.perf_counter()
    engine.refresh_all(Impossible.objects.filter(atelier=atelier))
    backfill = time.perf_counter() - started

    queries = evaluate.load().post_texts + HOSTILE
    engine.similar(atelier, queries[0])  # warm: thesaurus read, features cached
    timings = []
    for query in queries:
        started = time.perf_counter()
        engine.similar(atelier, query)
        timings.append(1000 * (time.perf_counter() - started))
    hostile = timings[-len(HOSTILE) :]
    after_post = []
    for i, query in enumerate(queries[:30]):
        new = Impossible.objects.create(
            atelier=atelier, author=author, statement=query or "x", category=Category.OTHER, submission_key=f"n{i}"
        )
        engine.refresh(new.pk)
        started = time.perf_counter()
        engine.similar(atelier, queries[-1 - i])
        after_post.append(1000 * (time.perf_counter() - started))
    engine._prepared_cache.clear()
    engine._board_cache.clear()
    started = time.perf_counter()
    engine.similar(atelier, queries[1])
    cold = 1000 * (time.perf_counter() - started)
    started = time.perf_counter()
    pairs = engine.likely_duplicates(atelier)
    duplicates = 1000 * (time.perf_counter() - started)
    Participant.objects.filter(pk=author.pk).delete()
    atelier.delete()
    return {
        "n": n,
        "queries": len(timings),
        "p50": statistics.median(timings),
        "p95": percentile(timings, 0.95),
        "max": max(timings),
        "hostile_max": max(hostile),
        "after_post_p95": percentile(after_post, 0.95),
        "cold": cold,
        "likely_duplicates_ms": duplicates,
        "pairs": len(pairs),
        "backfill_s": backfill,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    args = parser.parse_args(argv)
    _setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        print(f"database: {connection.vendor}")
        print(
            "| impossibles | look-ups | p50 ms | p95 ms | max ms | worst hostile ms "
            "| p95 right after a post | cold process | likely_duplicates ms |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for n in args.sizes:
            r = measure(n)
            print(
                f"| {r['n']} | {r['queries']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.1f} | "
                f"{r['hostile_max']:.1f} | {r['after_post_p95']:.1f} | {r['cold']:.0f} | "
                f"{r['likely_duplicates_ms']:.0f} ({r['pairs']} pairs) |"
            )
            print(f"<!-- features of {r['n']} impossibles computed in {r['backfill_s']:.1f} s -->")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
