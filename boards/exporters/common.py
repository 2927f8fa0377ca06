"""What every format says the same way: labels, dates, numbers, columns."""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from boards.plan_document import ActionRow, ImpossibleRow, Plan

APP_NAME = "Cerveau collectif"


# --- Shared wording -----------------------------------------------------------------------------

# C0 controls other than tab and line breaks: invalid in XLSX, iCalendar and
# PDF text, and never typed on purpose.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str | None) -> str:
    return CONTROL.sub("", text or "")


def one_line(text: str | None) -> str:
    """Text for a field that holds one line (a calendar's name): each line
    break becomes a space; the rest is kept as is."""
    return re.sub(r"\r\n|[\r\n]", " ", clean_text(text))


def fmt_number(value: int) -> str:
    """3 000 in French, 3,000 in English."""
    return formats.number_format(value, force_grouping=True)


def fmt_date(value: datetime.date | None) -> str:
    return formats.date_format(value, "DATE_FORMAT") if value else ""


def fmt_moment(plan: Plan, value: datetime.datetime | None) -> str:
    """A date and time as people of the atelier read it, in its time zone."""
    if value is None:
        return ""
    local = timezone.localtime(value, timezone=plan_zone(plan))
    return _("%(date)s à %(time)s") % {
        "date": formats.date_format(local, "DATE_FORMAT"),
        "time": formats.time_format(local, "TIME_FORMAT"),
    }


def plan_zone(plan: Plan) -> datetime.tzinfo:
    return zoneinfo.ZoneInfo(plan.time_zone)


def territory_line(plan: Plan) -> str:
    atelier = plan.atelier
    return plan.territory or ", ".join(part for part in (atelier.commune, atelier.departement, atelier.region) if part)


def header_lines(plan: Plan) -> list[tuple[str, str]]:
    """The header's labelled lines, blank ones left out."""
    atelier = plan.atelier
    place = atelier.commune + (f" ({atelier.insee_code})" if atelier.insee_code and atelier.commune else "")
    lines = [
        (_("Date"), fmt_moment(plan, plan.starts_at) if plan.starts_at else _("à fixer")),
        (_("Lieu"), plan.venue),
        (_("Commune"), place if place and place != territory_line(plan) else ""),
        (_("Animation"), ", ".join(plan.facilitators)),
    ]
    return [(label, value) for label, value in lines if value]


def figure_rows(plan: Plan) -> list[tuple[str, int]]:
    figures = plan.figures
    return [
        (_("Participants"), figures.participants),
        (_("Impossibles"), figures.impossibles),
        (_("« moi aussi »"), figures.me_toos),
        (_("Offres d'aide"), figures.offers),
        (_("Actions"), figures.actions),
    ]


def status_rows(plan: Plan) -> list[tuple[str, int]]:
    counts = [(label, plan.figures.by_status.get(value, 0)) for value, label in plan.statuses]
    return [*counts, (_("En retard"), plan.figures.overdue)]


def label_text(label: str) -> str:
    """ "Date :" in French, "Date:" once translated to English."""
    return _("%(label)s :") % {"label": label}


def labelled(label: str, value: object) -> str:
    return _("%(label)s : %(value)s") % {"label": label, "value": value}


def helpers_text(action: ActionRow) -> str:
    return ", ".join(helper.display for helper in action.helpers)


def helper_contacts_text(action: ActionRow) -> str:
    return ", ".join(labelled(helper.name, helper.contact) for helper in action.helpers if helper.contact)


def author_text(row: ImpossibleRow) -> str:
    return row.author_name if row.author_name is not None else _("Anonyme")


@dataclass
class Column:
    header: str
    value: Callable[[Any], Any]
    wrap: bool = False


def action_columns(plan: Plan) -> list[Column]:
    """The actions table's columns, shared by the CSV and the spreadsheet."""
    columns = [
        Column(_("Catégorie"), lambda a: a.category_label),
        Column(_("Action"), lambda a: a.title, wrap=True),
        Column(pgettext("plan column", "Impossible"), lambda a: a.impossible_statement, wrap=True),
        Column(_("« moi aussi »"), lambda a: a.me_too_count),
        Column(_("Pilote"), lambda a: a.pilot_display, wrap=True),
        Column(_("Qui aide"), helpers_text, wrap=True),
    ]
    if plan.include_contacts:
        columns.append(Column(_("Contacts (ne pas diffuser)"), helper_contacts_text, wrap=True))
    columns += [
        Column(_("Prochaine étape"), lambda a: a.next_step, wrap=True),
        Column(_("Échéance"), lambda a: a.due_on),
        Column(_("Statut"), lambda a: a.status_label),
    ]
    return columns
