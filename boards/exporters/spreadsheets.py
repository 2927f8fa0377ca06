"""The plan for spreadsheets: XLSX and CSV."""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Iterable
from typing import Any

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from boards.exporters import Exporter, register
from boards.exporters.common import (
    APP_NAME,
    Column,
    action_columns,
    author_text,
    clean_text,
    plan_zone,
)
from boards.plan_document import Plan

# --- Spreadsheets -------------------------------------------------------------------------------

# Cells a spreadsheet would read as a formula or a command (OWASP, "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# In a CSV, a formula can also start after a separator inside a cell: a
# reader that splits on another delimiter than ours (English Excel splits
# on ",") or that loses track of the quotes sees a new cell there. Spaces
# and quotes in between are skipped by some readers.
_CSV_RISK = re.compile(r'(^|[,;\t\r\n])([ "]*)(?=[=+\-@\t\r])')


def _excel_format(django_format: str, fallback: str) -> str:
    """An Excel number format from a Django date format ("d/m/Y" -> "DD/MM/YYYY")."""
    codes = {"d": "DD", "j": "D", "m": "MM", "n": "M", "Y": "YYYY", "y": "YY", "H": "HH", "G": "H", "i": "MM"}
    out = []
    for char in django_format:
        if char in codes:
            out.append(codes[char])
        elif char in "/.- :":
            out.append(char)
        else:
            return fallback
    return "".join(out)


@register
class XlsxExporter(Exporter):
    """Three sheets (actions, impossibles, help offers) with real dates and
    numbers, ready to sort and filter."""

    identifier = "xlsx"
    verbose_name = gettext_lazy("Tableur Excel (.xlsx)")
    extension = "xlsx"
    content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    def render(self, plan: Plan) -> bytes:
        date_format = _excel_format(formats.get_format("SHORT_DATE_FORMAT"), "YYYY-MM-DD")
        number_formats = {datetime.date: date_format, datetime.datetime: f"{date_format} HH:MM"}
        workbook = Workbook()
        workbook.properties.title = clean_text(plan.title)
        workbook.properties.creator = APP_NAME
        workbook.properties.language = plan.language
        sheets = [
            (workbook.active, _("Actions"), action_columns(plan), plan.actions),
            (workbook.create_sheet(), _("Impossibles"), self.impossible_columns(), plan.impossibles),
            (workbook.create_sheet(), _("Offres d'aide"), self.offer_columns(plan), plan.offers),
        ]
        for sheet, title, columns, rows in sheets:
            self.fill(sheet, title, columns, rows, number_formats, plan_zone(plan))
        buffer = io.BytesIO()
        workbook.save(buffer)
        return buffer.getvalue()

    def impossible_columns(self) -> list[Column]:
        return [
            Column(pgettext("plan column", "Impossible"), lambda i: i.statement, wrap=True),
            Column(_("Détails"), lambda i: i.details, wrap=True),
            Column(_("Catégorie"), lambda i: i.category_label),
            Column(_("Auteur·e"), author_text),
            Column(_("Organisation"), lambda i: i.author_organisation or ""),
            Column(_("« moi aussi »"), lambda i: i.me_too_count),
            Column(_("Offres d'aide"), lambda i: i.offer_count),
            Column(_("Actions"), lambda i: i.action_count),
            Column(_("Posté le"), lambda i: i.created_at),
        ]

    def offer_columns(self, plan: Plan) -> list[Column]:
        columns = [
            Column(pgettext("plan column", "Impossible"), lambda o: o.impossible_statement, wrap=True),
            Column(_("Type d'aide"), lambda o: o.kind_label, wrap=True),
            Column(_("Message"), lambda o: o.message, wrap=True),
            Column(_("Proposée par"), lambda o: o.author_name),
            Column(_("Organisation"), lambda o: o.author_organisation),
        ]
        if plan.include_contacts:
            columns.append(Column(_("Contact (ne pas diffuser)"), lambda o: o.contact or "", wrap=True))
        columns += [
            Column(_("Retenue pour une action"), lambda o: o.accepted),
            Column(_("Proposée le"), lambda o: o.created_at),
        ]
        return columns

    def fill(
        self,
        sheet: Any,
        title: str,
        columns: list[Column],
        rows: Iterable[Any],
        number_formats: dict[type, str],
        zone: datetime.tzinfo,
    ) -> None:
        # Sheet names: 31 characters at most, and none of []:*?/\ (a translation could bring one).
        sheet.title = re.sub(r"[\[\]:*?/\\]", " ", title)[:31]
        bold = Font(bold=True)
        header_fill = PatternFill("solid", fgColor="DCE3EC")
        wrap = Alignment(wrap_text=True, vertical="top")
        top = Alignment(vertical="top")
        widths = [len(column.header) for column in columns]
        for index, column in enumerate(columns, 1):
            cell = sheet.cell(row=1, column=index, value=column.header)
            cell.data_type = "s"
            cell.font = bold
            cell.fill = header_fill
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        row_number = 1
        for row_number, row in enumerate(rows, 2):
            for index, column in enumerate(columns, 1):
                value = column.value(row)
                cell = sheet.cell(row=row_number, column=index)
                if isinstance(value, str):
                    value = clean_text(value)
                    cell.value = value
                    # Always text, never a formula, whatever it starts with;
                    # the quote prefix keeps it text when someone edits it.
                    cell.data_type = "s"
                    if value.startswith(_FORMULA_START):
                        cell.quotePrefix = True
                    longest = max((len(line) for line in value.splitlines()), default=0)
                else:
                    if isinstance(value, datetime.datetime):
                        # Excel has no time zones: the atelier's wall-clock time.
                        value = timezone.localtime(value, zone).replace(tzinfo=None)
                    cell.value = value
                    if type(value) in number_formats:
                        cell.number_format = number_formats[type(value)]
                    longest = len(number_formats.get(type(value), str(value)))
                cell.alignment = wrap if column.wrap else top
                widths[index - 1] = max(widths[index - 1], longest)
        for index, (column, width) in enumerate(zip(columns, widths, strict=True), 1):
            cap = 60 if column.wrap else 40
            sheet.column_dimensions[get_column_letter(index)].width = min(max(width + 2, 10), cap)
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{row_number}"


@register
class CsvExporter(Exporter):
    """One row per action, for spreadsheets and other tools.

    UTF-8 with a BOM and ``;`` between fields: that is what Excel opens
    correctly in French (with ``,`` it puts every row in one column, and
    without the BOM it reads the accents as Latin-1). Every field is quoted.
    Due dates are ISO (2027-03-31). ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return at the start of a cell, or after a separator (``,``,
    ``;``, tab, line break) inside it, gets a ``'`` before it, so that no
    spreadsheet runs it as a formula whatever delimiter it splits on (OWASP
    CSV injection).
    """

    identifier = "csv"
    verbose_name = gettext_lazy("CSV (tableur)")
    extension = "csv"
    content_type = "text/csv; charset=utf-8"
    delimiter = ";"

    def render(self, plan: Plan) -> bytes:
        columns = action_columns(plan)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=self.delimiter, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
        writer.writerow([self.cell(column.header) for column in columns])
        for action in plan.actions:
            writer.writerow([self.cell(column.value(action)) for column in columns])
        return buffer.getvalue().encode("utf-8-sig")

    @staticmethod
    def cell(value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, datetime.date):
            return value.isoformat()
        if isinstance(value, str):
            return _CSV_RISK.sub(lambda match: f"{match[1]}{match[2]}'", clean_text(value))
        return value
