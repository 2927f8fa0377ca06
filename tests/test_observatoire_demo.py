"""The demo season (`manage.py load_demo`): past ateliers across several
départements and régions, so the observatoire shows something on first run."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from boards.models import Atelier, Theme
from boards.observatoire import demo
from boards.observatoire.models import Figure, Level


@pytest.mark.django_db
def test_the_demo_season_fills_the_observatoire_the_same_way_every_time():
    user = User.objects.create_user("animation")

    count = demo.load(user)

    assert count == Atelier.objects.filter(code__startswith=demo.CODE_PREFIX).count() == 36
    assert Theme.objects.filter(status=Theme.Status.ACCEPTED).count() == len(demo.THEMES)
    shown = Figure.objects.filter(role="")
    assert set(shown.filter(level=Level.DEPARTEMENT).values_list("departement_code", flat=True)) == {"16", "33", "44"}
    assert {"region", "national"} <= set(shown.values_list("level", flat=True))
    # A fixed seed: the same figures on every run.
    assert shown.count() == 35
    assert sorted(shown.values_list("impossibles", flat=True))[-3:] == [5, 5, 6]
    page = Client().get("/observatoire/").content.decode()
    for name, _category, _statements in demo.THEMES:
        assert f"{name}</a>" in page.replace("&#x27;", "'")
