"""The plan's due dates as iCalendar events."""

from __future__ import annotations

import datetime

import icalendar
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from boards.exporters import Exporter, register
from boards.exporters.common import (
    APP_NAME,
    clean_text,
    helper_contacts_text,
    helpers_text,
    labelled,
    one_line,
)
from boards.models import ActionStatus
from boards.plan_document import ActionRow, Plan

# --- iCalendar ----------------------------------------------------------------------------------


@register
class IcsExporter(Exporter):
    """The due dates, for a calendar: one all-day event per action that has
    one. UIDs are stable, so re-importing updates events instead of adding
    copies."""

    identifier = "ics"
    verbose_name = gettext_lazy("Agenda des échéances (.ics)")
    extension = "ics"
    content_type = "text/calendar; charset=utf-8"

    def render(self, plan: Plan) -> bytes:
        calendar = icalendar.Calendar()
        calendar.add("prodid", f"-//{APP_NAME}//Plan//{plan.language.upper()}")
        calendar.add("version", "2.0")
        calendar.add("calscale", "GREGORIAN")
        calendar.add("method", "PUBLISH")
        # An X- property is written as is, unescaped: one line only.
        calendar.add("x-wr-calname", one_line(_("Plan d'action — %(title)s") % {"title": plan.title}))
        calendar.add("x-wr-timezone", plan.time_zone)
        stamp = plan.generated_at.astimezone(datetime.UTC)
        for action in plan.actions:
            if action.due_on is None:
                continue
            event = icalendar.Event()
            event.add("uid", self.uid(plan, action))
            event.add("dtstamp", stamp)
            event.add("last-modified", action.updated_at.astimezone(datetime.UTC))
            event.add("dtstart", action.due_on)
            event.add("dtend", action.due_on + datetime.timedelta(days=1))
            event.add("summary", clean_text(action.title))
            event.add("description", clean_text(self.description(action)))
            event.add("categories", [clean_text(action.category_label)])
            event.add("transp", "TRANSPARENT")
            if action.status == ActionStatus.ABANDONED:
                event.add("status", "CANCELLED")
            calendar.add_component(event)
        return calendar.to_ical()

    @staticmethod
    def uid(plan: Plan, action: ActionRow) -> str:
        # Not the join code: it can be regenerated (the UIDs would change)
        # and it lets people join the atelier.
        return f"action-{action.id}@atelier-{plan.atelier.pk}.cerveau-collectif"

    @staticmethod
    def description(action: ActionRow) -> str:
        lines = [
            (pgettext("plan column", "Impossible"), action.impossible_statement),
            (_("Pilote"), action.pilot_display),
            (_("Prochaine étape"), action.next_step),
            (_("Statut"), action.status_label),
            (_("Qui aide"), helpers_text(action)),
        ]
        if any(helper.contact for helper in action.helpers):
            lines.append((_("Contacts (ne pas diffuser)"), helper_contacts_text(action)))
        return "\n".join(labelled(label, value) for label, value in lines if value)
