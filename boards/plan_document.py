"""The local action plan as plain data, read once for the plan page, the
public link and every export format.

`build_plan` reads the atelier in a constant number of queries, whatever
its size, and resolves every label in the atelier's language and every
date in its time zone: a plan exported by an English-speaking organiser
for a French atelier is still in French. Contacts shared in help offers
are only filled in when the caller asks for them (facilitators' exports);
an impossible posted without a name has no author anywhere in the plan.
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from django.db.models import Count, Prefetch
from django.utils import timezone
from django.utils.translation import pgettext

from boards.models import (
    ActionChange,
    ActionStatus,
    Atelier,
    Category,
    HelpKind,
    HelpOffer,
    Impossible,
    PlanAction,
    Role,
)
from boards.reads import Stats, load_stats

# The most-shared impossibles still waiting for an action or a helper.
UNADDRESSED_SIZE = 10
OPEN_STATUSES = (ActionStatus.TODO, ActionStatus.IN_PROGRESS)


@dataclass
class Figures(Stats):
    """The board's figures (boards.reads.load_stats, counted once for pages,
    pushes and documents), and the plan's own."""

    # {status value: count}, every status present.
    by_status: dict[str, int] = field(default_factory=dict)
    overdue: int = 0


@dataclass
class HelperRow:
    offer_id: int
    name: str
    organisation: str
    kind: str
    kind_label: str
    message: str
    contact: str | None  # None unless contacts were asked for

    @property
    def display(self) -> str:
        return self.name + (f" ({self.organisation})" if self.organisation else "")


@dataclass
class ActionRow:
    id: int
    title: str
    impossible_id: int
    impossible_statement: str
    category: str
    category_label: str
    me_too_count: int
    pilot_id: int
    pilot_name: str
    pilot_organisation: str
    pilot_is_participant: bool
    helpers: list[HelperRow]
    next_step: str
    due_on: datetime.date | None
    status: str
    status_label: str
    overdue: bool
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @property
    def pilot_display(self) -> str:
        return self.pilot_name + (f" ({self.pilot_organisation})" if self.pilot_organisation else "")


@dataclass
class ImpossibleRow:
    id: int
    statement: str
    details: str
    category: str
    category_label: str
    anonymous: bool
    author_name: str | None  # None when posted without a name
    author_organisation: str | None
    author_role_label: str | None
    me_too_count: int
    offer_count: int
    action_count: int
    created_at: datetime.datetime


@dataclass
class OfferRow:
    id: int
    impossible_id: int
    impossible_statement: str
    kind: str
    kind_label: str
    message: str
    author_name: str
    author_organisation: str
    contact: str | None
    accepted: bool
    created_at: datetime.datetime


@dataclass
class CategoryGroup:
    category: str
    label: str
    actions: list[ActionRow]


@dataclass
class Plan:
    atelier: Atelier
    language: str
    time_zone: str
    generated_at: datetime.datetime  # aware, in the atelier's time zone
    starts_at: datetime.datetime | None  # in the atelier's time zone
    facilitators: list[str]
    figures: Figures
    actions: list[ActionRow]  # by priority: most "moi aussi" first
    groups: list[CategoryGroup]
    impossibles: list[ImpossibleRow]  # by priority
    offers: list[OfferRow]
    without_action: list[ImpossibleRow]
    without_helper: list[ImpossibleRow]
    include_contacts: bool
    statuses: list[tuple[str, str]]

    @property
    def territory(self) -> str:
        return self.atelier.territory

    @property
    def venue(self) -> str:
        return self.atelier.venue

    @property
    def title(self) -> str:
        return self.atelier.title

    @property
    def filename_stem(self) -> str:
        from django.utils.text import slugify

        day = self.starts_at.date().isoformat() if self.starts_at else self.generated_at.date().isoformat()
        return f"plan-{slugify(self.atelier.title)[:60] or 'atelier'}-{day}"


def facilitator_names(atelier: Atelier) -> list[str]:
    """The team as the public plan and its exports name it: full names, and
    « l'équipe d'animation » for the accounts that have none. Never a login
    name: it is half of a credential (and sometimes an e-mail address)."""
    users = sorted(atelier.facilitators.all(), key=lambda user: (user.get_full_name().casefold(), user.pk))
    names = list(dict.fromkeys(name for user in users if (name := " ".join(user.get_full_name().split()))))
    if len(names) < len(users):
        names.append(pgettext("facilitators", "l'équipe d'animation"))
    return names


