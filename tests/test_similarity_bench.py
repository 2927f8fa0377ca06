"""The « Ça ressemble à… » step of `make bench` (bench/similar.py), on a small
board, and its lines in the report."""

from __future__ import annotations

import pytest

from bench import report, similar
from boards.models import Atelier, Impossible

pytestmark = pytest.mark.django_db


def test_the_similar_step_times_publier_and_leaves_nothing_behind(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "impossible": (100000, 600)}
    row = similar.publier(40, queries=12)
    assert row["impossibles"] == 40
    assert row["all_ms"]["count"] == 12
    assert row["suggested_ms"]["count"] + row["published_ms"]["count"] == 12
    assert row["suggested_ms"]["count"] > 0  # the set's posts look like its cards
    assert row["cards_shown"] >= row["suggested_ms"]["count"]
    assert not Atelier.objects.exists() and not Impossible.objects.exists()


def test_the_report_states_the_budget_and_the_figures():
    row = {
        "impossibles": 500,
        "suggested_ms": {"count": 397, "p50": 29.0, "p95": 98.9, "max": 311.0},
        "published_ms": {"count": 24, "p50": 112.0, "p95": 256.8, "max": 488.3},
        "all_ms": {"count": 421, "p50": 30.4, "p95": 127.0, "max": 488.3},
        "cards_shown": 1019,
        "engine_ms": {"p50": 3.5, "p95": 12.1, "after_post_p95": 32.7},
    }
    results = {"setups": {}, "similar": {"sqlite": {"debug": False, "vendor": "sqlite", "rows": [row]}}}
    [target] = report.targets(results)
    assert target["met"] is True and target["measured"] == "98.9 ms"
    slow = {**row, "suggested_ms": {**row["suggested_ms"], "p95": 151.0}}
    assert report.targets({"setups": {}, "similar": {"postgres": {"rows": [slow]}}})[0]["met"] is False
    table = "\n".join(report.similar_section(results))
    assert "| sqlite | 500 | 29.0 (397) | 98.9 | 311.0 | 112.0 (24) | 256.8 | 127.0 | 3.5 | 12.1 | 32.7 |" in table
