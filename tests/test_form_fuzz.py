"""Every form and action fed garbage: never a 500, never half a change.

Each example posts one request built from arbitrary text (huge strings,
control characters, invalid UTF-8, unicode digits), missing fields, repeated
keys, wrong types and ids of another atelier, as plain forms and as htmx.
The whole database is read before and after:

- a refused request (4xx, or a page that says an error) changed nothing;
- an accepted one made its whole change in one step: the atelier's version
  moved by one (joining, creating an atelier and the team move none), the
  counters match the rows, and the participants' writes stored what was sent.

Each example runs in a transaction rolled back at its end, so every request
meets the same small atelier (in a phase drawn for it).
"""

from __future__ import annotations

import datetime
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, quote_from_bytes

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import constants as message_levels
from django.db import transaction
from django.db.models import Count, F, Q
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boards.models import (
    ActionChange,
    ActionStatus,
    Atelier,
    Category,
    HelpKind,
    HelpOffer,
    Impossible,
    MeToo,
    Participant,
    Pilot,
    PlanAction,
    Presence,
    Role,
)
from boards.phases import Phase
from boards.services import facilitation, participation, plan
from tests.conftest import post_impossible

HTMX = {"HTTP_HX_REQUEST": "true"}
EXAMPLES = 20

# --- Garbage ------------------------------------------------------------------------------------


def _utf8(text: str) -> bytes:
    # Lone surrogates become invalid UTF-8, as a broken client would send.
    return text.encode("utf-8", "surrogatepass")


# Values that broke, or could break, a parser somewhere.
NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\t\n\r",
    "0",
    "-1",
    "+1",
    " 1 ",
    "1.0",
    "1e309",
    "NaN",
    "-Infinity",
    "true",
    "[]",
    "{}",
    "null",
    "²",
    "١٢",
    "𝟙",
    "Ⅻ",
    "9" * 30,
    "<script>alert(1)</script>",
    "%00",
    "\u202e\ufeff",
    "\ud800",
    "' OR 1=1 --",
]
GARBAGE_TEXT = st.one_of(
    st.sampled_from(NASTY),
    st.sampled_from(NASTY),
    st.text(max_size=30),  # any code point: controls, NUL, lone surrogates, RTL marks, emoji
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.builds(lambda char, count: char * count, st.characters(), st.integers(200, 3000)),
    st.builds(lambda count: "é" * count, st.sampled_from([70_000, 1_400_000])),
)
GARBAGE = st.one_of(GARBAGE_TEXT.map(_utf8), st.binary(max_size=40))


# --- The atelier every request meets ---------------------------------------------------------------


@dataclass
class World:
    atelier: Atelier
    other: Atelier
    clients: dict[str, Client]
    ids: dict[str, int]
    tokens: dict[str, str]


