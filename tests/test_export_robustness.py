"""Exports against hostile text.

- CSV: every field is quoted, and `= + - @` (and tab, CR) are neutralised at
  the start of a cell and after any separator inside it, so that a reader
  splitting on `,` (English Excel) as well as on `;` sees no formula.
- Forms refuse line breaks in single-line fields (titles, names,
  organisations, statements...) with a clear message; text already stored
  with them (older rows, a forged write) still exports in every format.
"""

from __future__ import annotations

import csv
import io
import json
import zoneinfo

import icalendar
import pytest
from django import forms as django_forms
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from boards import exporters
from boards import forms as board_forms
from boards.exporters.spreadsheets import CsvExporter
from boards.models import Atelier, Category, HelpKind, HelpOffer, Impossible, Participant, Pilot, PlanAction
from boards.observatoire.models import Theme
from boards.services import facilitation, participation, plan
from boards.services.plan import Actor, PilotChoice
from tests.conftest import post_impossible

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ["pdf", "xlsx", "csv", "md", "json", "ics"]


def _cells(content: bytes, delimiter: str) -> list[str]:
    text = content.decode("utf-8-sig")
    return [cell for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) for cell in row]


def _assert_no_formula(content: bytes) -> None:
    # Our own delimiter: no cell starts like a formula at all.
    risky = [cell for cell in _cells(content, ";") if cell.startswith(FORMULA_START)]
    assert not risky, risky
    # Any delimiter: no cell starts like a formula, even after the spaces,
    # line breaks and quotes a misaligned reader leaves in front.
    for delimiter in (";", ",", "\t"):
        risky = [cell for cell in _cells(content, delimiter) if cell.lstrip(' \t\r\n"').startswith(FORMULA_START)]
        assert not risky, f"split on {delimiter!r}: {risky}"


# --- CSV ----------------------------------------------------------------------------------------------

PAYLOADS = [
    'Réunion, =cmd|" /C calc"!A0',
    'Réunion,=HYPERLINK("http://evil.example")',
    "a;+1+1",
    "a\t@SUM(A1)",
    "Étape 1\n=1+1",
    "Étape 1\r\n-2",
    'x", =cmd|" /C calc"!A0',
    "x,\t=1",
    'x, "=1"',
    "=1,2",
]


@pytest.fixture
def hostile_plan(atelier, alice, bob, facilitator):
    impossible = post_impossible(alice.participant, "Impossible, =cmd|x")
    offer = participation.offer_help(
        bob.participant, impossible.pk, kind=HelpKind.EXPERTISE, message="m", contact="c", submission_key="o"
    )
    Participant.objects.filter(pk=bob.participant.pk).update(name="Bob, =1+1", organisation="Org;@SUM(1)")
    facilitation.set_phase(atelier.pk, "plan")
    for n, payload in enumerate(PAYLOADS):
        plan.create_action(
            atelier.pk,
            impossible.pk,
            actor=Actor.facilitator(facilitator.user),
            title=payload,
            pilot=PilotChoice(name=payload[:60], organisation=payload[:100]),
            helpers=[offer.pk],
            next_step=payload,
            submission_key=f"k{n}",
        )
    return atelier


@pytest.mark.parametrize("include_contacts", [False, True])
def test_no_csv_cell_starts_like_a_formula_whatever_the_delimiter_a_reader_splits_on(hostile_plan, include_contacts):
    _name, _type, content = exporters.export(hostile_plan, "csv", include_contacts=include_contacts)

    _assert_no_formula(content)


def test_every_csv_field_is_quoted(hostile_plan):
    _name, _type, content = exporters.export(hostile_plan, "csv", include_contacts=True)

    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
    raw = content.decode("utf-8-sig")
    # Quoted: each field opens with a quote right after the start of a line or a ";".
    assert raw.startswith('"')
    assert raw.count('";"') >= sum(len(row) - 1 for row in rows)


