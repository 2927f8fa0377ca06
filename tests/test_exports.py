"""Plan exports: every format read back with a real reader and compared
with the database.

The room: Alice's permit impossible (French typography, shared twice) has
two actions, one with Charlie's accepted help; Bob's welders impossible has
an action whose texts look like spreadsheet formulas; Zoé posted without
her name (she appears nowhere else); Charlie's premises impossible is
shared but has neither action nor help.
"""

from __future__ import annotations

import copy
import csv
import datetime
import io
import json
import re
import zipfile
import zoneinfo
from dataclasses import dataclass
from typing import Any

import icalendar
import jsonschema
import openpyxl
import pypdf
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from boards import exporters
from boards.models import (
    ActionStatus,
    Atelier,
    Category,
    HelpKind,
    HelpOffer,
    Impossible,
    Participant,
    PlanAction,
    Role,
)
from boards.plan_document import build_plan
from boards.services import facilitation, participation
from boards.services.plan import Actor, PilotChoice, create_action, update_action
from tests.conftest import post_impossible

FORMATS = ["pdf", "xlsx", "csv", "md", "json", "ics"]
PERMIS = "Impossible d'obtenir le permis à Cognac — « œuvre », 1\u202f000\u00a0€ de frais"
SOUDEURS = "Impossible de recruter des soudeurs"
ANONYMOUS = "Impossible de financer un atelier partagé"
LOCAL = "Impossible de trouver un local de stockage"
FORMULA = '=HYPERLINK("http://evil.example/","clic")'
CHARLIE_CONTACT = "charlie.secret@example.org"
BOB_CONTACT = "bob.secret@example.org"
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


@dataclass
class Room:
    atelier: Atelier
    permis: Impossible
    soudeurs: Impossible
    anonymous: Impossible
    local: Impossible
    ddt: PlanAction
    formula: PlanAction
    minus: PlanAction
    fund: PlanAction
    charlie_offer: HelpOffer
    bob_offer: HelpOffer


def _key() -> str:
    import secrets

    return secrets.token_urlsafe(8)


def _action(atelier: Atelier, impossible: Impossible, user, **fields: Any) -> PlanAction:
    fields.setdefault("pilot", PilotChoice(name="Mairie de Cognac"))
    return create_action(atelier.pk, impossible.pk, actor=Actor.facilitator(user), submission_key=_key(), **fields)


@pytest.fixture
def room(atelier, alice, bob, charlie, facilitator) -> Room:
    facilitation.update_atelier(
        atelier,
        territory="Cognac, Charente",
        commune="Cognac",
        insee_code="16102",
        venue="Salle « La Salamandre »",
        starts_at=datetime.datetime(2027, 3, 20, 9, 0, tzinfo=datetime.UTC),
    )
    zoe = participation.join_atelier(
        atelier, name="Zoé Discrète", organisation="Maison Secrète", role=Role.ENTREPRENEUR
    )
    permis = post_impossible(
        alice.participant, PERMIS, category=Category.REGULATION, details="Trois refus.\nToujours pas de réponse."
    )
    soudeurs = post_impossible(bob.participant, SOUDEURS, category=Category.RECRUITMENT)
    anonymous = post_impossible(zoe, ANONYMOUS, category=Category.FUNDING, anonymous=True)
    local = post_impossible(charlie.participant, LOCAL, category=Category.PREMISES)
    for participant, impossible in [
        (bob.participant, permis),
        (charlie.participant, permis),
        (charlie.participant, soudeurs),
        (alice.participant, anonymous),
        (alice.participant, local),
    ]:
        participation.set_me_too(participant, impossible.pk, on=True)
    charlie_offer = participation.offer_help(
        charlie.participant,
        permis.pk,
        kind=HelpKind.EXPERTISE,
        message="J'ai monté trois dossiers en 2024",
        contact=CHARLIE_CONTACT,
        submission_key=_key(),
    )
    bob_offer = participation.offer_help(
        bob.participant,
        anonymous.pk,
        kind=HelpKind.RESOURCE,
        message="Un prêt d'honneur est possible",
        contact=BOB_CONTACT,
        submission_key=_key(),
    )
    facilitation.set_phase(atelier.pk, "plan")
    user = facilitator.user
    ddt = _action(
        atelier,
        permis,
        user,
        title="Réunir la DDT et la mairie",
        pilot=PilotChoice(participant_id=bob.participant.pk),
        helpers=[charlie_offer.pk],
        next_step="Écrire au préfet\navant la fin du mois",
        due_on=datetime.date(2027, 3, 31),
        status=ActionStatus.IN_PROGRESS,
    )
    formula = _action(
        atelier,
        soudeurs,
        user,
        title=FORMULA,
        pilot=PilotChoice(name="@SUM(A1:A9)", organisation="Mairie de Cognac"),
        next_step="+1 réunion",
    )
    minus = _action(
        atelier,
        permis,
        user,
        title="-2 semaines de délai",
        pilot=PilotChoice(name="Agence <b>régionale</b> & co"),
        due_on=datetime.date(2027, 6, 15),
        status=ActionStatus.DONE,
    )
    fund = _action(
        atelier,
        anonymous,
        user,
        title="Monter un fonds de prêt d'honneur",
        pilot=PilotChoice(name="Initiative Charente"),
        helpers=[bob_offer.pk],
        due_on=datetime.date(2027, 4, 10),
    )
    atelier.refresh_from_db()
    return Room(atelier, permis, soudeurs, anonymous, local, ddt, formula, minus, fund, charlie_offer, bob_offer)