@pytest.fixture
def world(atelier, other_atelier, alice, bob, facilitator, other_facilitator) -> World:
    """Impossibles in every state, offers, actions with pilots, in two ateliers."""
    Atelier.objects.filter(pk=atelier.pk).update(phase=Phase.IMPOSSIBLES)
    shown = post_impossible(alice.participant, "Impossible de recruter des soudeurs")
    second = post_impossible(bob.participant, "Pas moyen de trouver un soudeur")
    hidden = post_impossible(alice.participant, "Masqué")
    merged = post_impossible(bob.participant, "Fusionné")
    participation.set_me_too(bob.participant, shown.pk, on=True)
    participation.set_me_too(alice.participant, second.pk, on=True)
    offer = participation.offer_help(
        bob.participant, shown.pk, kind=HelpKind.EXPERTISE, message="Je forme", submission_key="o1"
    )
    hidden_offer = participation.offer_help(
        bob.participant, shown.pk, kind=HelpKind.RESOURCE, message="Masquée", submission_key="o2"
    )
    facilitation.set_offer_hidden(atelier.pk, hidden_offer.pk, hidden=True)
    facilitation.set_impossible_hidden(atelier.pk, hidden.pk, hidden=True)
    facilitation.merge_impossibles(atelier.pk, second.pk, merged.pk)
    facilitation.set_premoderation(atelier.pk, True)
    pending = post_impossible(bob.participant, "En attente")
    facilitation.set_premoderation(atelier.pk, False)
    facilitation.set_phase(atelier.pk, Phase.PLAN)
    fanny = plan.Actor.facilitator(facilitator.user)
    action = plan.create_action(
        atelier.pk,
        shown.pk,
        actor=fanny,
        title="Réunir les soudeurs",
        pilot=plan.PilotChoice(participant_id=bob.participant.pk),
        helpers=[offer.pk],
        submission_key="a1",
    )
    named = plan.create_action(
        atelier.pk,
        second.pk,
        actor=fanny,
        title="Appeler la mairie",
        pilot=plan.PilotChoice(name="Mairie", organisation="Cognac"),
        submission_key="a2",
    )

    stranger = participation.join_atelier(other_atelier, name="Zoé", organisation="", role=Role.OTHER)
    foreign = post_impossible(stranger, "Ailleurs")
    foreign_offer = participation.offer_help(
        stranger, foreign.pk, kind=HelpKind.EXPERTISE, message="Ailleurs", submission_key="f1"
    )
    facilitation.set_phase(other_atelier.pk, Phase.PLAN)
    foreign_action = plan.create_action(
        other_atelier.pk,
        foreign.pk,
        actor=plan.Actor.facilitator(other_facilitator.user),
        title="Ailleurs",
        pilot=plan.PilotChoice(participant_id=stranger.pk),
        helpers=[foreign_offer.pk],
        submission_key="f1",
    )
    colin = User.objects.create_user("colin", email="colin@example.org")
    atelier.facilitators.add(colin)
    User.objects.create_user("dana", email="dana@example.org")
    return World(
        atelier=Atelier.objects.get(pk=atelier.pk),
        other=other_atelier,
        clients={"alice": alice, "bob": bob, "facilitator": facilitator},
        ids={
            "shown": shown.pk,
            "second": second.pk,
            "hidden": hidden.pk,
            "merged": merged.pk,
            "pending": pending.pk,
            "foreign": foreign.pk,
            "offer": offer.pk,
            "hidden_offer": hidden_offer.pk,
            "foreign_offer": foreign_offer.pk,
            "action": action.pk,
            "named_action": named.pk,
            "foreign_action": foreign_action.pk,
            "alice": alice.participant.pk,
            "bob": bob.participant.pk,
            "stranger": stranger.pk,
            "pilot": action.pilot_id,
            "named_pilot": named.pilot_id,
            "foreign_pilot": foreign_action.pilot_id,
            "colin": colin.pk,
            "fanny": facilitator.user.pk,
        },
        tokens={
            "pilot": action.pilot.token,
            "named_pilot": named.pilot.token,
            "foreign_pilot": foreign_action.pilot.token,
        },
    )


WRONG_IDS = ["0", "999999", "9" * 20, "²", "١", " 1", "-1", "1.0", ""]


def ids(*names: str) -> Callable[[World], st.SearchStrategy[str]]:
    """Ids of these rows of the world."""

    def strategy(world: World) -> st.SearchStrategy[str]:
        return st.sampled_from([str(world.ids[name]) for name in names])

    return strategy


def wrong_ids(*names: str) -> Callable[[World], st.SearchStrategy[str]]:
    """Ids of rows the request may not use (hidden, merged, another atelier's), or of none."""

    def strategy(world: World) -> st.SearchStrategy[str]:
        return st.sampled_from([str(world.ids[name]) for name in names] + WRONG_IDS)

    return strategy


Strategy = st.SearchStrategy | Callable[[World], st.SearchStrategy]
NOTHING = st.nothing()