def test_the_neutralised_csv_keeps_the_text_readable(hostile_plan):
    _name, _type, content = exporters.export(hostile_plan, "csv", include_contacts=False)

    header, *rows = csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";")
    titles = [dict(zip(header, row, strict=True))["Action"] for row in rows]
    assert 'Réunion, \'=cmd|" /C calc"!A0' in titles
    assert "Étape 1\n'=1+1" in titles
    assert "'=1,2" in titles


@given(st.lists(st.text(alphabet=st.sampled_from(list("=+-@\t\r\n,;\" ab'")), max_size=12), min_size=1, max_size=4))
@hypothesis_settings(max_examples=300, deadline=None)
def test_any_row_of_any_text_parses_without_a_formula(values):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=CsvExporter.delimiter, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["Début", *[CsvExporter.cell(value) for value in values], "Fin"])
    writer.writerow(["Ligne 2", *[CsvExporter.cell(value) for value in values]])

    _assert_no_formula(buffer.getvalue().encode())


# --- Forms refuse line breaks in single-line fields ------------------------------------------------

# Text fields meant for several lines; every other text field is one line.
MULTILINE = {("ImpossibleForm", "details"), ("EditImpossibleForm", "details"), ("HelpOfferForm", "message")}
MULTILINE |= {("ActionForm", "next_step")}


def _text_fields() -> list[tuple[type, str]]:
    found = []
    for name in dir(board_forms):
        form_class = getattr(board_forms, name)
        if not (isinstance(form_class, type) and issubclass(form_class, django_forms.BaseForm)):
            continue
        if form_class.__module__ != board_forms.__name__:
            continue
        for field_name, field in form_class.base_fields.items():
            choice = isinstance(field.widget, (django_forms.HiddenInput, django_forms.Select, django_forms.RadioSelect))
            if isinstance(field, django_forms.CharField) and not choice:
                found.append((form_class, field_name))
    return found


def _form_arguments(form_class: type) -> dict:
    """What a form needs besides its data: the theme a split starts from."""
    if form_class is board_forms.ThemeSplitForm:
        return {"theme": Theme.objects.create(name="Soudeurs", slug="soudeurs", category=Category.RECRUITMENT)}
    return {}


SINGLE_LINE = [(form, field) for form, field in _text_fields() if (form.__name__, field) not in MULTILINE]
# (Leading and trailing line breaks are stripped with the spaces.)
BREAKS = ["Ligne 1\nLigne 2", "Ligne 1\r\nLigne 2", "Ligne 1\rLigne 2"]


def test_the_forms_have_the_single_line_fields_we_expect():
    names = {(form.__name__, field) for form, field in SINGLE_LINE}
    assert {
        ("AtelierForm", "title"),
        ("AtelierForm", "venue"),
        ("AtelierForm", "territory"),
        ("ParticipantForm", "name"),
        ("ParticipantForm", "organisation"),
        ("ImpossibleForm", "statement"),
        ("EditImpossibleForm", "statement"),
        ("HelpOfferForm", "contact"),
        ("ActionForm", "title"),
        ("ActionForm", "pilot_name"),
        ("ActionForm", "pilot_organisation"),
        ("TimerForm", "label"),
        ("TeamForm", "who"),
    } <= names


