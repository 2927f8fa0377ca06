"""What the observatoire's public pages and open data read: only the
published figures (already through the secrecy rules) and, for « levé
ailleurs », actions whose words their authors and facilitators agreed to
publish. Every function runs a fixed number of queries, whatever the
number of ateliers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from django.db.models import Q, QuerySet, Sum

from boards import territories
from boards.models import ActionStatus, Category, PlanAction, Reach
from boards.observatoire.models import Figure, FigureRun, Level, Theme

COUNTS = ("ateliers", "impossibles", "impossibles_with_action", "me_toos", "offers", "actions", "actions_done")
SUMS = {f"n_{name}": Sum(name) for name in COUNTS}

# The action-status filter, on a theme's figures.
WITHOUT_ACTION, WITH_ACTION, LIFTED = "sans-action", "avec-action", "levee"
STATUS_FILTERS = {
    WITHOUT_ACTION: Q(n_actions=0),
    WITH_ACTION: Q(n_actions__gt=0),
    LIFTED: Q(n_actions_done__gt=0),
}
DONE_ELSEWHERE = 8


@dataclass(frozen=True)
class Filters:
    quarter: str = ""
    region: str = ""
    departement: str = ""
    category: str = ""
    role: str = ""  # "" for every role
    status: str = ""


def _percent(part: int, whole: int) -> int | None:
    return round(100 * part / whole) if whole else None


@dataclass(frozen=True)
class Line:
    """The published figures of one theme (or of everything) for the filters."""

    ateliers: int
    impossibles: int
    impossibles_with_action: int
    me_toos: int
    offers: int
    actions: int
    actions_done: int
    theme_id: int | None = None
    theme_name: str = ""
    theme_slug: str = ""
    category: str = ""

    @classmethod
    def from_row(cls, row: dict) -> Line:
        return cls(
            **{name: row.get(f"n_{name}") or 0 for name in COUNTS},
            theme_id=row.get("theme_id"),
            theme_name=row.get("theme__name") or "",
            theme_slug=row.get("theme__slug") or "",
            category=row.get("theme__category") or "",
        )

    @property
    def action_share(self) -> int | None:
        """Percentage of the impossibles that became at least one action."""
        return _percent(self.impossibles_with_action, self.impossibles)

    @property
    def lifted_share(self) -> int | None:
        """« Taux de levée »: percentage of the actions marked done."""
        return _percent(self.actions_done, self.actions)

    @property
    def category_label(self) -> str:
        return str(Category(self.category).label) if self.category in Category.values else ""


def figures(filters: Filters) -> QuerySet:
    queryset = Figure.objects.filter(role=filters.role)
    if filters.quarter:
        queryset = queryset.filter(quarter=filters.quarter)
    if filters.departement:
        queryset = queryset.filter(departement_code=filters.departement)
    elif filters.region:
        queryset = queryset.filter(region_code=filters.region)
    if filters.category:
        queryset = queryset.filter(category=filters.category)
    return queryset


def ranking(filters: Filters) -> list[Line]:
    """Accepted themes, most ateliers first, then most « moi aussi »."""
    rows = (
        figures(filters)
        .filter(theme__isnull=False, theme__status=Theme.Status.ACCEPTED)
        .values("theme_id", "theme__name", "theme__slug", "theme__category")
        .annotate(**SUMS)
    )
    if filters.status in STATUS_FILTERS:
        rows = rows.filter(STATUS_FILTERS[filters.status])
    return [Line.from_row(row) for row in rows.order_by("-n_ateliers", "-n_me_toos", "theme__name", "theme_id")]


def totals(filters: Filters) -> Line:
    return Line.from_row(figures(filters).aggregate(**SUMS))


def departement_values(filters: Filters) -> dict[str, int]:
    """Impossibles by département, for the map: only the figures published
    at the département (a remainder belongs to no one département)."""
    rows = (
        figures(dataclasses.replace(filters, departement=""))
        .filter(level=Level.DEPARTEMENT)
        .values("departement_code")
        .annotate(n=Sum("impossibles"))
    )
    return {row["departement_code"]: row["n"] for row in rows}


def quarters() -> list[str]:
    return list(Figure.objects.order_by("quarter").values_list("quarter", flat=True).distinct())


def computed_at():
    return FigureRun.objects.filter(pk=1).values_list("computed_at", flat=True).first()


def trend(theme: Theme) -> list[tuple[str, Line]]:
    """A theme's published figures by quarter, oldest first."""
    rows = Figure.objects.filter(role="", theme=theme).values("quarter").annotate(**SUMS).order_by("quarter")
    return [(row["quarter"], Line.from_row(row)) for row in rows]