@dataclass(frozen=True)
class Field:
    """A well-formed value, and plausible wrong ones (garbage comes on top)."""

    valid: Strategy
    wrong: Strategy = NOTHING


def _resolve(strategy: Strategy, world: World) -> st.SearchStrategy:
    return strategy(world) if callable(strategy) else strategy


# --- Forms and actions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Form:
    """One endpoint: who posts, where, and what its body may hold."""

    who: str  # a persona, "newcomer" (a fresh visitor) or "other" (another atelier's facilitator)
    path: str  # {code}, {target}, {token}
    fields: dict[str, Field]
    target: Field | None = None
    # Fields that take several values (checkboxes), and fields a valid form may leave out.
    lists: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    # Phases in which the atelier accepts this write (drawn half of the time).
    open_phases: tuple[str, ...] = (Phase.IMPOSSIBLES,)


def _sample_text(values) -> st.SearchStrategy[str]:
    return st.sampled_from([str(value) for value in values])


def _words(max_size: int = 60) -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=max_size).filter(
        str.strip
    )


WORDS = Field(_words(), st.one_of(st.just(" "), _words(400)))
KEY = Field(st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=64), st.just("k" * 65))
ON_OFF = Field(_sample_text(["on", "1"]), _sample_text(["off", "0", ""]))


def _dates() -> st.SearchStrategy[datetime.date]:
    return st.dates(min_value=datetime.date(1, 1, 1), max_value=datetime.date(9999, 12, 31))


