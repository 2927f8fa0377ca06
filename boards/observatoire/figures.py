"""The figures the observatoire publishes, computed by `manage.py
observatoire_figures` (daily; safe to run again or twice at once).

One cell per (quarter, département, région, category, theme, poster's role):
the quarter of the atelier's date in its own time zone; the theme when it
is accepted (None otherwise), and then the theme's category rather than
each impossible's, so that a theme is one row per territory and quarter;
the role of the impossible's author, and "" for every role. Each cell is
published at the département when it passes the secrecy rules
(`secrecy`), else pooled into its région's remainder, else the nation's;
what fails at the nation is never stored. Only stored figures are ever
shown, so a small cell cannot surface on any page, map or export.
"""

from __future__ import annotations

import zoneinfo
from collections import Counter, defaultdict

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from boards.models import ActionStatus, HelpOffer, MeToo, PlanAction, Theme
from boards.observatoire import secrecy, themes
from boards.observatoire.models import Figure, FigureRun, Level

ALL_ROLES = ""


def quarter_of(moment, time_zone: str) -> str:
    """The quarter's key, as stored and in open data: "2026-T4"."""
    local = timezone.localtime(moment, zoneinfo.ZoneInfo(time_zone))
    return f"{local.year}-T{(local.month - 1) // 3 + 1}"


def quarter_label(key: str) -> str:
    """A quarter's key as the reader's language writes it: « T4 2026 », "Q4 2026"."""
    year, _separator, number = key.partition("-T")
    if not (year.isdigit() and number.isdigit()):
        return key
    # Translators: a quarter of a year, e.g. « T4 2026 » (English: "Q4 2026").
    return _("T%(number)s %(year)s") % {"number": number, "year": year}


def _cells() -> dict[tuple, secrecy.Cell]:
    counted = themes.counted().filter(atelier__departement_code__gt="", atelier__region_code__gt="")
    impossibles = list(
        counted.values_list(
            "pk",
            "atelier_id",
            "author_id",
            "author__role",
            "category",
            "theme_id",
            "theme__status",
            "theme__category",
            "atelier__departement_code",
            "atelier__region_code",
            "atelier__starts_at",
            "atelier__created_at",
            "atelier__time_zone",
        )
    )
    ids = counted.values("pk")
    me_toos = defaultdict(set)
    for impossible_id, participant_id in MeToo.objects.filter(impossible__in=ids).values_list(
        "impossible_id", "participant_id"
    ):
        me_toos[impossible_id].add(participant_id)
    offers = Counter(HelpOffer.objects.filter(impossible__in=ids, hidden=False).values_list("impossible_id", flat=True))
    actions = defaultdict(list)
    for impossible_id, status in PlanAction.objects.filter(impossible__in=ids).values_list("impossible_id", "status"):
        actions[impossible_id].append(status)

    cells: dict[tuple, secrecy.Cell] = defaultdict(secrecy.Cell)
    for (
        pk,
        atelier_id,
        author_id,
        role,
        category,
        theme_id,
        theme_status,
        theme_category,
        departement,
        region,
        starts_at,
        created_at,
        time_zone,
    ) in impossibles:
        accepted = theme_id is not None and theme_status == Theme.Status.ACCEPTED
        theme_key = theme_id if accepted else None
        category_key = theme_category if accepted else category
        quarter = quarter_of(starts_at or created_at, time_zone)
        statuses = actions[pk]
        for role_key in (ALL_ROLES, role):
            cell = cells[(quarter, departement, region, category_key, theme_key, role_key)]
            counts = cell.counts(atelier_id)
            counts[secrecy.IMPOSSIBLES] += 1
            counts[secrecy.WITH_ACTION] += bool(statuses)
            counts[secrecy.ME_TOOS] += len(me_toos[pk])
            counts[secrecy.OFFERS] += offers[pk]
            counts[secrecy.ACTIONS] += len(statuses)
            counts[secrecy.DONE] += statuses.count(ActionStatus.DONE)
            cell.participants.add(author_id)
            cell.participants |= me_toos[pk]
    return cells


