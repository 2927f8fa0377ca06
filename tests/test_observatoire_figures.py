"""The published figures (manage.py observatoire_figures): what is counted,
and statistical secrecy: a cell is shown with at least 3 ateliers and 5
distinct participants and no atelier above 85 % of it, else rolled up
(département → région → nation), else never stored."""

from __future__ import annotations

import datetime

import pytest
from django.core.management import call_command
from django.utils import translation

from boards.models import ActionStatus, Impossible, Reach, Role
from boards.observatoire import figures, secrecy
from boards.observatoire.models import Figure, FigureRun, Level
from tests import observatoire_season as season

pytestmark = pytest.mark.django_db


def _rows(**filters) -> list[Figure]:
    return list(Figure.objects.filter(role="", **filters))


def test_a_departement_with_enough_ateliers_is_shown_with_exact_counts():
    welders = season.theme("Recruter des soudeurs")
    season.big_season(welders)

    season.compute()

    (charente,) = _rows(departement_code="16")
    assert (charente.level, charente.region_code, charente.quarter) == (Level.DEPARTEMENT, "75", "2026-T4")
    assert (charente.category, charente.theme_id) == (welders.category, welders.pk)
    assert charente.ateliers == 5
    assert charente.impossibles == charente.impossibles_with_action == 5
    assert charente.me_toos == 10
    assert charente.offers == 5
    assert (charente.actions, charente.actions_done) == (10, 5)


def test_small_departements_are_pooled_into_their_region_then_the_nation():
    welders = season.theme("Recruter des soudeurs")
    season.big_season(welders)
    for insee in ("17306", "17300", "44109", "44109"):
        season.room(season.atelier(insee), people=3, theme=welders)

    season.compute()

    assert not Figure.objects.filter(departement_code__in=["17", "44"]).exists()
    # Two ateliers are not enough for a remainder of Nouvelle-Aquitaine, nor of Pays de la Loire...
    assert not Figure.objects.filter(level=Level.REGION).exists()
    # ... but the four together make the nation's remainder.
    (nation,) = _rows(level=Level.NATIONAL)
    assert (nation.departement_code, nation.region_code, nation.ateliers, nation.impossibles) == ("", "", 4, 4)


def test_a_region_remainder_is_shown_when_it_passes():
    welders = season.theme("Recruter des soudeurs")
    for insee in ("17306", "17300", "86194", "86194"):
        season.room(season.atelier(insee), people=3, theme=welders)

    season.compute()

    (remainder,) = _rows()
    assert (remainder.level, remainder.region_code, remainder.departement_code) == (Level.REGION, "75", "")
    assert remainder.ateliers == 4


def test_three_ateliers_with_four_people_are_not_enough():
    for insee in ("16102", "16167", "16015"):
        season.room(season.atelier(insee), people=1)
    season.room(season.atelier("16102"), people=1, me_toos=False)

    stored, held = season.compute()

    assert stored == 0
    assert held == 2  # the cell for every role, and the entrepreneurs' cell


def test_two_ateliers_with_many_people_are_not_enough():
    for insee in ("16102", "16167"):
        season.room(season.atelier(insee), people=10)

    assert season.compute()[0] == 0


def test_one_atelier_above_85_percent_of_the_impossibles_hides_the_cell():
    big = season.atelier("16102")
    season.room(big, people=3, statements=tuple(f"Impossible n° {i}" for i in range(18)))
    season.room(season.atelier("16167"), people=3)
    season.room(season.atelier("16015"), people=3)

    assert season.compute()[0] == 0


def test_one_atelier_at_85_percent_or_less_is_fine():
    big = season.atelier("16102")
    season.room(big, people=3, statements=tuple(f"Impossible n° {i}" for i in range(17)))
    season.room(season.atelier("16167"), people=3, statements=("a", "b"))
    season.room(season.atelier("16015"), people=3)

    season.compute()
    (row,) = _rows()
    assert row.impossibles == 20


def test_room_only_hidden_pending_and_merged_impossibles_are_not_counted():
    welders = season.theme("Recruter des soudeurs")
    season.big_season(welders)
    charente = season.atelier("16102")
    kept = season.room(charente, people=3, reach=Reach.ROOM, theme=welders)[0]
    hidden = season.room(charente, people=3, theme=welders)[0]
    pending = season.room(charente, people=3, theme=welders)[0]
    merged = season.room(charente, people=3, theme=welders)[0]
    Impossible.objects.filter(pk=hidden.pk).update(hidden=True)
    Impossible.objects.filter(pk=pending.pk).update(pending=True)
    Impossible.objects.filter(pk=merged.pk).update(merged_into=kept)

    season.compute()

    (row,) = _rows(departement_code="16")
    assert (row.ateliers, row.impossibles) == (5, 5)