SOON = st.dates(
    min_value=datetime.date.today() + datetime.timedelta(days=2),
    max_value=datetime.date.today() + datetime.timedelta(days=3 * 365),
)
DUE_ON = Field(
    st.one_of(SOON.map(datetime.date.isoformat), SOON.map(lambda day: day.strftime("%d/%m/%Y"))),
    st.one_of(
        _dates().map(lambda day: f"{day.year:04d}-{day.month:02d}-{day.day:02d}"),
        _sample_text(["2027-02-30", "0000-00-00", "31/13/2027", "2027-3-1"]),
    ),
)
STARTS_AT = Field(
    st.datetimes(min_value=datetime.datetime(2020, 1, 1), max_value=datetime.datetime(2040, 1, 1)).map(
        lambda moment: moment.strftime("%Y-%m-%dT%H:%M")
    ),
    st.one_of(
        _sample_text(["0001-01-01T00:00", "9999-12-31T23:59", "2027-03-28T02:30", "2027-10-31T02:30"]),
        _dates().map(lambda day: f"{day.year:04d}-{day.month:02d}-{day.day:02d}T23:59"),
    ),
)
ATELIER_FIELDS = {
    "title": WORDS,
    "starts_at": STARTS_AT,
    "venue": WORDS,
    "commune": WORDS,
    "departement": WORDS,
    "region": WORDS,
    "insee_code": Field(_sample_text(["16102", "2A004", ""]), _sample_text(["1610", "ABCDE", "161020"])),
    "territory": WORDS,
    "language": Field(_sample_text(["fr", "en"]), _sample_text(["de", "FR"])),
    "time_zone": Field(
        _sample_text(["Europe/Paris", "Pacific/Noumea", "Pacific/Tahiti", "America/Miquelon"]),
        _sample_text(["Mars/Olympus", "../../etc/passwd", "europe/paris", "UTC+2"]),
    ),
    "categories": Field(_sample_text(Category.values), _sample_text(["inconnue", "RECRUTEMENT"])),
    "premoderation": ON_OFF,
}
OPTIONAL_ATELIER = ("venue", "commune", "departement", "region", "insee_code", "territory", "premoderation")
ACTION_FIELDS = {
    "title": WORDS,
    "pilot_participant": Field(ids("alice", "bob"), wrong_ids("stranger")),
    "pilot_name": WORDS,
    "pilot_organisation": WORDS,
    "helpers": Field(ids("offer"), wrong_ids("hidden_offer", "foreign_offer")),
    "next_step": WORDS,
    "due_on": DUE_ON,
    "status": Field(_sample_text(ActionStatus.values), _sample_text(["perdu", "FAIT"])),
    "submission_key": KEY,
    "next": Field(
        _sample_text(["/a/TST234/plan/"]),
        _sample_text(["https://evil.example/", "//evil.example/", "javascript:alert(1)", "plan", "0"]),
    ),
}
OPTIONAL_ACTION = ("pilot_name", "pilot_organisation", "helpers", "next_step", "due_on", "next")
IMPOSSIBLE = Field(ids("shown", "second"), wrong_ids("hidden", "merged", "pending", "foreign"))
ACTION = Field(ids("action", "named_action"), wrong_ids("foreign_action"))
OFFER = Field(ids("offer", "hidden_offer"), wrong_ids("foreign_offer"))
FORMS: dict[str, Form] = {
    "join": Form(
        "newcomer",
        "/a/{code}/join/",
        {"name": WORDS, "organisation": WORDS, "role": Field(_sample_text(Role.values), _sample_text(["roi"]))},
        optional=("organisation",),
    ),
    "profile": Form(
        "alice",
        "/a/{code}/me/",
        {"name": WORDS, "organisation": WORDS, "role": Field(_sample_text(Role.values), _sample_text(["roi"]))},
        optional=("organisation",),
    ),
    "post impossible": Form(
        "alice",
        "/a/{code}/impossibles/",
        {
            "statement": WORDS,
            "details": Field(_words(300), _words(3000)),
            "category": Field(_sample_text(Category.values), _sample_text(["inconnue", ""])),
            "anonymous": ON_OFF,
            "submission_key": KEY,
        },
        optional=("details", "anonymous"),
    ),
    "moi aussi": Form(
        "bob",
        "/a/{code}/impossibles/{target}/me-too/",
        {"state": Field(_sample_text(["on", "off"]), _sample_text(["ON", "0", ""]))},
        target=IMPOSSIBLE,
        optional=("state",),
    ),
    "offer": Form(
        "bob",
        "/a/{code}/impossibles/{target}/offers/",
        {
            "kind": Field(_sample_text(HelpKind.values), _sample_text(["argent"])),
            "message": WORDS,
            "contact": Field(_words(200), _words(300)),
            "submission_key": KEY,
        },
        target=IMPOSSIBLE,
        optional=("contact",),
    ),
    "atelier create": Form(
        "facilitator", "/facilitate/new/", ATELIER_FIELDS, lists=("categories",), optional=OPTIONAL_ATELIER
    ),
    "atelier settings": Form(
        "facilitator", "/a/{code}/console/settings/", ATELIER_FIELDS, lists=("categories",), optional=OPTIONAL_ATELIER
    ),
    "timer": Form(
        "facilitator",
        "/a/{code}/console/timer/",
        {
            "op": Field(_sample_text(["start", "pause", "resume", "stop"]), _sample_text(["rewind", "START"])),
            "minutes": Field(
                _sample_text(["5", "0.2", "180", "12.5"]),
                _sample_text(["0.1", "180.1", "1e3", "NaN", "-Infinity", "3,5"]),
            ),
            "label": WORDS,
        },
        optional=("label",),
    ),
    "phase": Form(
        "facilitator", "/a/{code}/console/phase/", {"phase": Field(_sample_text(Phase.values), _sample_text(["CLOS"]))}
    ),
    "lock": Form("facilitator", "/a/{code}/console/lock/", {"locked": ON_OFF}),
    "premoderation": Form("facilitator", "/a/{code}/console/premoderation/", {"on": ON_OFF}),
    "authors plan": Form("facilitator", "/a/{code}/console/authors-plan/", {"on": ON_OFF}),
    "spotlight": Form("facilitator", "/a/{code}/console/spotlight/", {"impossible": IMPOSSIBLE}),
    "moderate impossible": Form(
        "facilitator",
        "/a/{code}/console/impossibles/{target}/moderate/",
        {"op": Field(_sample_text(["approve", "hide", "restore"]), _sample_text(["delete"]))},
        target=Field(ids("shown", "second", "hidden", "pending"), wrong_ids("merged", "foreign")),
    ),
    "moderate offer": Form(
        "facilitator",
        "/a/{code}/console/offers/{target}/moderate/",
        {"op": Field(_sample_text(["hide", "restore"]), _sample_text(["approve"]))},
        target=OFFER,
    ),
    "edit impossible": Form(
        "facilitator",
        "/a/{code}/console/impossibles/{target}/edit/",
        {
            "statement": WORDS,
            "details": Field(_words(300), _words(3000)),
            "category": Field(_sample_text(Category.values), _sample_text(["inconnue"])),
        },
        target=Field(ids("shown", "second", "hidden", "pending"), wrong_ids("merged", "foreign")),
        optional=("details",),
    ),
    "merge": Form(
        "facilitator",
        "/a/{code}/console/impossibles/{target}/merge/",
        {"into": IMPOSSIBLE},
        target=Field(ids("shown", "second", "pending"), wrong_ids("hidden", "merged", "foreign")),
    ),
    "team": Form(
        "facilitator",
        "/a/{code}/console/team/",
        {
            "who": Field(_sample_text(["dana", "DANA@example.org"]), _sample_text(["olga", "personne", "colin"])),
            "remove": Field(ids("colin"), wrong_ids("fanny")),
        },
        optional=("who", "remove"),
    ),
    "delete atelier": Form(
        "facilitator",
        "/a/{code}/console/delete/",
        {"confirm": Field(_sample_text(["tst234 ", "TST234"]), _sample_text(["AUTRE9", "TST 234", "TST23"]))},
    ),
    "action create": Form(
        "facilitator",
        "/a/{code}/console/impossibles/{target}/actions/new/",
        ACTION_FIELDS,
        target=IMPOSSIBLE,
        lists=("helpers",),
        optional=OPTIONAL_ACTION,
        open_phases=(Phase.PLAN, Phase.CLOSED),
    ),
    "action edit": Form(
        "facilitator",
        "/a/{code}/console/actions/{target}/",
        ACTION_FIELDS,
        target=Field(ids("action"), wrong_ids("named_action", "foreign_action")),
        lists=("helpers",),
        optional=(*OPTIONAL_ACTION, "submission_key"),
        open_phases=(Phase.PLAN, Phase.CLOSED),
    ),
    "action delete": Form(
        "facilitator",
        "/a/{code}/console/actions/{target}/delete/",
        {"next": ACTION_FIELDS["next"]},
        target=ACTION,
        optional=("next",),
        open_phases=(Phase.PLAN, Phase.CLOSED),
    ),
    "author action create": Form(
        "alice",
        "/a/{code}/impossibles/{target}/actions/new/",
        ACTION_FIELDS,
        target=Field(ids("shown"), wrong_ids("second", "hidden", "foreign")),
        lists=("helpers",),
        optional=OPTIONAL_ACTION,
        open_phases=(Phase.PLAN,),
    ),
    "author action edit": Form(
        "alice",
        "/a/{code}/actions/{target}/",
        ACTION_FIELDS,
        target=Field(ids("action"), wrong_ids("named_action", "foreign_action")),
        lists=("helpers",),
        optional=(*OPTIONAL_ACTION, "submission_key"),
        open_phases=(Phase.PLAN,),
    ),
    "plan share": Form(
        "facilitator",
        "/a/{code}/plan/share/",
        {"op": Field(_sample_text(["publish", "revoke"]), _sample_text(["share"]))},
    ),
    "renew pilot link": Form(
        "facilitator",
        "/a/{code}/plan/pilots/{target}/renew/",
        {},
        target=Field(ids("pilot", "named_pilot"), wrong_ids("foreign_pilot")),
    ),
    "follow-up": Form(
        "newcomer",
        "/suivi/{token}/actions/{target}/",
        {
            "status": Field(_sample_text(ActionStatus.values), _sample_text(["perdu"])),
            "next_step": Field(_words(500), _words(600)),
        },
        # {target} and {token}: see `requests`.
        target=ACTION,
    ),
    "another atelier's facilitator": Form(
        "other",
        "/a/{code}/console/impossibles/{target}/moderate/",
        {"op": Field(_sample_text(["approve", "hide", "restore"]))},
        target=IMPOSSIBLE,
    ),
}