@pytest.mark.parametrize("text", BREAKS, ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize(("form_class", "field"), SINGLE_LINE, ids=[f"{f.__name__}.{n}" for f, n in SINGLE_LINE])
def test_a_single_line_field_refuses_a_line_break_in_french(db, form_class, field, text):
    form = form_class(data={field: text}, **_form_arguments(form_class))

    assert not form.is_valid()
    assert "Écrivez ce texte sur une seule ligne" in " ".join(form.errors.get(field, [])), form.errors


@pytest.mark.parametrize(("form_name", "field"), sorted(MULTILINE))
def test_multi_line_fields_keep_their_line_breaks(db, form_name, field):
    form = getattr(board_forms, form_name)(data={field: "Ligne 1\nLigne 2"})
    form.is_valid()

    assert field not in form.errors


def test_forged_settings_with_a_line_break_in_the_title_are_refused(facilitator, atelier):
    data = {
        "title": "Atelier\r\nBEGIN:VEVENT",
        "language": "fr",
        "time_zone": "Europe/Paris",
        "categories": ["recrutement"],
    }

    response = facilitator.post(f"/a/{atelier.code}/console/settings/", data)

    assert response.status_code == 422
    assert "Écrivez ce texte sur une seule ligne" in response.content.decode()
    assert Atelier.objects.get(pk=atelier.pk).title == atelier.title


# --- Every exporter takes any stored text ------------------------------------------------------------

STORED = "Ligne 1\r\nLigne 2\rLigne 3\nLigne 4\u2028Ligne 5\u0085Ligne 6\tTab\x0bVT\x1fUS « é » 🦊"


@pytest.fixture
def stored_plan(atelier, alice, bob, facilitator):
    """Line breaks and control characters written straight to the database
    in every text the exports show: no form or service saw them."""
    impossible = post_impossible(alice.participant, "Impossible")
    offer = participation.offer_help(
        bob.participant, impossible.pk, kind=HelpKind.EXPERTISE, message="m", contact="c", submission_key="o"
    )
    facilitation.set_phase(atelier.pk, "plan")
    action = plan.create_action(
        atelier.pk,
        impossible.pk,
        actor=Actor.facilitator(facilitator.user),
        title="Titre",
        pilot=PilotChoice(name="Pilote"),
        helpers=[offer.pk],
        due_on=timezone.localtime(atelier.created_at, zoneinfo.ZoneInfo(atelier.time_zone)).date(),
        submission_key="k",
    )
    Atelier.objects.filter(pk=atelier.pk).update(
        title=f"Atelier {STORED}", venue=STORED, territory=STORED, commune=STORED, departement=STORED, region=STORED
    )
    Participant.objects.filter(atelier=atelier).update(name=STORED[:60], organisation=STORED)
    Impossible.objects.filter(pk=impossible.pk).update(statement=STORED, details=STORED)
    HelpOffer.objects.filter(pk=offer.pk).update(message=STORED, contact=STORED)
    Pilot.objects.filter(atelier=atelier).update(name=STORED[:60], organisation=STORED)
    PlanAction.objects.filter(pk=action.pk).update(title=STORED, next_step=STORED)
    facilitator.user.first_name = STORED[:30]
    facilitator.user.save()
    return Atelier.objects.get(pk=atelier.pk)


@pytest.mark.parametrize("include_contacts", [False, True])
@pytest.mark.parametrize("identifier", FORMATS)
def test_every_format_exports_stored_line_breaks_and_controls(stored_plan, identifier, include_contacts):
    filename, _content_type, content = exporters.export(stored_plan, identifier, include_contacts=include_contacts)

    assert content
    assert "\n" not in filename and "\r" not in filename


def test_the_calendar_keeps_multi_line_text_and_folds_single_line_names(stored_plan):
    _name, _type, content = exporters.export(stored_plan, "ics", include_contacts=False)

    calendar = icalendar.Calendar.from_ical(content)
    assert "\n" not in str(calendar["x-wr-calname"])
    assert "Ligne 1 Ligne 2 Ligne 3 Ligne 4\u2028Ligne 5" in str(calendar["x-wr-calname"])
    (event,) = calendar.walk("VEVENT")
    assert str(event["summary"]).startswith("Ligne 1")
    assert "Ligne 4" in str(event["summary"])
    for line in content.split(b"\r\n"):
        assert b"\n" not in line and b"\r" not in line


def test_the_json_keeps_stored_text_intact_but_for_control_characters(stored_plan):
    _name, _type, content = exporters.export(stored_plan, "json", include_contacts=False)

    document = json.loads(content)
    assert document["actions"][0]["title"].startswith("Ligne 1\r\nLigne 2")


def test_the_facilitators_export_pages_answer_for_stored_line_breaks(stored_plan, facilitator):
    for identifier in FORMATS:
        response = facilitator.get(f"/a/{stored_plan.code}/plan/export/{identifier}/")
        assert response.status_code == 200, identifier