def _figure(key: tuple, level: str, cell: secrecy.Cell) -> Figure:
    quarter, departement, region, category, theme_id, role = key
    totals = dict(zip(secrecy.MEASURES, cell.totals(), strict=True))
    return Figure(
        quarter=quarter,
        level=level,
        departement_code=departement,
        region_code=region,
        category=category,
        theme_id=theme_id,
        role=role,
        ateliers=len(cell.per_atelier),
        **totals,
    )


def _decide(cells: dict[tuple, secrecy.Cell]) -> tuple[list[tuple], list[tuple]]:
    """Split one level's cells into those shown here and those pooled one
    level up, as (key, cell) pairs.

    The cells of one role go with the cell of every role of the same key:
    pooled up with it when it is not shown. When it is shown, a role's cell
    is shown beside it only if the roles left hidden there, taken together,
    would pass the rules too (otherwise subtracting the shown roles from the
    whole would reveal them): else no role is shown there. Role cells not
    shown beside a shown whole are not pooled up (the whole already counts
    them), so that at every level the roles' remainders are parts of the
    whole's remainder."""
    groups: dict[tuple, dict[str, secrecy.Cell]] = defaultdict(dict)
    for key, cell in cells.items():
        groups[key[:-1]][key[-1]] = cell
    shown, pooled = [], []
    for base, by_role in sorted(groups.items(), key=lambda item: repr(item[0])):
        whole = by_role.get(ALL_ROLES)
        roles = {role: cell for role, cell in by_role.items() if role != ALL_ROLES}
        if whole is None or not secrecy.can_show(whole):
            pooled += [((*base, role), cell) for role, cell in by_role.items()]
            continue
        shown.append(((*base, ALL_ROLES), whole))
        hidden = secrecy.Cell()
        for cell in roles.values():
            if not secrecy.can_show(cell):
                hidden.absorb(cell)
        if not hidden.per_atelier or secrecy.can_show(hidden):
            shown += [((*base, role), cell) for role, cell in roles.items() if secrecy.can_show(cell)]
    return shown, pooled


def publishable(cells: dict[tuple, secrecy.Cell]) -> tuple[list[Figure], int]:
    """The figures that pass the secrecy rules, rolling small cells up;
    and how many fine cells could not be shown at their own level."""
    figures = []
    shown, pooled = _decide(cells)
    figures += [_figure(key, Level.DEPARTEMENT, cell) for key, cell in shown]
    held = len(cells) - len(shown)
    regions: dict[tuple, secrecy.Cell] = defaultdict(secrecy.Cell)
    for (quarter, _departement, region, category, theme_id, role), cell in pooled:
        regions[(quarter, "", region, category, theme_id, role)].absorb(cell)
    shown, pooled = _decide(regions)
    figures += [_figure(key, Level.REGION, cell) for key, cell in shown]
    nation: dict[tuple, secrecy.Cell] = defaultdict(secrecy.Cell)
    for (quarter, _departement, _region, category, theme_id, role), cell in pooled:
        nation[(quarter, "", "", category, theme_id, role)].absorb(cell)
    shown, _dropped = _decide(nation)
    figures += [_figure(key, Level.NATIONAL, cell) for key, cell in shown]
    return figures, held


def compute() -> tuple[int, int]:
    """Replace the published figures with fresh ones. Returns (figures
    stored, fine cells held back). Two runs at once take turns on the run
    row's lock, so the table never holds a mix of both."""
    FigureRun.objects.get_or_create(pk=1)
    with transaction.atomic():
        run = FigureRun.objects.select_for_update().get(pk=1)
        figures, held = publishable(_cells())
        Figure.objects.all().delete()
        Figure.objects.bulk_create(figures, batch_size=1000)
        run.computed_at = timezone.now()
        run.rows = len(figures)
        run.save(update_fields=["computed_at", "rows"])
    return len(figures), held