@st.composite
def requests(draw, form: Form, world: World):
    """(path, body pairs, as htmx) for one request to `form`: a well-formed
    one (which may still be refused by the atelier's rules) or a mangled one."""
    well_formed = draw(st.booleans(), label="well formed")
    pairs: list[tuple[bytes, bytes]] = []
    for name, spec in form.fields.items():
        valid, wrong = _resolve(spec.valid, world), _resolve(spec.wrong, world)
        if well_formed:
            how = draw(st.sampled_from(["valid", "missing"] if name in form.optional else ["valid"]), label=name)
        else:
            how = draw(st.sampled_from(["valid", "wrong", "garbage", "missing", "repeated"]), label=name)
        if how == "missing":
            continue
        count = draw(st.integers(2, 3)) if how == "repeated" or name in form.lists else 1
        for _ in range(count):
            strategy = {"valid": valid, "repeated": valid, "wrong": st.one_of(wrong, valid)}.get(how)
            value = draw(strategy).encode() if strategy is not None else draw(GARBAGE)
            pairs.append((name.encode(), value))
    if not well_formed and draw(st.booleans()):
        pairs.append((draw(GARBAGE), draw(GARBAGE)))  # a key nobody expects
    pairs = draw(st.permutations(pairs))
    # Garbage sent to a real target reaches the service; a wrong target must stop it.
    right_target = well_formed or draw(st.booleans(), label="right target")
    target = ""
    if form.target is not None:
        target = draw(_resolve(form.target.valid if right_target else form.target.wrong, world))
    # A pilot's link: the one for the action, or another. The other atelier's
    # pilot on their own action is a rightful write, elsewhere: not drawn.
    own = target == str(world.ids["foreign_action"])
    token = draw(
        st.sampled_from([t for n, t in world.tokens.items() if not (own and n == "foreign_pilot")] + ["inconnu"])
    )
    if right_target and "{token}" in form.path:
        token = world.tokens["pilot" if target == str(world.ids["action"]) else "named_pilot"]
    path = form.path.format(code=world.atelier.code, target=quote(target), token=token)
    return path, pairs, draw(st.booleans(), label="htmx")