@dataclass(frozen=True)
class Place:
    level: str
    code: str
    name: str
    line: Line


def places(theme: Theme) -> list[Place]:
    """Where a theme's figures were published: départements, then the
    remainders of régions and of the nation."""
    rows = (
        Figure.objects.filter(role="", theme=theme)
        .values("level", "region_code", "departement_code")
        .annotate(**SUMS)
        .order_by("level", "region_code", "departement_code")
    )
    found = []
    for row in rows:
        level = row["level"]
        if level == Level.DEPARTEMENT:
            code, place = row["departement_code"], territories.departement(row["departement_code"])
        elif level == Level.REGION:
            code, place = row["region_code"], territories.region(row["region_code"])
        else:
            code, place = "", None
        found.append(Place(level, code, place.name if place else "", Line.from_row(row)))
    order = {Level.DEPARTEMENT: 0, Level.REGION: 1, Level.NATIONAL: 2}
    return sorted(found, key=lambda p: (order[p.level], p.code))


@dataclass(frozen=True)
class Lifted:
    """An action marked done, shown in « levé ailleurs »: only from a plan
    its facilitators published (its public link already shows the action);
    the impossible's words only when their author made them publishable;
    its région, never finer; never a name; the pilot's organisation only
    when the pilot agreed on their follow-up page (`Pilot.show_organisation`)."""

    theme_name: str
    theme_slug: str
    title: str
    statement: str
    region: str
    organisation: str = ""


def done_elsewhere(theme_ids: list[int], *, region: str = "", departement: str = "") -> list[Lifted]:
    actions = PlanAction.objects.filter(
        status=ActionStatus.DONE,
        impossible__theme_id__in=theme_ids,
        impossible__theme__status=Theme.Status.ACCEPTED,
        impossible__reach__in=[Reach.COUNTED, Reach.PUBLISHABLE],
        impossible__hidden=False,
        impossible__pending=False,
        impossible__merged_into__isnull=True,
        atelier__region_code__gt="",
        atelier__share_token__isnull=False,
    )
    if departement:
        actions = actions.exclude(atelier__departement_code=departement)
    if region:
        actions = actions.exclude(atelier__region_code=region)
    rows = actions.order_by("-updated_at", "-pk").values(
        "title",
        "impossible__statement",
        "impossible__reach",
        "impossible__theme__name",
        "impossible__theme__slug",
        "atelier__region_code",
        "pilot__show_organisation",
        "pilot__organisation",
        "pilot__participant_id",
        "pilot__participant__organisation",
    )[:DONE_ELSEWHERE]
    found = []
    for row in rows:
        place = territories.region(row["atelier__region_code"])
        found.append(
            Lifted(
                theme_name=row["impossible__theme__name"],
                theme_slug=row["impossible__theme__slug"],
                title=row["title"],
                statement=row["impossible__statement"] if row["impossible__reach"] == Reach.PUBLISHABLE else "",
                region=place.name if place else "",
                organisation=_pilot_organisation(row),
            )
        )
    return found