def test_a_suggested_theme_counts_as_no_theme():
    suggested = season.theme("Soudeurs", accepted=False)
    season.big_season(suggested)

    season.compute()

    assert {row.theme_id for row in _rows()} == {None}


def test_each_role_has_its_own_cells_besides_every_role():
    welders = season.theme("Recruter des soudeurs")
    season.big_season(welders)

    season.compute()

    roles = set(Figure.objects.filter(departement_code="16").values_list("role", flat=True))
    assert roles == {"", Role.ENTREPRENEUR}


def test_the_quarter_is_the_ateliers_own():
    # 23:30 UTC on 31 December is already 2027 in Paris.
    new_year = datetime.datetime(2026, 12, 31, 23, 30, tzinfo=datetime.UTC)
    assert figures.quarter_of(new_year, "Europe/Paris") == "2027-T1"
    assert figures.quarter_of(new_year, "America/Martinique") == "2026-T4"


def test_a_quarter_key_reads_in_the_language_of_the_page():
    with translation.override("fr"):
        assert figures.quarter_label("2026-T4") == "T4 2026"
    with translation.override("en"):
        assert figures.quarter_label("2026-T4") == "Q4 2026"
    # Anything else is shown as it is.
    assert figures.quarter_label("2026") == "2026"


def test_the_command_is_idempotent_and_records_its_run(capsys):
    welders = season.theme("Recruter des soudeurs")
    season.big_season(welders)

    call_command("observatoire_figures")
    first = list(Figure.objects.order_by("quarter", "level", "departement_code", "role").values())
    call_command("observatoire_figures")
    second = list(Figure.objects.order_by("quarter", "level", "departement_code", "role").values())

    strip = [{k: v for k, v in row.items() if k != "id"} for row in first]
    assert strip == [{k: v for k, v in row.items() if k != "id"} for row in second]
    run = FigureRun.objects.get()
    assert run.computed_at is not None and run.rows == len(second)
    assert "figure(s) published" in capsys.readouterr().out


def test_the_secrecy_rule_itself():
    cell = secrecy.Cell()
    for atelier_id, people in ((1, [1, 2]), (2, [3, 4]), (3, [5])):
        cell.counts(atelier_id)[secrecy.IMPOSSIBLES] += 1
        cell.participants |= set(people)
    assert secrecy.can_show(cell)

    cell.participants.discard(5)
    assert not secrecy.can_show(cell)


def test_actions_count_with_their_status():
    welders = season.theme("Recruter des soudeurs")
    for insee in season.COMMUNES["16"]:
        season.room(season.atelier(insee), people=3, theme=welders, actions=(ActionStatus.ABANDONED,))

    season.compute()

    (row,) = _rows()
    assert (row.actions, row.actions_done, row.impossibles_with_action) == (5, 0, 5)


def _elu(insee: str, **extra):
    return season.room(season.atelier(insee), people=3, role=Role.ELECTED, **extra)


def test_roles_are_hidden_when_the_hidden_ones_could_be_subtracted_from_the_whole():
    welders = season.theme("Recruter des soudeurs")
    season.big_season(welders)
    # One atelier of élus in Charente: its cell alone is far too small, and
    # « every role » minus « entrepreneurs » would give it away.
    _elu("16102", theme=welders)

    season.compute()

    assert set(Figure.objects.filter(departement_code="16").values_list("role", flat=True)) == {""}
    # Nor does it reappear pooled higher up: the whole already counts it.
    assert not Figure.objects.filter(role=Role.ELECTED).exists()
    assert Figure.objects.get(role="", departement_code="16").ateliers == 6


def test_roles_are_shown_when_the_hidden_ones_together_pass():
    welders = season.theme("Recruter des soudeurs")
    season.big_season(welders)
    # Élus in two ateliers, agents in two others: each too small, together
    # four ateliers and twelve people.
    for insee in ("16102", "16167"):
        _elu(insee, theme=welders)
    for insee in ("16015", "16102"):
        season.room(season.atelier(insee), people=3, role=Role.PUBLIC_AGENT, theme=welders)

    season.compute()

    roles = set(Figure.objects.filter(departement_code="16").values_list("role", flat=True))
    assert roles == {"", Role.ENTREPRENEUR}