def _percent(value: bytes) -> bytes:
    if len(value) < 1000:
        return quote_from_bytes(value).encode()
    # Every byte escaped: as valid, and much faster for huge values.
    return b"%" + value.hex("%").encode()


def encode(pairs: list[tuple[bytes, bytes]]) -> bytes:
    return b"&".join(_percent(key) + b"=" + _percent(value) for key, value in pairs)


# --- Reading the database --------------------------------------------------------------------------------

TABLES = {
    "atelier": Atelier,
    "participant": Participant,
    "impossible": Impossible,
    "metoo": MeToo,
    "offer": HelpOffer,
    "pilot": Pilot,
    "action": PlanAction,
    "helper": PlanAction.accepted_offers.through,
    "change": ActionChange,
    "team": Atelier.facilitators.through,
    "user": User,
    "presence": Presence,
}
# Logging in or out touches these, whatever the form.
IGNORED = {"user": {"last_login"}}


def snapshot() -> dict[str, dict[int, dict]]:
    rows = {}
    for name, model in TABLES.items():
        ignored = IGNORED.get(name, set())
        rows[name] = {
            row["id"]: {key: value for key, value in row.items() if key not in ignored}
            for row in model.objects.order_by("pk").values()
        }
    return rows


def diff(before: dict, after: dict) -> dict[str, dict]:
    changes = {}
    for name in TABLES:
        old, new = before[name], after[name]
        added = {pk: new[pk] for pk in new.keys() - old.keys()}
        removed = {pk: old[pk] for pk in old.keys() - new.keys()}
        changed = {
            pk: {key: (old[pk][key], new[pk][key]) for key in new[pk] if old[pk][key] != new[pk][key]}
            for pk in old.keys() & new.keys()
            if old[pk] != new[pk]
        }
        if added or removed or changed:
            changes[name] = {"added": added, "removed": removed, "changed": changed}
    return changes


