"""The plan as an A4 document to hand to a mayor."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import CondPageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from boards.exporters import Exporter, register
from boards.exporters.common import (
    APP_NAME,
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
from boards.plan_document import ActionRow, HelperRow, ImpossibleRow, Plan

# --- PDF ------------------------------------------------------------------------------------------

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = {"DejaVuSans": "DejaVuSans.ttf", "DejaVuSans-Bold": "DejaVuSans-Bold.ttf"}
INK = colors.HexColor("#1f2933")
ACCENT = colors.HexColor("#1f3a5f")
MUTED_HEX = "#5f6b7a"
MUTED = colors.HexColor(MUTED_HEX)
RULE = colors.HexColor("#c9d1dc")
STRIPE = colors.HexColor("#f3f5f8")
ALERT_HEX = "#b00020"
ALERT = colors.HexColor(ALERT_HEX)
MARGIN = 1.5 * cm
# French typography: keep guillemets and the space before ":" with their word.
_FRENCH_SPACES = [(re.compile(r"« "), "«\u00a0"), (re.compile(r" ([»:;!?])"), "\u00a0\\1")]


def _register_fonts() -> None:
    """The base-14 PDF fonts have no œ, €, or narrow no-break space: embed DejaVu."""
    for name, file in FONTS.items():
        path = FONT_DIR / file
        if not path.is_file():
            raise ImproperlyConfigured(
                f"PDF export needs the DejaVu fonts: {path} not found. "
                "Install the Debian package fonts-dejavu-core (apt-get install fonts-dejavu-core)."
            )
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(path)))
    pdfmetrics.registerFontFamily(
        "DejaVuSans", normal="DejaVuSans", bold="DejaVuSans-Bold", italic="DejaVuSans", boldItalic="DejaVuSans-Bold"
    )


def _drawable(text: str) -> str:
    """Leave out what DejaVu has no glyph for (emoji, mostly, with their
    joiners and variation selectors): it would print as empty boxes."""
    glyphs = pdfmetrics.getFont("DejaVuSans").face.charToGlyph
    kept = "".join(char for char in text if ord(char) in glyphs or char in "\n\r\t")
    return _SPACES.sub(" ", kept).strip(" ") if len(kept) < len(text) else text


_SPACES = re.compile(r" {2,}")


def _markup(text: str | None) -> str:
    """User or label text for a Paragraph: shown literally, never read as markup."""
    text = xml_escape(_drawable(clean_text(text))).replace("\r\n", "\n").replace("\r", "\n")
    # reportlab wraps at U+202F as at a plain space; U+00A0 it keeps whole.
    text = text.replace("\u202f", "\u00a0")
    for pattern, replacement in _FRENCH_SPACES:
        text = pattern.sub(replacement, text)
    return text.replace("\n", "<br/>")


class _Styles:
    def __init__(self) -> None:
        base = ParagraphStyle(
            "base", fontName="DejaVuSans", bulletFontName="DejaVuSans", fontSize=9.5, leading=12.5, textColor=INK
        )
        self.base = base
        self.title = ParagraphStyle(
            "title", base, fontName="DejaVuSans-Bold", fontSize=20, leading=24, textColor=ACCENT, spaceAfter=4
        )
        self.subtitle = ParagraphStyle("subtitle", base, fontSize=12, leading=15, textColor=MUTED, spaceAfter=8)
        self.notice = ParagraphStyle("notice", base, textColor=ALERT, spaceBefore=6)
        self.h2 = ParagraphStyle(
            "h2",
            base,
            fontName="DejaVuSans-Bold",
            fontSize=13.5,
            leading=17,
            textColor=ACCENT,
            spaceBefore=14,
            spaceAfter=6,
        )
        self.h3 = ParagraphStyle(
            "h3",
            base,
            fontName="DejaVuSans-Bold",
            fontSize=11,
            leading=14,
            spaceBefore=10,
            spaceAfter=4,
        )
        self.cell = ParagraphStyle("cell", base, fontSize=8, leading=10)
        self.head = ParagraphStyle("head", self.cell, fontName="DejaVuSans-Bold", textColor=colors.white)
        self.number = ParagraphStyle(
            "number", base, fontName="DejaVuSans-Bold", fontSize=18, leading=22, alignment=TA_CENTER, textColor=ACCENT
        )
        self.number_label = ParagraphStyle("number_label", base, fontSize=8.5, leading=10.5, alignment=TA_CENTER)


def _table(header: list[str], rows: list[list[Any]], widths: list[float], styles: _Styles) -> Table:
    data = [[Paragraph(_markup(label), styles.head) for label in header], *rows]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                # Cells hold Paragraphs, but a table still sets its own font (Helvetica by default).
                ("FONTNAME", (0, 0), (-1, -1), "DejaVuSans"),
                ("BACKGROUND", (0, 0), (-1, 0), ACCENT),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, STRIPE]),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _heading(text: str, style: ParagraphStyle) -> list[Any]:
    # A heading alone at the bottom of a page: start the page after instead.
    return [CondPageBreak(4 * cm), Paragraph(_markup(text), style)]


def _paged_canvas(title: str, footer: str) -> type[Canvas]:
    """A canvas that keeps its pages until the end, so each one can say
    "Page 2 / 5": the total is only known once everything is laid out."""

    class PagedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int) -> None:
            width, height = self._pagesize
            page = self.getPageNumber()
            self.saveState()
            self.setFont("DejaVuSans", 7.5)
            self.setFillColor(MUTED)
            self.setStrokeColor(RULE)
            self.setLineWidth(0.5)
            self.line(MARGIN, MARGIN - 12, width - MARGIN, MARGIN - 12)
            self.drawString(MARGIN, MARGIN - 22, footer)
            self.drawRightString(
                width - MARGIN, MARGIN - 22, _("Page %(page)s / %(pages)s") % {"page": page, "pages": total}
            )
            if page > 1:
                self.drawString(MARGIN, height - MARGIN + 14, title)
            self.restoreState()

    return PagedCanvas


def _shorten(text: str, limit: int) -> str:
    text = " ".join(_drawable(clean_text(text)).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@register
class PdfExporter(Exporter):
    """A4 landscape, to print or hand over: the actions table needs the width."""

    identifier = "pdf"
    verbose_name = gettext_lazy("PDF (à imprimer)")
    extension = "pdf"
    content_type = "application/pdf"

    def render(self, plan: Plan) -> bytes:
        _register_fonts()
        styles = _Styles()
        buffer = io.BytesIO()
        doc = SimpleDocTemplate(
            buffer,
            pagesize=landscape(A4),
            leftMargin=MARGIN,
            rightMargin=MARGIN,
            topMargin=MARGIN,
            bottomMargin=MARGIN,
            title=clean_text(plan.title),
            subject=_("Plan d'action local"),
            author=APP_NAME,
            creator=APP_NAME,
            lang=plan.language,
            initialFontName="DejaVuSans",
        )
        footer = _("%(app)s · %(title)s · plan généré le %(moment)s") % {
            "app": APP_NAME,
            "title": _shorten(plan.title, 90),
            "moment": fmt_moment(plan, plan.generated_at),
        }
        doc.build(self.story(plan, styles, doc.width), canvasmaker=_paged_canvas(_shorten(plan.title, 150), footer))
        return buffer.getvalue()

    def story(self, plan: Plan, styles: _Styles, width: float) -> list[Any]:
        story: list[Any] = [Paragraph(_markup(plan.title), styles.title)]
        if territory_line(plan):
            story.append(Paragraph(_markup(territory_line(plan)), styles.subtitle))
        for label, value in header_lines(plan):
            story.append(Paragraph(f"<b>{_markup(label_text(label))}</b> {_markup(value)}", styles.base))
        if plan.include_contacts:
            story.append(
                Paragraph(
                    _markup(_("Ce document contient les contacts des personnes qui aident : ne le diffusez pas.")),
                    styles.notice,
                )
            )
        story += self.figures(plan, styles, width)
        story += _heading(_("Plan d'action"), styles.h2)
        if not plan.groups:
            story.append(Paragraph(_markup(_("Aucune action pour l'instant.")), styles.base))
        for group in plan.groups:
            count = len(group.actions)
            heading = f"{group.label} · " + ngettext("%(count)s action", "%(count)s actions", count) % {"count": count}
            story += _heading(heading, styles.h3)
            story.append(self.actions_table(plan, group.actions, styles, width))
        story += _heading(_("Impossibles les plus partagés sans action"), styles.h2)
        story.append(
            self.impossibles_table(
                plan.without_action,
                (_("Offres d'aide"), lambda row: row.offer_count),
                _("Aucun : chaque impossible partagé a au moins une action."),
                styles,
                width,
            )
        )
        story += _heading(_("Impossibles les plus partagés sans aide"), styles.h2)
        story.append(
            self.impossibles_table(
                plan.without_helper,
                (_("Actions"), lambda row: row.action_count),
                _("Aucun : chaque impossible partagé a reçu au moins une offre d'aide."),
                styles,
                width,
            )
        )
        return story

    def figures(self, plan: Plan, styles: _Styles, width: float) -> list[Any]:
        cells = [
            [Paragraph(_markup(fmt_number(value)), styles.number), Paragraph(_markup(label), styles.number_label)]
            for label, value in figure_rows(plan)
        ]
        table = Table([cells], colWidths=[width / len(cells)] * len(cells))
        table.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), "DejaVuSans"),
                    ("BOX", (0, 0), (-1, -1), 0.5, RULE),
                    ("LINEAFTER", (0, 0), (-2, -1), 0.5, RULE),
                    ("BACKGROUND", (0, 0), (-1, -1), STRIPE),
                    ("TOPPADDING", (0, 0), (-1, -1), 6),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
                ]
            )
        )
        statuses = " · ".join(labelled(label, fmt_number(count)) for label, count in status_rows(plan))
        return [
            *_heading(_("Chiffres clés"), styles.h2),
            table,
            Spacer(1, 4),
            Paragraph(f"<b>{_markup(label_text(_('Actions par statut')))}</b> {_markup(statuses)}", styles.base),
        ]

    def actions_table(self, plan: Plan, actions: list[ActionRow], styles: _Styles, width: float) -> Table:
        cell = styles.cell
        header = [
            _("Action"),
            pgettext("plan column", "Impossible"),
            _("« moi aussi »"),
            _("Pilote"),
            _("Qui aide"),
            _("Prochaine étape"),
            _("Échéance"),
            _("Statut"),
        ]
        shares = [0.16, 0.16, 0.05, 0.11, 0.20, 0.15, 0.09, 0.08]
        rows = []
        for action in actions:
            helpers = "<br/>".join(self.helper(helper) for helper in action.helpers)
            status = _markup(action.status_label)
            if action.overdue:
                status += f'<br/><font color="{ALERT_HEX}">{_markup(_("en retard"))}</font>'
            rows.append(
                [
                    Paragraph(f"<b>{_markup(action.title)}</b>", cell),
                    Paragraph(_markup(action.impossible_statement), cell),
                    Paragraph(str(action.me_too_count), cell),
                    Paragraph(_markup(action.pilot_display), cell),
                    Paragraph(helpers, cell),
                    Paragraph(_markup(action.next_step), cell),
                    Paragraph(_markup(fmt_date(action.due_on)), cell),
                    Paragraph(status, cell),
                ]
            )
        return _table(header, rows, [width * share for share in shares], styles)

    def helper(self, helper: HelperRow) -> str:
        line = _markup(helper.display)
        if helper.contact:
            line += f'<br/><font color="{MUTED_HEX}">{_markup(helper.contact)}</font>'
        return line

    def impossibles_table(
        self,
        rows: list[ImpossibleRow],
        last: tuple[str, Callable[[ImpossibleRow], int]],
        empty: str,
        styles: _Styles,
        width: float,
    ) -> Any:
        if not rows:
            return Paragraph(_markup(empty), styles.base)
        header = ["#", pgettext("plan column", "Impossible"), _("Catégorie"), _("« moi aussi »"), last[0]]
        body = [
            [
                Paragraph(str(rank), styles.cell),
                Paragraph(_markup(row.statement), styles.cell),
                Paragraph(_markup(row.category_label), styles.cell),
                Paragraph(str(row.me_too_count), styles.cell),
                Paragraph(str(last[1](row)), styles.cell),
            ]
            for rank, row in enumerate(rows, 1)
        ]
        return _table(header, body, [width * share for share in (0.04, 0.56, 0.2, 0.1, 0.1)], styles)