def _export(room_or_atelier, identifier: str, *, include_contacts: bool = False) -> tuple[str, str, bytes]:
    atelier = getattr(room_or_atelier, "atelier", room_or_atelier)
    return exporters.export(atelier, identifier, include_contacts=include_contacts)


def _content(room_or_atelier, identifier: str, **kwargs: Any) -> bytes:
    return _export(room_or_atelier, identifier, **kwargs)[2]


def _spaces(text: str) -> str:
    """Non-breaking spaces read as spaces: a PDF draws them with the space glyph."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def _pdf_pages(content: bytes) -> list[str]:
    return [_spaces(page.extract_text()) for page in pypdf.PdfReader(io.BytesIO(content)).pages]


def _squash(text: str) -> str:
    """Without any space: a PDF cell may break a long word anywhere."""
    return "".join(text.split())


def _pdf_text(content: bytes) -> str:
    """The whole text on one line per paragraph-ish: wrapped lines joined."""
    return " ".join(" ".join(_pdf_pages(content)).split())


def _xlsx(content: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(content))


def _xlsx_rows(sheet) -> list[dict[str, Any]]:
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def _csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))


def _calendar_events(content: bytes) -> list[icalendar.Event]:
    return list(icalendar.Calendar.from_ical(content).walk("VEVENT"))


def _as_text(identifier: str, content: bytes) -> str:
    """Everything a reader of the file would see, as text."""
    if identifier == "pdf":
        return _pdf_text(content)
    if identifier == "xlsx":
        book = _xlsx(content)
        return "\n".join(
            str(value) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for value in row
        )
    if identifier == "ics":
        unfolded = re.sub(r"\r\n[ \t]", "", content.decode())
        return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], unfolded)
    return content.decode("utf-8-sig")


def _schema() -> dict[str, Any]:
    return json.loads(exporters.opendata.SCHEMA_PATH.read_text())


def _closed(schema: Any) -> Any:
    """The schema with no undeclared key allowed anywhere: what this version
    writes must be exactly what the schema documents."""
    schema = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def _validate(document: dict[str, Any]) -> None:
    for schema in (_schema(), _closed(_schema())):
        validator = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        validator.validate(document)


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {key for value in node.values() for key in _keys(value)}
    if isinstance(node, list):
        return {key for value in node for key in _keys(value)}
    return set()


# --- The registry -------------------------------------------------------------------------------


def test_it_offers_every_format_once_in_a_stable_order():
    assert [exporter.identifier for exporter in exporters.all_exporters()] == FORMATS
    for exporter in exporters.all_exporters():
        assert exporters.get(exporter.identifier) is exporter
        assert str(exporter.verbose_name)
        assert exporter.extension and exporter.content_type


def test_an_unknown_format_is_none_and_cannot_be_exported(atelier):
    assert exporters.get("docx") is None
    with pytest.raises(LookupError):
        exporters.export(atelier, "docx", include_contacts=False)


@pytest.mark.parametrize("identifier", FORMATS)
def test_each_file_is_named_after_the_plan_with_an_ascii_slug(room, identifier):
    filename, content_type, content = _export(room, identifier)

    exporter = exporters.get(identifier)
    stem = build_plan(room.atelier, include_contacts=False).filename_stem
    assert filename == f"{stem}.{exporter.extension}"
    assert filename == f"plan-atelier-de-limpossible-test-2027-03-20.{exporter.extension}"
    assert re.fullmatch(r"[a-z0-9-]+\.[a-z]+", filename)
    assert content_type == exporter.content_type
    assert content


# --- PDF ------------------------------------------------------------------------------------------


def test_the_pdf_shows_the_header_the_figures_and_every_action(room):
    content = _content(room, "pdf")

    reader = pypdf.PdfReader(io.BytesIO(content))
    text = _pdf_text(content)
    atelier = Atelier.objects.get(pk=room.atelier.pk)
    assert reader.pages[0].mediabox.width == pytest.approx(841.89, abs=1)  # A4, landscape
    assert reader.metadata.title == atelier.title
    for expected in (atelier.title, atelier.territory, atelier.venue, "20 mars 2027 à 10:00", "l'équipe d'animation"):
        assert _spaces(expected) in text
    assert "Cognac (16102)" in text
    assert _spaces(PERMIS) in text
    figures = {
        "Participants": Participant.objects.filter(atelier=atelier).count(),
        "Impossibles": Impossible.objects.filter(atelier=atelier).count(),
        "« moi aussi »": sum(Impossible.objects.filter(atelier=atelier).values_list("me_too_count", flat=True)),
        "Offres d'aide": HelpOffer.objects.filter(impossible__atelier=atelier).count(),
        "Actions": PlanAction.objects.filter(atelier=atelier).count(),
    }
    figures_text = text[text.index("Chiffres clés") :]
    for label, value in figures.items():
        assert re.search(rf"\b{value} {re.escape(label)}", figures_text), (label, value)
    for status, label in ActionStatus.choices:
        count = PlanAction.objects.filter(atelier=atelier, status=status).count()
        assert f"{label} : {count}" in text
    for action in PlanAction.objects.filter(atelier=atelier):
        assert _squash(action.title) in _squash(text)
    assert "31 mars 2027" in text and "15 juin 2027" in text
    assert "Bob (Bob SARL)" in text and "Charlie (Charlie SARL)" in text
    assert "Écrire au préfet avant la fin du mois" in text
    assert f"Page 1 / {len(reader.pages)}" in text
    today = timezone.localtime(timezone.now(), PARIS).date()
    assert f"plan généré le {today.day} " in text
    fonts = {
        str(font.get_object()["/BaseFont"]) for page in reader.pages for font in page["/Resources"]["/Font"].values()
    }
    assert fonts and all("DejaVuSans" in font for font in fonts), fonts


def test_the_pdf_groups_actions_by_category_in_priority_order(room):
    text = _squash(_pdf_text(_content(room, "pdf")))

    regulation = text.index(_squash("Réglementation & démarches · 2 actions"))
    funding = text.index(_squash("Financement · 1 action"))
    recruitment = text.index(_squash("Recrutement & compétences · 1 action"))
    # The permit impossible has the most « moi aussi » (2), then the
    # welders' and the anonymous one (1 each, in the order they were posted).
    assert regulation < text.index(_squash("Réunir la DDT et la mairie")) < recruitment
    assert regulation < text.index(_squash("-2 semaines de délai")) < recruitment
    assert recruitment < text.index(_squash(FORMULA)) < funding
    assert funding < text.index(_squash("Monter un fonds de prêt d'honneur"))


def test_the_pdf_shows_user_text_literally_never_as_markup(room):
    text = _pdf_text(_content(room, "pdf"))

    assert "Agence <b>régionale</b> & co" in text


def test_the_pdf_lists_the_most_shared_impossibles_left_without_action_or_help(room):
    text = _pdf_text(_content(room, "pdf"))

    without_action = text.index("Impossibles les plus partagés sans action")
    without_help = text.index("Impossibles les plus partagés sans aide")
    assert without_action < without_help
    # Not on any action: only in those two lists.
    assert not PlanAction.objects.filter(impossible=room.local).exists()
    assert [m.start() > without_action for m in re.finditer(LOCAL, text)] == [True, True]
    # The welders impossible has an action but no help offer.
    assert HelpOffer.objects.filter(impossible=room.soudeurs).count() == 0
    assert SOUDEURS in text[without_help:]
    assert SOUDEURS not in text[without_action:without_help]


def test_the_pdf_leaves_out_emoji_rather_than_print_empty_boxes(room, facilitator):
    _action(room.atelier, room.soudeurs, facilitator.user, title="Merci 🙏 à tous 👩🏽\u200d🔧 🇫🇷", next_step="Go ✅")

    content = _content(room, "pdf")
    text = _pdf_text(content)

    assert "Merci à tous" in text
    # A character without a glyph comes back from the PDF as NUL (an empty box on paper).
    assert "\x00" not in "".join(_pdf_pages(content))
    # The other exports keep every character.
    assert "Merci 🙏 à tous 👩🏽\u200d🔧 🇫🇷" in _content(room, "md").decode()


def test_the_pdf_numbers_its_pages_and_repeats_the_table_header(room, facilitator):
    for n in range(45):
        _action(room.atelier, room.soudeurs, facilitator.user, title=f"Action numéro {n:02d}", next_step="Appeler")

    pages = _pdf_pages(_content(room, "pdf"))

    assert len(pages) > 2
    for number, page in enumerate(pages, 1):
        assert f"Page {number} / {len(pages)}" in page
    with_actions = [page for page in pages if "Action numéro" in page]
    assert len(with_actions) > 1
    assert all("Prochaine étape" in page for page in with_actions)


def test_the_pdf_never_breaks_a_line_at_a_non_breaking_space(room, facilitator):
    amount = "9\u202f999\u00a0€"
    _action(room.atelier, room.soudeurs, facilitator.user, title=" ".join([amount] * 20))

    text = " ".join(_pdf_pages(_content(room, "pdf")))

    assert text.count("9 999 €") == 20


def test_the_pdf_explains_what_to_install_without_the_dejavu_fonts(room, monkeypatch, tmp_path):
    monkeypatch.setattr(exporters.pdf, "FONT_DIR", tmp_path)

    with pytest.raises(ImproperlyConfigured, match="fonts-dejavu-core"):
        _export(room, "pdf")


# --- Spreadsheet ---------------------------------------------------------------------------------


def test_the_spreadsheet_has_typed_sheets_for_actions_impossibles_and_offers(room):
    book = _xlsx(_content(room, "xlsx"))

    assert book.sheetnames == ["Actions", "Impossibles", "Offres d'aide"]
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == f"A1:{sheet.cell(row=1, column=sheet.max_column).column_letter}{sheet.max_row}"
        assert all(cell.font.bold for cell in sheet[1])
    actions = {row["Action"]: row for row in _xlsx_rows(book["Actions"])}
    assert set(actions) == set(PlanAction.objects.filter(atelier=room.atelier).values_list("title", flat=True))
    ddt = actions["Réunir la DDT et la mairie"]
    permis = Impossible.objects.get(pk=room.permis.pk)
    assert ddt["Impossible"] == PERMIS
    assert ddt["Catégorie"] == "Réglementation & démarches"
    assert ddt["« moi aussi »"] == permis.me_too_count == 2
    assert type(ddt["« moi aussi »"]) is int
    assert ddt["Échéance"] == datetime.datetime(2027, 3, 31)
    assert ddt["Pilote"] == "Bob (Bob SARL)"
    assert ddt["Qui aide"] == "Charlie (Charlie SARL)"
    assert ddt["Prochaine étape"] == "Écrire au préfet\navant la fin du mois"
    assert ddt["Statut"] == "En cours"
    assert actions[FORMULA]["Échéance"] is None
    due_column = next(cell.column for cell in book["Actions"][1] if cell.value == "Échéance")
    due_cells = [row[due_column - 1] for row in book["Actions"].iter_rows(min_row=2) if row[due_column - 1].value]
    assert due_cells and all(cell.is_date and "DD" in cell.number_format for cell in due_cells)

    impossibles = {row["Impossible"]: row for row in _xlsx_rows(book["Impossibles"])}
    assert set(impossibles) == set(Impossible.objects.filter(atelier=room.atelier).values_list("statement", flat=True))
    for impossible in Impossible.objects.filter(atelier=room.atelier).select_related("author"):
        row = impossibles[impossible.statement]
        assert (row["« moi aussi »"], row["Offres d'aide"]) == (impossible.me_too_count, impossible.offer_count)
        assert row["Actions"] == impossible.actions.count()
        assert type(row["Actions"]) is int
        local = timezone.localtime(impossible.created_at, PARIS).replace(tzinfo=None)
        assert isinstance(row["Posté le"], datetime.datetime)
        assert abs(row["Posté le"] - local) < datetime.timedelta(seconds=1)
        assert row["Auteur·e"] == ("Anonyme" if impossible.anonymous else impossible.author.name)
    assert impossibles[PERMIS]["Détails"] == "Trois refus.\nToujours pas de réponse."

    offers = _xlsx_rows(book["Offres d'aide"])
    assert sorted(row["Message"] for row in offers) == sorted(
        HelpOffer.objects.filter(impossible__atelier=room.atelier).values_list("message", flat=True)
    )
    assert all(row["Retenue pour une action"] is True for row in offers)


def test_the_spreadsheet_stores_formula_like_text_as_text(room):
    content = _content(room, "xlsx")

    book = _xlsx(content)
    sheet = book["Actions"]
    header = [cell.value for cell in sheet[1]]
    cells = {row[header.index("Action")].value: row for row in sheet.iter_rows(min_row=2)}
    formula_row = cells[FORMULA]
    for column, expected in (
        ("Action", FORMULA),
        ("Pilote", "@SUM(A1:A9) (Mairie de Cognac)"),
        ("Prochaine étape", "+1 réunion"),
    ):
        cell = formula_row[header.index(column)]
        assert (cell.value, cell.data_type) == (expected, "s")
        # Still text after someone edits the cell in Excel.
        assert cell.quotePrefix
    assert cells["-2 semaines de délai"][header.index("Action")].data_type == "s"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        sheets = [archive.read(name).decode() for name in archive.namelist() if name.startswith("xl/worksheets/")]
    assert sheets and not any("<f>" in xml or "<f " in xml for xml in sheets)


def test_the_spreadsheet_has_contact_columns_only_with_contacts(room):
    public = _xlsx(_content(room, "xlsx"))
    private = _xlsx(_content(room, "xlsx", include_contacts=True))

    def headers(book, sheet):
        return [cell.value for cell in book[sheet][1]]

    assert not any("Contact" in header for header in headers(public, "Actions") + headers(public, "Offres d'aide"))
    actions = {row["Action"]: row for row in _xlsx_rows(private["Actions"])}
    assert actions["Réunir la DDT et la mairie"]["Contacts (ne pas diffuser)"] == f"Charlie : {CHARLIE_CONTACT}"
    offers = {row["Message"]: row for row in _xlsx_rows(private["Offres d'aide"])}
    assert offers[room.bob_offer.message]["Contact (ne pas diffuser)"] == BOB_CONTACT


# --- CSV ------------------------------------------------------------------------------------------


def test_the_csv_is_utf8_with_a_bom_and_semicolons_with_one_row_per_action(room):
    content = _content(room, "csv")

    assert content.startswith(b"\xef\xbb\xbf")
    header, *rows = _csv_rows(content)
    assert header == [
        "Catégorie",
        "Action",
        "Impossible",
        "« moi aussi »",
        "Pilote",
        "Qui aide",
        "Prochaine étape",
        "Échéance",
        "Statut",
    ]
    assert len(rows) == PlanAction.objects.filter(atelier=room.atelier).count()
    by_title = {row[1]: dict(zip(header, row, strict=True)) for row in rows}
    ddt = by_title["Réunir la DDT et la mairie"]
    assert ddt == {
        "Catégorie": "Réglementation & démarches",
        "Action": "Réunir la DDT et la mairie",
        "Impossible": PERMIS,
        "« moi aussi »": str(Impossible.objects.get(pk=room.permis.pk).me_too_count),
        "Pilote": "Bob (Bob SARL)",
        "Qui aide": "Charlie (Charlie SARL)",
        "Prochaine étape": "Écrire au préfet\navant la fin du mois",
        "Échéance": "2027-03-31",
        "Statut": "En cours",
    }
    assert by_title["Monter un fonds de prêt d'honneur"]["Échéance"] == "2027-04-10"


def test_the_csv_neutralises_cells_a_spreadsheet_would_run(room):
    rows = _csv_rows(_content(room, "csv"))

    header = rows[0]
    by_title = {row[1]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    formula = by_title["'" + FORMULA]
    assert formula["Pilote"] == "'@SUM(A1:A9) (Mairie de Cognac)"
    assert formula["Prochaine étape"] == "'+1 réunion"
    assert formula["Échéance"] == ""
    assert "'-2 semaines de délai" in by_title
    # Harmless cells are left alone.
    assert "Réunir la DDT et la mairie" in by_title
    every_cell = [cell for row in rows for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in every_cell)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+33 6 12", "'+33 6 12"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t'=1"),
        ("\r=1", "'\r'=1"),
        ("a, =1", "a, '=1"),
        ("a;@x", "a;'@x"),
        ("a\n-1", "a\n'-1"),
        ("Coût : 1 000 €", "Coût : 1 000 €"),
        ("a=b", "a=b"),
    ],
)
def test_a_csv_cell_starting_like_a_formula_gets_a_quote(value, expected):
    assert exporters.spreadsheets.CsvExporter.cell(value) == expected


# --- Markdown -----------------------------------------------------------------------------------

NASTY = "**gras** _x_ `code` [lien](javascript:alert(1)) <script>alert(1)</script> | # ~~barré~~ \\ &amp;"
MD_SPECIALS = set("\\`*_[]<>#|~")


def _md_unescape(text: str) -> str:
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def _unescaped_specials(escaped: str) -> list[str]:
    found, index = [], 0
    while index < len(escaped):
        if escaped[index] == "\\":
            index += 2  # an escape and the character it protects
            continue
        if escaped[index] in MD_SPECIALS:
            found.append(escaped[index])
        index += 1
    return found


@pytest.mark.parametrize(
    "text", [NASTY, "- liste", "+ plus", "1. numéro", "12) numéro", "# titre", "> citation", "---", "=== sous"]
)
def test_markdown_escaping_shows_the_text_literally(text):
    escaped = exporters.markdown.md_escape(text)

    assert _md_unescape(escaped) == text
    # Every special character is escaped, and nothing starts a block.
    assert _unescaped_specials(escaped) == []
    assert not re.match(r"[-+=>#]|\d+[.)]", escaped)


def test_markdown_escaping_puts_a_multiline_text_on_one_line():
    assert (
        exporters.markdown.md_escape("- Écrire au préfet\n# avant\n- la fin")
        == "\\- Écrire au préfet \\# avant - la fin"
    )


def test_the_markdown_has_the_header_figures_actions_by_category_and_gaps(room, facilitator):
    update_action(room.atelier.pk, room.ddt.pk, actor=Actor.facilitator(facilitator.user), title=NASTY)

    text = _content(room, "md").decode()

    lines = text.splitlines()
    atelier = Atelier.objects.get(pk=room.atelier.pk)
    assert lines[0] == f"# {exporters.markdown.md_escape(atelier.title)}"
    assert "- **Date :** 20 mars 2027 à 10:00" in lines
    assert f"- **Lieu :** {exporters.markdown.md_escape(atelier.venue)}" in lines
    assert f"- Participants : {Participant.objects.filter(atelier=atelier).count()}" in lines
    assert f"- Actions : {PlanAction.objects.filter(atelier=atelier).count()}" in lines
    regulation = lines.index("### Réglementation & démarches")
    assert lines[regulation + 2] == f"1. **{exporters.markdown.md_escape(NASTY)}**"
    assert "<script>" not in text
    assert "   - Prochaine étape : Écrire au préfet avant la fin du mois" in lines
    assert "   - Échéance : 31 mars 2027" in lines
    assert f"1. **{exporters.markdown.md_escape(FORMULA)}**" in lines
    assert lines[lines.index("   - Échéance : 31 mars 2027") + 2] == "2. **\\-2 semaines de délai**"
    gaps = lines.index("## Impossibles les plus partagés sans action")
    assert any(LOCAL in line for line in lines[gaps:])
    assert not any(LOCAL in line for line in lines[:gaps])


# --- JSON ------------------------------------------------------------------------------------------


def test_the_json_follows_its_schema_and_matches_the_database(room):
    document = json.loads(_content(room, "json"))

    _validate(document)
    assert document["schema"] == exporters.opendata.SCHEMA_ID == _schema()["$id"]
    assert document["schema_version"] == 1
    assert document["contacts_included"] is False
    atelier = Atelier.objects.get(pk=room.atelier.pk)
    assert document["atelier"] == {
        "title": atelier.title,
        "territory": "Cognac, Charente",
        "commune": "Cognac",
        # Left blank by the facilitator: filled from the INSEE code.
        "departement": "Charente",
        "region": "Nouvelle-Aquitaine",
        "insee_code": "16102",
        "venue": "Salle « La Salamandre »",
        "starts_at": "2027-03-20T10:00:00+01:00",
        "language": "fr",
        "time_zone": "Europe/Paris",
        "facilitators": ["l'équipe d'animation"],
    }
    assert datetime.datetime.fromisoformat(document["generated_at"]).utcoffset() is not None
    assert document["figures"]["participants"] == Participant.objects.filter(atelier=atelier).count()
    assert document["figures"]["actions"] == PlanAction.objects.filter(atelier=atelier).count()
    assert document["figures"]["by_status"] == {
        status: PlanAction.objects.filter(atelier=atelier, status=status).count() for status in ActionStatus.values
    }

    actions = {action["id"]: action for action in document["actions"]}
    assert set(actions) == set(PlanAction.objects.filter(atelier=atelier).values_list("pk", flat=True))
    for action in PlanAction.objects.filter(atelier=atelier).select_related("impossible", "pilot"):
        exported = actions[action.pk]
        assert exported["title"] == action.title
        assert exported["impossible_id"] == action.impossible_id
        assert exported["me_too_count"] == action.impossible.me_too_count
        assert exported["due_on"] == (action.due_on.isoformat() if action.due_on else None)
        assert exported["status"] == action.status
        assert exported["pilot"]["id"] == action.pilot_id
        assert [helper["offer_id"] for helper in exported["helpers"]] == list(
            action.accepted_offers.values_list("pk", flat=True)
        )
    assert actions[room.ddt.pk]["pilot"] == {
        "id": room.ddt.pilot_id,
        "name": "Bob",
        "organisation": "Bob SARL",
        "is_participant": True,
    }
    assert actions[room.ddt.pk]["status_label"] == "En cours"

    impossibles = {impossible["id"]: impossible for impossible in document["impossibles"]}
    for impossible in Impossible.objects.filter(atelier=atelier).select_related("author"):
        exported = impossibles[impossible.pk]
        assert exported["statement"] == impossible.statement
        assert (exported["me_too_count"], exported["offer_count"]) == (impossible.me_too_count, impossible.offer_count)
        assert exported["anonymous"] is impossible.anonymous
        if impossible.anonymous:
            assert exported["author"] is None
        else:
            assert exported["author"]["name"] == impossible.author.name
    assert impossibles[room.permis.pk]["created_at"].endswith("+01:00")
    assert {offer["id"] for offer in document["offers"]} == set(
        HelpOffer.objects.filter(impossible__atelier=atelier).values_list("pk", flat=True)
    )
    assert document["without_action"] == [room.local.pk]
    assert document["without_helper"] == [room.soudeurs.pk, room.local.pk]


def test_the_json_has_contact_keys_only_with_contacts(room):
    public = json.loads(_content(room, "json"))
    private = json.loads(_content(room, "json", include_contacts=True))

    assert "contact" not in _keys(public)
    _validate(private)
    assert private["contacts_included"] is True
    helpers = {h["offer_id"]: h for action in private["actions"] for h in action["helpers"]}
    assert helpers[room.charlie_offer.pk]["contact"] == CHARLIE_CONTACT
    offers = {offer["id"]: offer["contact"] for offer in private["offers"]}
    assert offers == dict(HelpOffer.objects.filter(impossible__atelier=room.atelier).values_list("pk", "contact"))
    # The schema holds the rule: a public document with a contact is invalid.
    public["offers"][0]["contact"] = "x"
    with pytest.raises(jsonschema.ValidationError):
        _validate(public)


# --- iCalendar --------------------------------------------------------------------------------


def test_the_calendar_has_one_all_day_event_per_action_with_a_due_date(room):
    content = _content(room, "ics")

    calendar = icalendar.Calendar.from_ical(content)
    assert str(calendar["X-WR-TIMEZONE"]) == "Europe/Paris"
    assert room.atelier.title in str(calendar["X-WR-CALNAME"])
    events = {str(event["SUMMARY"]): event for event in _calendar_events(content)}
    due = PlanAction.objects.filter(atelier=room.atelier, due_on__isnull=False)
    assert set(events) == set(due.values_list("title", flat=True))
    assert FORMULA not in events  # no due date
    for action in due:
        event = events[action.title]
        assert event["DTSTART"].dt == action.due_on
        assert type(event["DTSTART"].dt) is datetime.date
        assert event["DTSTART"].params["VALUE"] == "DATE"
        assert event["DTEND"].dt == action.due_on + datetime.timedelta(days=1)
        assert event["DTSTAMP"].dt.tzinfo is not None
    description = str(events["Réunir la DDT et la mairie"]["DESCRIPTION"])
    assert PERMIS in description
    assert "Pilote : Bob (Bob SARL)" in description
    assert "Prochaine étape : Écrire au préfet\navant la fin du mois" in description
    assert "Statut : En cours" in description
    assert "Qui aide : Charlie (Charlie SARL)" in description


def test_calendar_uids_are_unique_and_survive_changes(room, facilitator):
    def uids() -> dict[str, str]:
        return {str(event["SUMMARY"]): str(event["UID"]) for event in _calendar_events(_content(room, "ics"))}

    before = uids()
    update_action(room.atelier.pk, room.ddt.pk, actor=Actor.facilitator(facilitator.user), status=ActionStatus.DONE)
    facilitation.regenerate_code(room.atelier)
    after = uids()

    assert before == after
    assert len(set(before.values())) == len(before)
    assert before["Réunir la DDT et la mairie"] == f"action-{room.ddt.pk}@atelier-{room.atelier.pk}.cerveau-collectif"


# --- Privacy, language and time zone, in every format --------------------------------------------


@pytest.mark.parametrize("include_contacts", [False, True])
@pytest.mark.parametrize("identifier", FORMATS)
def test_no_format_names_the_author_of_an_anonymous_impossible(room, identifier, include_contacts):
    text = _as_text(identifier, _content(room, identifier, include_contacts=include_contacts))

    # The impossible (or its action, in the calendar) is there; its author is not.
    assert "Monter un fonds de prêt d'honneur" in text or ANONYMOUS in text
    assert "Zoé" not in text and "Discrète" not in text and "Maison Secrète" not in text


@pytest.mark.parametrize("identifier", FORMATS)
def test_contacts_appear_only_when_asked_for(room, identifier):
    public = _as_text(identifier, _content(room, identifier))
    private = _as_text(identifier, _content(room, identifier, include_contacts=True))

    assert CHARLIE_CONTACT not in public and BOB_CONTACT not in public
    assert CHARLIE_CONTACT in private
    if identifier in ("xlsx", "json"):  # the formats that list every offer
        assert BOB_CONTACT in private


@pytest.mark.parametrize("identifier", ["pdf", "xlsx", "csv", "md", "ics"])
def test_labels_follow_the_atelier_language_not_the_requester(room, identifier):
    assert Atelier.objects.get(pk=room.atelier.pk).language == "fr"
    with translation.override("en"), timezone.override("UTC"):
        content = _content(room, identifier)

    text = _as_text(identifier, content)
    assert "Réglementation & démarches" in text  # a label resolved by the plan
    assert "Prochaine étape" in text  # a label written by the exporter
    assert "En cours" in text
    if identifier == "xlsx":
        assert _xlsx(content).sheetnames == ["Actions", "Impossibles", "Offres d'aide"]
    if identifier in ("pdf", "md"):
        assert "20 mars 2027 à 10:00" in text


def test_an_english_atelier_gets_its_labels_in_english(room):
    Atelier.objects.filter(pk=room.atelier.pk).update(language="en")
    atelier = Atelier.objects.get(pk=room.atelier.pk)
    with translation.override("en"):
        expected = str(Category.REGULATION.label)

    with translation.override("fr"):
        rows = _csv_rows(_content(atelier, "csv"))
        document = json.loads(_content(atelier, "json"))

    assert document["atelier"]["language"] == "en"
    assert {row[0] for row in rows[1:]} >= {expected}
    assert any(action["category_label"] == expected for action in document["actions"])


def test_exports_show_times_in_the_atelier_time_zone(db, facilitator):
    atelier = Atelier.objects.create(
        title="Atelier de Saint-Denis",
        code="REU974",
        time_zone="Indian/Reunion",
        starts_at=datetime.datetime(2027, 3, 20, 9, 0, tzinfo=datetime.UTC),
    )
    person = participation.join_atelier(atelier, name="Léa", organisation="", role=Role.ENTREPRENEUR)
    impossible = post_impossible(person, "Impossible d'exporter vers Maurice")
    reunion = zoneinfo.ZoneInfo("Indian/Reunion")

    with timezone.override("Europe/Paris"), translation.override("fr"):
        pdf = _pdf_text(_content(atelier, "pdf"))
        markdown = _content(atelier, "md").decode()
        document = json.loads(_content(atelier, "json"))
        calendar = icalendar.Calendar.from_ical(_content(atelier, "ics"))
        book = _xlsx(_content(atelier, "xlsx"))

    assert "20 mars 2027 à 13:00" in pdf
    assert "- **Date :** 20 mars 2027 à 13:00" in markdown
    assert document["atelier"]["starts_at"] == "2027-03-20T13:00:00+04:00"
    assert document["atelier"]["time_zone"] == "Indian/Reunion"
    assert document["impossibles"][0]["created_at"].endswith("+04:00")
    assert str(calendar["X-WR-TIMEZONE"]) == "Indian/Reunion"
    posted = _xlsx_rows(book["Impossibles"])[0]["Posté le"]
    local = timezone.localtime(Impossible.objects.get(pk=impossible.pk).created_at, reunion).replace(tzinfo=None)
    assert abs(posted - local) < datetime.timedelta(seconds=1)


@pytest.mark.parametrize("identifier", FORMATS)
def test_an_empty_atelier_exports_in_every_format(atelier, identifier):
    content = _content(atelier, identifier)

    if identifier == "pdf":
        assert "Aucune action pour l'instant." in _pdf_text(content)
    elif identifier == "json":
        document = json.loads(content)
        _validate(document)
        assert document["actions"] == document["impossibles"] == []
        assert document["atelier"]["starts_at"] is None
    elif identifier == "csv":
        assert len(_csv_rows(content)) == 1
    elif identifier == "ics":
        assert _calendar_events(content) == []
    elif identifier == "xlsx":
        assert [sheet.max_row for sheet in _xlsx(content).worksheets] == [1, 1, 1]
    else:
        assert "Aucune action pour l'instant." in content.decode()


@pytest.mark.parametrize("identifier", FORMATS)
def test_an_export_costs_the_same_queries_whatever_the_plan_size(room, facilitator, identifier):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            _export(room, identifier, include_contacts=True)
        return len(captured.captured_queries)

    small = queries()
    for n in range(5):
        _action(
            room.atelier,
            room.anonymous,
            facilitator.user,
            title=f"Encore {n}",
            helpers=[room.bob_offer.pk],
            due_on=datetime.date(2027, 5, 1),
        )

    assert queries() == small