def refused(response) -> bool:
    if response.status_code >= 400:
        return True
    storage = getattr(response.wsgi_request, "_messages", None)
    said = [*getattr(storage, "_loaded_messages", []), *getattr(storage, "_queued_messages", [])]
    return any(message.level >= message_levels.ERROR for message in said)


def assert_consistent() -> None:
    """What every committed state of the boards satisfies."""
    counted = Impossible.objects.annotate(
        n_me_toos=Count("me_toos", distinct=True),
        n_offers=Count("offers", filter=Q(offers__hidden=False), distinct=True),
    )
    wrong = [
        (row.pk, row.me_too_count, row.n_me_toos, row.offer_count, row.n_offers)
        for row in counted
        if (row.me_too_count, row.offer_count) != (row.n_me_toos, row.n_offers)
    ]
    assert not wrong, f"counters that do not match their rows: {wrong}"
    merged = Impossible.objects.exclude(merged_into=None)
    assert not merged.exclude(hidden=True, pending=False, me_too_count=0).exists()
    assert not merged.exclude(merged_into__atelier=F("atelier")).exists()
    assert not MeToo.objects.exclude(participant__atelier=F("impossible__atelier")).exists()
    assert not HelpOffer.objects.exclude(author__atelier=F("impossible__atelier")).exists()
    assert not PlanAction.objects.exclude(impossible__atelier=F("atelier"), pilot__atelier=F("atelier")).exists()
    helpers = PlanAction.accepted_offers.through.objects
    assert not helpers.exclude(helpoffer__impossible=F("planaction__impossible")).exists()
    assert not Atelier.objects.exclude(spotlight=None).exclude(spotlight__atelier=F("pk")).exists()


# Changes that are not a board write: no version.
UNVERSIONED = {
    "join": {"participant"},
    "atelier create": {"atelier", "team"},
    "team": {"team"},
}