def _pilot_organisation(row: dict) -> str:
    """As `Pilot.display_organisation` (a participant's own, kept current),
    and only with the pilot's consent."""
    if not row["pilot__show_organisation"]:
        return ""
    if row["pilot__participant_id"]:
        return row["pilot__participant__organisation"] or ""
    return row["pilot__organisation"]


@dataclass(frozen=True)
class Comparison:
    """The facilitators' « comparé au département » panel: their atelier's
    own counts (theirs to see) beside the published figures of its
    département, or of its région when the département has none shown."""

    own: Line
    level: str  # Level.DEPARTEMENT or Level.REGION; "" when nothing is published around
    code: str
    name: str
    territory: Line | None
    themes: list[Line]
    lifted: list[Lifted]


def compare(atelier) -> Comparison | None:
    """None for an atelier without a territory (no INSEE code)."""
    from django.db.models import Count, Exists, OuterRef

    from boards.observatoire import themes as theme_module

    if not atelier.departement_code:
        return None
    counted = theme_module.counted().filter(atelier=atelier)
    own = counted.annotate(has_action=Exists(PlanAction.objects.filter(impossible=OuterRef("pk")))).aggregate(
        n_impossibles=Count("pk"),
        n_impossibles_with_action=Count("pk", filter=Q(has_action=True)),
        n_me_toos=Sum("me_too_count"),
    )
    actions = PlanAction.objects.filter(impossible__in=counted.values("pk")).aggregate(
        n_actions=Count("pk"), n_actions_done=Count("pk", filter=Q(status=ActionStatus.DONE))
    )
    own_line = Line.from_row({**own, **actions, "n_ateliers": 1})
    theme_ids = [pk for pk in counted.filter(theme__status=Theme.Status.ACCEPTED).values_list("theme_id", flat=True)]
    level, code, place = Level.DEPARTEMENT, atelier.departement_code, territories.departement(atelier.departement_code)
    filters = Filters(departement=code)
    territory = totals(filters)
    if not territory.impossibles and atelier.region_code:
        level, code, place = Level.REGION, atelier.region_code, territories.region(atelier.region_code)
        filters = Filters(region=code)
        territory = totals(filters)
    if not territory.impossibles:
        level, code, place, territory = "", "", None, None
    return Comparison(
        own=own_line,
        level=level,
        code=code,
        name=place.name if place else "",
        territory=territory,
        themes=ranking(filters)[:3] if territory else [],
        lifted=done_elsewhere(sorted(set(theme_ids)), departement=atelier.departement_code) if theme_ids else [],
    )


# --- « Où en est-on ? » ----------------------------------------------------------------

SCOPES = {"commune": "commune_code", "epci": "epci_code", "departement": "departement_code"}
OPEN_STATUSES = (ActionStatus.TODO, ActionStatus.IN_PROGRESS)


def open_actions_nearby(atelier, user, scope: str) -> QuerySet:
    """The open actions of earlier ateliers of the same commune, EPCI or
    département (`scope`) that this atelier's facilitators may carry on:
    those of ateliers `user` ran, or whose plan was published; not already
    carried on here. Oldest atelier first."""
    field = SCOPES.get(scope)
    code = getattr(atelier, field, "") if field else ""
    if not code:
        return PlanAction.objects.none()
    moment = atelier.starts_at or atelier.created_at
    earlier = Q(atelier__starts_at__lt=moment) | Q(atelier__starts_at__isnull=True, atelier__created_at__lt=moment)
    return (
        PlanAction.objects.filter(
            earlier,
            Q(atelier__facilitators=user) | Q(atelier__share_token__isnull=False),
            status__in=OPEN_STATUSES,
            impossible__hidden=False,
            impossible__pending=False,
            **{f"atelier__{field}": code},
        )
        .exclude(atelier=atelier)
        .exclude(continued_by__atelier=atelier)
        .select_related("atelier", "impossible", "pilot__participant")
        .distinct()
        .order_by("atelier__starts_at", "atelier_id", "created_at", "pk")
    )
