"""The plan as Markdown, to paste in an e-mail, a wiki or a forum."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from boards.exporters import Exporter, register
from boards.exporters.common import (
    clean_text,
    figure_rows,
    fmt_date,
    fmt_moment,
    fmt_number,
    header_lines,
    label_text,
    labelled,
    status_rows,
    territory_line,
)
from boards.plan_document import ActionRow, HelperRow, Plan

# --- Markdown -----------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")
_MD_ENTITY = re.compile(r"&(?=#?\w+;)")
_MD_MARK_START = re.compile(r"^([-+=])")
_MD_NUMBER_START = re.compile(r"^(\d+)([.)])")

_MD_SPACES = re.compile(r"[^\S\u00a0\u202f]+")


def md_escape(text: str | None) -> str:
    """Text shown literally in Markdown (CommonMark and GitHub flavour), on one line.

    Line breaks become spaces: a line of user text could otherwise start a
    heading, a list or a table.
    """
    # Any run of whitespace becomes one space, except French typography's
    # no-break spaces, which keep "?" and ":" with their word.
    text = _MD_SPACES.sub(" ", clean_text(text)).strip()
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _MD_ENTITY.sub(r"\\&", text)
    # "- x", "+ x", "1. x", "1) x" at the start would become a list item.
    text = _MD_MARK_START.sub(r"\\\1", text)
    return _MD_NUMBER_START.sub(r"\1\\\2", text)


@register
class MarkdownExporter(Exporter):
    """The plan as text to paste in an e-mail, a wiki or a forum."""

    identifier = "md"
    verbose_name = gettext_lazy("Markdown (e-mail, wiki, forum)")
    extension = "md"
    content_type = "text/markdown; charset=utf-8"

    def render(self, plan: Plan) -> bytes:
        e = md_escape
        lines = [f"# {e(plan.title)}", ""]
        if territory_line(plan):
            lines += [e(territory_line(plan)), ""]
        lines += [f"- **{e(label_text(label))}** {e(value)}" for label, value in header_lines(plan)]
        if plan.include_contacts:
            lines += [
                "",
                f"> {e(_('Ce document contient les contacts des personnes qui aident : ne le diffusez pas.'))}",
            ]
        lines += ["", f"## {e(_('Chiffres clés'))}", ""]
        lines += [f"- {e(labelled(label, fmt_number(value)))}" for label, value in figure_rows(plan)]
        statuses = ", ".join(labelled(label, fmt_number(count)) for label, count in status_rows(plan))
        plan_heading = _("Plan d'action")
        lines += [f"- {e(labelled(_('Actions par statut'), statuses))}", "", f"## {e(plan_heading)}", ""]
        if not plan.groups:
            lines += [e(_("Aucune action pour l'instant.")), ""]
        for group in plan.groups:
            lines += [f"### {e(group.label)}", ""]
            for number, action in enumerate(group.actions, 1):
                lines += self.action(number, action)
            lines.append("")
        for title, rows, empty in (
            (
                _("Impossibles les plus partagés sans action"),
                plan.without_action,
                _("Aucun : chaque impossible partagé a au moins une action."),
            ),
            (
                _("Impossibles les plus partagés sans aide"),
                plan.without_helper,
                _("Aucun : chaque impossible partagé a reçu au moins une offre d'aide."),
            ),
        ):
            lines += [f"## {e(title)}", ""]
            lines += [
                f"{rank}. {e(row.statement)} ({e(row.category_label)}, "
                f"{e(labelled(_('« moi aussi »'), row.me_too_count))})"
                for rank, row in enumerate(rows, 1)
            ] or [e(empty)]
            lines.append("")
        lines.append(f"_{e(_('Plan généré le %(moment)s') % {'moment': fmt_moment(plan, plan.generated_at)})}_")
        return ("\n".join(lines) + "\n").encode()

    def action(self, number: int, action: ActionRow) -> list[str]:
        e = md_escape
        me_too = labelled(_("« moi aussi »"), action.me_too_count)
        items = [
            (pgettext("plan column", "Impossible"), f"{action.impossible_statement} ({me_too})"),
            (_("Pilote"), action.pilot_display),
            (_("Qui aide"), ", ".join(self.helper(helper) for helper in action.helpers)),
            (_("Prochaine étape"), action.next_step),
            (_("Échéance"), fmt_date(action.due_on)),
            (_("Statut"), action.status_label + (f" ({_('en retard')})" if action.overdue else "")),
        ]
        marker = f"{number}. "
        # Sub-items line up with the item's text, or they would leave the list.
        indent = " " * len(marker)
        return [f"{marker}**{e(action.title)}**"] + [
            f"{indent}- {e(labelled(label, value))}" for label, value in items if value
        ]

    @staticmethod
    def helper(helper: HelperRow) -> str:
        return helper.display + (f" — {helper.contact}" if helper.contact else "")