def assert_whole_change(name: str, world: World, changes: dict, posted) -> None:
    """An accepted request made one whole, consistent change."""
    assert FORMS[name].who != "other", f"another atelier's facilitator changed {changes}"
    assert_consistent()
    atelier_rows = changes.get("atelier", {"changed": {}})["changed"]
    bumps = {pk: fields["version"] for pk, fields in atelier_rows.items() if "version" in fields}
    if name in UNVERSIONED:
        assert set(changes) <= UNVERSIONED[name], changes
        assert not bumps, changes
    elif name == "delete atelier":
        # Everything of the atelier goes, nothing else moves.
        assert set(changes["atelier"]["removed"]) == {world.atelier.pk}, changes
        assert not any(change["added"] or change["changed"] for change in changes.values()), changes
        assert not Participant.objects.filter(atelier=world.atelier.pk).exists()
        assert not PlanAction.objects.filter(atelier=world.atelier.pk).exists()
    else:
        assert set(bumps) == {world.atelier.pk}, f"a write without its version bump: {changes}"
        old, new = bumps[world.atelier.pk]
        assert new == old + 1, changes
    # What participants typed is what was stored (as the server read it).
    added = {table: list(change["added"].values()) for table, change in changes.items()}
    if name == "join":
        (participant,) = added["participant"]
        assert participant["name"] == posted.get("name").strip()
    elif name == "post impossible":
        assert set(changes) == {"atelier", "impossible"}, changes
        (impossible,) = added["impossible"]
        assert impossible["statement"] == posted.get("statement").strip()
        assert impossible["details"] == posted.get("details", "").strip()
        assert impossible["category"] == posted.get("category")
    elif name == "offer":
        assert set(changes) == {"atelier", "offer", "impossible"}, changes
        (offer,) = added["offer"]
        assert (offer["message"], offer["kind"]) == (posted.get("message").strip(), posted.get("kind"))
        ((old_count, new_count),) = [
            fields["offer_count"] for fields in changes["impossible"]["changed"].values() if "offer_count" in fields
        ]
        assert new_count == old_count + 1
    elif name == "moi aussi":
        assert set(changes) == {"atelier", "metoo", "impossible"}, changes
        ((old_count, new_count),) = [fields["me_too_count"] for fields in changes["impossible"]["changed"].values()]
        assert abs(new_count - old_count) == 1
    elif name == "profile":
        assert set(changes) <= {"atelier", "participant"}, changes
        alice = Participant.objects.get(pk=world.ids["alice"])
        assert (alice.name, alice.organisation) == (posted.get("name").strip(), posted.get("organisation", "").strip())


# --- The test -------------------------------------------------------------------------------------------


# CSRF is checked as in production: its middleware reads the body before any
# view, so a body too large or malformed is refused before anything is written.
CSRF_SECRET = "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz"


def _client(form: Form, world: World) -> Client:
    if form.who == "newcomer":
        client = Client()
    elif form.who == "other":
        client = Client()
        client.force_login(User.objects.get(username="olga"))
    else:
        client = world.clients[form.who]
        client.cookies.pop("messages", None)  # what an earlier example left to show
    client.handler.enforce_csrf_checks = True
    client.cookies["csrftoken"] = CSRF_SECRET
    # Django signals some exceptions it then answers properly (a body over
    # DATA_UPLOAD_MAX_MEMORY_SIZE is a 400): judge the response, not the signal.
    client.raise_request_exception = False
    return client


@pytest.mark.parametrize("name", FORMS)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_no_form_breaks_or_half_writes(world, name, data):
    form = FORMS[name]
    open_room = st.fixed_dictionaries(
        {
            "phase": st.sampled_from(form.open_phases),
            "locked": st.just(False),
            "premoderation": st.booleans(),
            "authors_can_plan": st.just(True),
        }
    )
    any_room = st.fixed_dictionaries(
        {
            "phase": st.sampled_from(Phase.values),
            "locked": st.booleans(),
            "premoderation": st.booleans(),
            "authors_can_plan": st.booleans(),
        }
    )
    state = data.draw(st.one_of(open_room, any_room), label="atelier")
    path, pairs, htmx = data.draw(requests(form, world), label="request")
    with transaction.atomic():
        Atelier.objects.filter(pk=world.atelier.pk).update(**state)
        client = _client(form, world)
        before = snapshot()
        response = client.post(
            path,
            encode(pairs),
            content_type="application/x-www-form-urlencoded",
            HTTP_X_CSRFTOKEN=CSRF_SECRET,
            **(HTMX if htmx else {}),
        )
        after = snapshot()
        changes = diff(before, after)
        if response.status_code >= 500:
            pytest.fail("".join(traceback.format_exception(*response.exc_info)) if response.exc_info else "a 500")
        if refused(response):
            assert not changes, f"a refused request ({response.status_code}) changed {changes}"
        elif changes:
            assert_whole_change(name, world, changes, response.wsgi_request.POST)
        transaction.set_rollback(True)