def build_plan(
    atelier: Atelier, *, include_contacts: bool, for_pilot: bool = False, now: datetime.datetime | None = None
) -> Plan:
    """The plan of one atelier, as the facilitators (contacts included) or
    the public link (no contacts) see it; `for_pilot`: as a pilot's follow-up
    link sees it, with only the contacts their helpers agreed to show pilots."""
    # Re-read: the language and time zone in force are the stored ones.
    atelier = Atelier.objects.get(pk=atelier.pk)
    zone = zoneinfo.ZoneInfo(atelier.time_zone)
    now = timezone.localtime(now or timezone.now(), zone)
    today = now.date()
    # Labels in the language in force: the atelier's for documents and links
    # (boards.locale.atelier_locale), the reader's on their own pages.
    facilitators = facilitator_names(atelier)
    impossibles = list(
        Impossible.objects.visible()
        .filter(atelier=atelier)
        .select_related("author")
        .annotate(n_actions=Count("actions"))
        .order_by("-me_too_count", "-offer_count", "created_at", "id")
    )
    offers = list(
        HelpOffer.objects.filter(
            impossible__atelier=atelier, hidden=False, impossible__hidden=False, impossible__pending=False
        )
        .select_related("author", "impossible")
        .prefetch_related(Prefetch("actions", queryset=PlanAction.objects.only("pk"), to_attr="in_actions"))
    )
    actions = list(
        PlanAction.objects.filter(atelier=atelier, impossible__hidden=False, impossible__pending=False)
        .select_related("impossible", "pilot__participant")
        .prefetch_related(
            Prefetch(
                "accepted_offers",
                queryset=HelpOffer.objects.filter(hidden=False).select_related("author").order_by("created_at"),
                to_attr="helpers",
            )
        )
        .order_by("-impossible__me_too_count", "impossible__created_at", "impossible_id", "created_at", "id")
    )
    category_labels = dict(Category.choices)
    kind_labels = dict(HelpKind.choices)
    status_labels = dict(ActionStatus.choices)
    role_labels = dict(Role.choices)

    def helper_row(offer: HelpOffer) -> HelperRow:
        return HelperRow(
            offer_id=offer.pk,
            name=offer.author.name,
            organisation=offer.author.organisation,
            kind=offer.kind,
            kind_label=str(kind_labels.get(offer.kind, offer.kind)),
            message=offer.message,
            contact=offer.contact if include_contacts and (offer.contact_for_pilots or not for_pilot) else None,
        )

    action_rows = [
        ActionRow(
            id=action.pk,
            title=action.title,
            impossible_id=action.impossible_id,
            impossible_statement=action.impossible.statement,
            category=action.impossible.category,
            category_label=str(category_labels.get(action.impossible.category, "")),
            me_too_count=action.impossible.me_too_count,
            pilot_id=action.pilot_id,
            pilot_name=action.pilot.display_name,
            pilot_organisation=action.pilot.display_organisation,
            pilot_is_participant=action.pilot.participant_id is not None,
            helpers=[helper_row(offer) for offer in action.helpers],
            next_step=action.next_step,
            due_on=action.due_on,
            status=action.status,
            status_label=str(status_labels[action.status]),
            overdue=action.is_overdue(today),
            created_at=timezone.localtime(action.created_at, zone),
            updated_at=timezone.localtime(action.updated_at, zone),
        )
        for action in actions
    ]
    impossible_rows = [
        ImpossibleRow(
            id=impossible.pk,
            statement=impossible.statement,
            details=impossible.details,
            category=impossible.category,
            category_label=str(category_labels.get(impossible.category, "")),
            anonymous=impossible.anonymous,
            author_name=None if impossible.anonymous else impossible.author.name,
            author_organisation=None if impossible.anonymous else impossible.author.organisation,
            author_role_label=None if impossible.anonymous else str(role_labels.get(impossible.author.role, "")),
            me_too_count=impossible.me_too_count,
            offer_count=impossible.offer_count,
            action_count=impossible.n_actions,
            created_at=timezone.localtime(impossible.created_at, zone),
        )
        for impossible in impossibles
    ]
    rank = {row.id: position for position, row in enumerate(impossible_rows)}
    offer_rows = sorted(
        (
            OfferRow(
                id=offer.pk,
                impossible_id=offer.impossible_id,
                impossible_statement=offer.impossible.statement,
                kind=offer.kind,
                kind_label=str(kind_labels.get(offer.kind, offer.kind)),
                message=offer.message,
                author_name=offer.author.name,
                author_organisation=offer.author.organisation,
                contact=offer.contact if include_contacts else None,
                accepted=bool(offer.in_actions),
                created_at=timezone.localtime(offer.created_at, zone),
            )
            for offer in offers
            if offer.impossible_id in rank
        ),
        key=lambda row: (rank[row.impossible_id], row.created_at, row.id),
    )
    groups_by_category: dict[str, list[ActionRow]] = defaultdict(list)
    for row in action_rows:
        groups_by_category[row.category].append(row)
    # Categories by their most shared impossible, in the plan's priority order.
    groups = [
        CategoryGroup(category, str(category_labels.get(category, "")), rows)
        for category, rows in groups_by_category.items()
    ]
    by_status = {value: 0 for value in ActionStatus.values}
    for row in action_rows:
        by_status[row.status] += 1
    figures = Figures(
        **asdict(load_stats(atelier.pk)),
        by_status=by_status,
        overdue=sum(1 for row in action_rows if row.overdue),
    )
    shared = [row for row in impossible_rows if row.me_too_count > 0]
    return Plan(
        atelier=atelier,
        language=atelier.language,
        time_zone=atelier.time_zone,
        generated_at=now,
        starts_at=timezone.localtime(atelier.starts_at, zone) if atelier.starts_at else None,
        facilitators=facilitators,
        figures=figures,
        actions=action_rows,
        groups=groups,
        impossibles=impossible_rows,
        offers=offer_rows,
        without_action=[row for row in shared if row.action_count == 0][:UNADDRESSED_SIZE],
        without_helper=[row for row in shared if row.offer_count == 0][:UNADDRESSED_SIZE],
        include_contacts=include_contacts,
        statuses=[(value, str(label)) for value, label in ActionStatus.choices],
    )


def action_history(action_ids: list[int]) -> dict[int, list[ActionChange]]:
    """The dated history of some actions, newest first, in one query."""
    history: dict[int, list[ActionChange]] = defaultdict(list)
    for change in ActionChange.objects.filter(action_id__in=action_ids).order_by("-at", "-id"):
        history[change.action_id].append(change)
    return history
