"""The board against a model: random evenings of joins, posts, « moi aussi »,
offers and moderation, checked after every step.

A plain in-memory model says what the board must be. After each step the
database, the counters, a fresh page of every participant, the snapshot a
reconnecting socket gets, and the board each participant's socket has built
from the pushes so far (old state + events) must all say the same.

Writes go through the services (the one write path) and, for some steps,
through HTTP like a phone without JavaScript. Each example runs in its own
transaction, rolled back at the end; the on-commit broadcasts are run at the
end of each step, as a commit would.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client, TestCase
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from boards import phases, reads
from boards.access import session_key
from boards.live import messages, protocol, publish
from boards.models import Atelier, Category, HelpKind, HelpOffer, Impossible, MeToo, Participant, Role
from boards.phases import Action, Phase
from boards.services import facilitation, participation
from boards.services.core import NotFound, Refused

MAX_PARTICIPANTS = 4
MAX_IMPOSSIBLES = reads.PAGE_SIZE - 5  # the whole board fits on the first page
FOREIGN = "another atelier's"

CARD = re.compile(r'<article class="card" id="imp-(\d+)"')
METOO = re.compile(r'id="imp-(\d+)-metoo" data-count="(\d+)"')
OFFERS = re.compile(r'id="imp-(\d+)-offers" data-count="(\d+)"')
PRESSED = re.compile(r'aria-pressed="true" data-impossible="(\d+)"')
DELETED = re.compile(r'<div id="imp-(\d+)" hx-swap-oob="delete">')
VERSION = protocol.VERSION_MARKER
STATS = re.compile(r'<div class="stats" id="stats"[^>]*>(.*?)</div>', re.S)
NUM = re.compile(r'<span class="num">(\d+)</span>')
CSRF = re.compile(r'<input type="hidden" name="csrfmiddlewaretoken" value="[^"]*">')

# Text people type: any letters, digits, punctuation, spaces and emoji (no
# control characters: the fuzzing tests cover those).
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40)


# --- Reading the HTML ---------------------------------------------------------------------------


def impossible_list(html: str) -> str:
    """The inner HTML of `#impossible-list` (page or snapshot)."""
    start = html.index('<div id="impossible-list"')
    inner = html.index(">", start) + 1
    depth, position = 1, inner
    tags = re.compile(r"<div\b|</div>")
    while depth:
        match = tags.search(html, position)
        depth += 1 if match.group(0) == "<div" else -1
        position = match.end()
    return html[inner : match.start()]


def normalised(list_html: str) -> str:
    """What every reader sees alike: no CSRF token (pushes carry none: htmx
    sends the page's), « moi aussi » buttons unpressed (board.js presses the
    reader's own from `#my-me-toos`), whitespace between tags ignored."""
    html = CSRF.sub("", list_html)
    html = html.replace('value="off" aria-pressed="true"', 'value="on" aria-pressed="false"')
    html = re.sub(r"\s+", " ", html)
    return re.sub(r">\s+<", "><", html).strip()


def stats_in(html: str) -> tuple[int, int, int]:
    impossibles, me_toos, offers = (int(n) for n in NUM.findall(STATS.search(html).group(1))[:3])
    return impossibles, me_toos, offers


@dataclass
class Shown:
    """A board as a reader has it: cards in order, their counters, the stats."""

    cards: list[int]
    me_too: dict[int, int]
    offers: dict[int, int]
    stats: tuple[int, int, int]

    @classmethod
    def parse(cls, html: str) -> Shown:
        cards = impossible_list(html)
        return cls(
            cards=[int(n) for n in CARD.findall(cards)],
            me_too={int(i): int(n) for i, n in METOO.findall(cards)},
            offers={int(i): int(n) for i, n in OFFERS.findall(cards)},
            stats=stats_in(html),
        )


@dataclass
class LiveBoard:
    """A socket's view, built like board.js: a snapshot on connect, then each
    push applied out of band by id."""

    version: int
    cards: set[int]
    me_too: dict[int, int]
    offers: dict[int, int]
    stats: tuple[int, int, int]

    @classmethod
    def from_snapshot(cls, version: int, html: str) -> LiveBoard:
        shown = Shown.parse(html)
        return cls(version, set(shown.cards), shown.me_too, shown.offers, shown.stats)

    def apply(self, html: str) -> None:
        version, kind = VERSION.search(html).groups()
        assert (int(version), kind) == (self.version + 1, "event"), (version, kind, self.version)
        self.version = int(version)
        for card in CARD.findall(html):
            self.cards.add(int(card))
        for removed in DELETED.findall(html):
            self.cards.discard(int(removed))
            self.me_too.pop(int(removed), None)
            self.offers.pop(int(removed), None)
        for impossible_id, count in METOO.findall(html):
            if int(impossible_id) in self.cards:
                self.me_too[int(impossible_id)] = int(count)
        for impossible_id, count in OFFERS.findall(html):
            if int(impossible_id) in self.cards:
                self.offers[int(impossible_id)] = int(count)
        self.stats = stats_in(html)


# --- The model ------------------------------------------------------------------------------------


@dataclass
class ModelImpossible:
    id: int
    author: int
    submission_key: str
    pending: bool
    hidden: bool = False
    merged_into: int | None = None
    me_too: set[int] = field(default_factory=set)
    # offer id -> hidden
    offers: dict[int, bool] = field(default_factory=dict)

    @property
    def visible(self) -> bool:
        return not self.hidden and not self.pending

    @property
    def offer_count(self) -> int:
        return sum(not hidden for hidden in self.offers.values())


class Outcome:
    DONE = "done"
    REFUSED = "refused"
    NOT_FOUND = "not found"
    INVALID = "invalid"


class BoardMachine(RuleBasedStateMachine):
    # The machine of the example being run: the pushes go to it.
    running: BoardMachine | None = None

    def __init__(self) -> None:
        super().__init__()
        BoardMachine.running = self
        self._example = transaction.atomic()
        self._example.__enter__()
        # Snapshots are cached per version: versions repeat across examples.
        cache.clear()
        self.atelier = Atelier.objects.create(title="Atelier — modèle", territory="Charente", code="MODELE")
        elsewhere = Atelier.objects.create(title="Ailleurs", territory="Gironde", code="AILLEUR")
        stranger = participation.join_atelier(elsewhere, name="Zoé", organisation="", role=Role.OTHER)
        foreign = participation.post_impossible(
            stranger, statement="Ailleurs", category=Category.OTHER, submission_key="f"
        )
        self.foreign_impossible = foreign.pk
        self.foreign_offer = participation.offer_help(
            stranger, foreign.pk, kind=HelpKind.EXPERTISE, message="Ailleurs aussi", submission_key="f"
        ).pk
        fanny = User.objects.create_user("fanny-modele")
        self.atelier.facilitators.add(fanny)
        self.facilitator = Client()
        self.facilitator.force_login(fanny)
        self.pushed: list[str] = []
        self.sent = 0
        # The model.
        self.version = 0
        self.phase = Phase.IMPOSSIBLES
        self.locked = False
        self.premoderation = False
        self.members: dict[int, Client] = {}
        self.board: dict[int, ModelImpossible] = {}
        self.live: dict[int, LiveBoard] = {}
        self.seen_pressed: dict[int, set[int]] = {}
        self.checks = 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._example.__exit__(None, None, None)

    # --- Helpers -------------------------------------------------------------------------------------

    def allows(self, action: Action) -> bool:
        return phases.allows(self.phase, self.locked, action)

    def write(self, call, *args, **kwargs):
        """Run a write as one request would, then "commit": its broadcasts go out."""
        with TestCase.captureOnCommitCallbacks(execute=True):
            try:
                return Outcome.DONE, call(*args, **kwargs)
            except NotFound:
                return Outcome.NOT_FOUND, None
            except Refused:
                return Outcome.REFUSED, None
            except ValidationError:
                return Outcome.INVALID, None

    def http(self, client: Client, path: str, data: dict):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return client.post(f"/a/{self.atelier.code}/{path}", data)

    def bump(self) -> None:
        self.version += 1

    # --- Who and what a step is about -------------------------------------------------------------

    def someone(self, data) -> int:
        return data.draw(st.sampled_from(sorted(self.members)), label="who")

    def some_impossible(self, data, label: str = "impossible") -> int:
        """One of the board's impossibles (in any state), now and then another atelier's."""
        choice = data.draw(st.sampled_from(sorted(self.board) * 4 + [FOREIGN]), label=label)
        return self.foreign_impossible if choice == FOREIGN else choice

    def some_offer(self, data) -> int:
        ours = sorted(offer for model in self.board.values() for offer in model.offers)
        choice = data.draw(st.sampled_from(ours * 4 + [FOREIGN]), label="offer")
        return self.foreign_offer if choice == FOREIGN else choice

    def has_offers(self) -> bool:
        return any(model.offers for model in self.board.values())

    # --- Participants ---------------------------------------------------------------------------------

    def join_over_http(self, name: str, role: str) -> int | None:
        client = Client()
        response = client.post(f"/a/{self.atelier.code}/join/", {"name": name, "organisation": "", "role": role})
        if self.phase == Phase.CLOSED or not name.strip():
            assert response.status_code == 422
            return None
        assert response.status_code == 302, response.content.decode()[:500]
        participant_id = client.session[session_key(self.atelier.pk)]
        self.members[participant_id] = client
        # Its socket connects: a snapshot of the board as it is.
        version, html = messages.snapshot_message(self.atelier, "fr")
        self.live[participant_id] = LiveBoard.from_snapshot(version, html)
        return participant_id

    @initialize(names=st.lists(TEXT.filter(str.strip), min_size=2, max_size=3), statements=st.lists(TEXT, max_size=2))
    def a_room(self, names, statements):
        """The evening has started: a few people in the room, maybe a first post."""
        for index, name in enumerate(names):
            self.join_over_http(name, Role.values[index % len(Role.values)])
        for index, statement in enumerate(statements):
            self.post_as(sorted(self.members)[index % len(self.members)], statement, Category.RECRUITMENT, False, False)

    @precondition(lambda self: len(self.members) < MAX_PARTICIPANTS)
    @rule(name=st.one_of(TEXT, st.just(" ")), role=st.sampled_from(Role.values))
    def join(self, name, role):
        self.join_over_http(name, role)

    def post_as(self, author, statement, category, anonymous, over_http) -> None:
        key = secrets.token_urlsafe(8)
        fields = {"statement": statement, "category": category, "submission_key": key}
        before = Impossible.objects.count()
        if over_http:
            data = {**fields, "details": "", "anonymous": "on" if anonymous else ""}
            response = self.http(self.members[author], "impossibles/", data)
            outcome = Outcome.DONE if response.status_code == 302 else Outcome.INVALID
        else:
            participant = Participant.objects.select_related("atelier").get(pk=author)
            outcome, _impossible = self.write(participation.post_impossible, participant, anonymous=anonymous, **fields)
        valid = bool(statement.strip())
        if not valid:
            assert outcome == Outcome.INVALID
        elif not self.allows(Action.POST):
            assert outcome in (Outcome.REFUSED, Outcome.INVALID), outcome
        if outcome != Outcome.DONE:
            assert Impossible.objects.count() == before
            return
        assert valid and self.allows(Action.POST)
        impossible = Impossible.objects.get(author_id=author, submission_key=key)
        self.board[impossible.pk] = ModelImpossible(impossible.pk, author, key, pending=self.premoderation)
        self.bump()

    @precondition(lambda self: self.members and len(self.board) < MAX_IMPOSSIBLES)
    @rule(
        data=st.data(),
        statement=st.one_of(TEXT, st.just("   ")),
        category=st.sampled_from(Category.values),
        anonymous=st.booleans(),
        over_http=st.booleans(),
    )
    def post(self, data, statement, category, anonymous, over_http):
        self.post_as(self.someone(data), statement, category, anonymous, over_http)

    @precondition(lambda self: self.board)
    @rule(data=st.data(), over_http=st.booleans())
    def post_again(self, data, over_http):
        """A double tap or a retried request: the same submission key lands on
        the same impossible, whatever happened to the atelier since."""
        original = self.board[data.draw(st.sampled_from(sorted(self.board)))]
        fields = {"statement": "Autre chose", "category": Category.OTHER, "submission_key": original.submission_key}
        if over_http:
            response = self.http(self.members[original.author], "impossibles/", fields)
            assert response.status_code == 302
        else:
            participant = Participant.objects.select_related("atelier").get(pk=original.author)
            outcome, again = self.write(participation.post_impossible, participant, **fields)
            assert (outcome, again.pk) == (Outcome.DONE, original.id)

    @precondition(lambda self: self.members and self.board)
    @rule(data=st.data(), on=st.sampled_from([True, True, False]), over_http=st.booleans())
    def me_too(self, data, on, over_http):
        who, target = self.someone(data), self.some_impossible(data)
        if over_http:
            response = self.http(self.members[who], f"impossibles/{target}/me-too/", {"state": "on" if on else "off"})
            assert response.status_code in (302, 404)
            # Without JavaScript a refusal is a redirect too, with a message.
            outcome = Outcome.NOT_FOUND if response.status_code == 404 else None
        else:
            participant = Participant.objects.select_related("atelier").get(pk=who)
            outcome, _impossible = self.write(participation.set_me_too, participant, target, on=on)
        model = self.board.get(target)
        if model is None or not model.visible:
            assert outcome == Outcome.NOT_FOUND
            return
        if not self.allows(Action.ME_TOO):
            assert outcome in (Outcome.REFUSED, None)
            return
        assert outcome in (Outcome.DONE, None)
        if on and who not in model.me_too:
            model.me_too.add(who)
            self.bump()
        elif not on and who in model.me_too:
            model.me_too.discard(who)
            self.bump()

    @precondition(lambda self: self.members and self.board)
    @rule(
        data=st.data(),
        kind=st.sampled_from(HelpKind.values),
        message=st.one_of(TEXT, st.just(" ")),
        over_http=st.booleans(),
    )
    def offer(self, data, kind, message, over_http):
        who, target = self.someone(data), self.some_impossible(data)
        key = secrets.token_urlsafe(8)
        fields = {"kind": kind, "message": message, "contact": "", "submission_key": key}
        if over_http:
            response = self.http(self.members[who], f"impossibles/{target}/offers/", fields)
            outcome = {302: Outcome.DONE, 404: Outcome.NOT_FOUND}.get(response.status_code, Outcome.INVALID)
        else:
            participant = Participant.objects.select_related("atelier").get(pk=who)
            outcome, _offer = self.write(participation.offer_help, participant, target, **fields)
        model = self.board.get(target)
        if not message.strip():
            assert outcome in (Outcome.INVALID, Outcome.NOT_FOUND)
        elif model is None or not model.visible:
            assert outcome == Outcome.NOT_FOUND
        elif not self.allows(Action.OFFER):
            assert outcome in (Outcome.REFUSED, Outcome.INVALID)
        if outcome != Outcome.DONE:
            assert not HelpOffer.objects.filter(author_id=who, submission_key=key).exists()
            return
        offer = HelpOffer.objects.get(author_id=who, submission_key=key)
        model.offers[offer.pk] = False
        self.bump()

    # --- Facilitators ---------------------------------------------------------------------------------

    @precondition(lambda self: self.board)
    @rule(data=st.data(), hidden=st.booleans(), over_http=st.booleans())
    def hide_or_restore(self, data, hidden, over_http):
        target = self.some_impossible(data)
        if over_http:
            response = self.http(
                self.facilitator, f"console/impossibles/{target}/moderate/", {"op": "hide" if hidden else "restore"}
            )
            outcome = Outcome.NOT_FOUND if response.status_code == 404 else Outcome.DONE
        else:
            outcome, _none = self.write(facilitation.set_impossible_hidden, self.atelier.pk, target, hidden=hidden)
        model = self.board.get(target)
        if model is None:
            assert outcome == Outcome.NOT_FOUND
            return
        assert outcome == Outcome.DONE
        if model.merged_into is None and model.hidden != hidden:
            model.hidden = hidden
            self.bump()

    @precondition(lambda self: any(model.pending for model in self.board.values()))
    @rule(data=st.data())
    def approve(self, data):
        target = self.some_impossible(data)
        outcome, _none = self.write(facilitation.approve_impossible, self.atelier.pk, target)
        model = self.board.get(target)
        if model is None:
            assert outcome == Outcome.NOT_FOUND
            return
        assert outcome == Outcome.DONE
        if model.pending:
            model.pending = False
            self.bump()

    @precondition(lambda self: len(self.board) >= 2)
    @rule(data=st.data(), over_http=st.booleans())
    def merge(self, data, over_http):
        kept_id, duplicate_id = self.some_impossible(data, "kept"), self.some_impossible(data, "duplicate")
        if over_http:
            response = self.http(self.facilitator, f"console/impossibles/{duplicate_id}/merge/", {"into": kept_id})
            assert response.status_code in (200, 302, 404)
            outcome = {302: Outcome.DONE, 404: Outcome.NOT_FOUND}.get(response.status_code, Outcome.INVALID)
        else:
            outcome, _none = self.write(facilitation.merge_impossibles, self.atelier.pk, kept_id, duplicate_id)
        folded, into = self.board.get(duplicate_id), self.board.get(kept_id)
        if kept_id == duplicate_id:
            # Refused as such, or over HTTP a 404 when the page itself is gone
            # (another atelier's impossible, an already merged duplicate).
            assert outcome in (Outcome.INVALID, Outcome.NOT_FOUND)
            return
        if folded is None:
            assert outcome == Outcome.NOT_FOUND
            return
        if folded.merged_into == kept_id:
            assert outcome == Outcome.DONE
            return
        if into is None or not into.visible or folded.hidden:
            assert outcome == Outcome.NOT_FOUND
            return
        assert outcome == Outcome.DONE
        into.me_too |= folded.me_too
        if folded.author != into.author:
            into.me_too.add(folded.author)
        into.offers.update(folded.offers)
        folded.me_too, folded.offers = set(), {}
        folded.hidden, folded.pending, folded.merged_into = True, False, kept_id
        self.bump()

    @precondition(has_offers)
    @rule(data=st.data(), hidden=st.booleans())
    def hide_or_restore_offer(self, data, hidden):
        target = self.some_offer(data)
        outcome, _none = self.write(facilitation.set_offer_hidden, self.atelier.pk, target, hidden=hidden)
        holder = next((model for model in self.board.values() if target in model.offers), None)
        if holder is None:
            assert outcome == Outcome.NOT_FOUND
            return
        assert outcome == Outcome.DONE
        if holder.offers[target] != hidden:
            holder.offers[target] = hidden
            self.bump()

    # One rule for the room's settings, so that they do not crowd out the
    # participants' steps; phases that refuse posts are drawn less often.
    @rule(
        phase=st.sampled_from([Phase.IMPOSSIBLES] * 4 + Phase.values),
        locked=st.sampled_from([False, False, False, True]),
        premoderation=st.sampled_from([False, False, True]),
        over_http=st.booleans(),
    )
    def run_the_room(self, phase, locked, premoderation, over_http):
        if over_http:
            assert self.http(self.facilitator, "console/phase/", {"phase": phase}).status_code == 302
            assert self.http(self.facilitator, "console/lock/", {"locked": "1" if locked else ""}).status_code == 302
            on = "1" if premoderation else ""
            assert self.http(self.facilitator, "console/premoderation/", {"on": on}).status_code == 302
        else:
            self.write(facilitation.set_phase, self.atelier.pk, phase)
            self.write(facilitation.set_locked, self.atelier.pk, locked)
            self.write(facilitation.set_premoderation, self.atelier.pk, premoderation)
        for name, value in (("phase", phase), ("locked", locked), ("premoderation", premoderation)):
            if getattr(self, name) != value:
                setattr(self, name, value)
                self.bump()

    # --- After every step -------------------------------------------------------------------------------

    def expected(self, sort: str = "recent") -> Shown:
        visible = [model for model in self.board.values() if model.visible]
        if sort == "top":
            visible.sort(key=lambda model: (-len(model.me_too), -model.id))
        else:
            visible.sort(key=lambda model: -model.id)
        return Shown(
            cards=[model.id for model in visible],
            me_too={model.id: len(model.me_too) for model in visible},
            offers={model.id: model.offer_count for model in visible},
            stats=(
                len(visible),
                sum(len(model.me_too) for model in visible),
                sum(model.offer_count for model in visible),
            ),
        )

    @invariant()
    def the_database_agrees(self):
        atelier = Atelier.objects.get(pk=self.atelier.pk)
        assert (atelier.version, atelier.phase, atelier.locked, atelier.premoderation) == (
            self.version,
            self.phase,
            self.locked,
            self.premoderation,
        )
        rows = {row.pk: row for row in Impossible.objects.filter(atelier=atelier)}
        assert set(rows) == set(self.board)
        for impossible_id, model in self.board.items():
            row = rows[impossible_id]
            assert (row.hidden, row.pending, row.merged_into_id) == (model.hidden, model.pending, model.merged_into)
            assert row.me_too_count == len(model.me_too), impossible_id
            assert row.offer_count == model.offer_count, impossible_id
        me_toos = {}
        for impossible_id, participant_id in MeToo.objects.filter(impossible__atelier=atelier).values_list(
            "impossible_id", "participant_id"
        ):
            me_toos.setdefault(impossible_id, set()).add(participant_id)
        assert me_toos == {i: model.me_too for i, model in self.board.items() if model.me_too}
        offers = dict(
            HelpOffer.objects.filter(impossible__atelier=atelier).values_list("pk", "impossible_id").order_by()
        )
        assert offers == {offer: i for i, model in self.board.items() for offer in model.offers}
        assert set(Participant.objects.filter(atelier=atelier).values_list("pk", flat=True)) == set(self.members)

    @invariant()
    def every_screen_agrees(self):
        # What the pushes of this step did to every open socket.
        while self.sent < len(self.pushed):
            html = self.pushed[self.sent]
            self.sent += 1
            for live in self.live.values():
                live.apply(html)
        expected = self.expected()
        for participant_id, live in self.live.items():
            assert live.version == self.version, participant_id
            assert live.cards == set(expected.cards), participant_id
            assert (live.me_too, live.offers, live.stats) == (expected.me_too, expected.offers, expected.stats)

        # What a socket that (re)connects now gets.
        version, snapshot = messages.snapshot_message(self.atelier, "fr")
        assert version == self.version
        assert Shown.parse(snapshot) == expected
        _version, top_snapshot = messages.snapshot_message(self.atelier, "fr", "top")
        assert Shown.parse(top_snapshot) == self.expected("top")
        if not self.members:
            return

        # A fresh page. Pages differ between readers only by whose « moi aussi »
        # is pressed: every step one reader in turn reloads (in one order or the
        # other), and so does everyone whose own buttons should have changed.
        self.checks += 1
        members = sorted(self.members)
        in_turn = members[self.checks % len(members)]
        readers = {in_turn} | {
            participant_id
            for participant_id in members
            if self.pressed_for(participant_id) != self.seen_pressed.get(participant_id)
        }
        for participant_id in sorted(readers):
            top = participant_id == in_turn and self.checks % 2 == 1
            url = f"/a/{self.atelier.code}/" + ("?sort=top" if top else "")
            page = self.members[participant_id].get(url).content.decode()
            assert Shown.parse(page) == self.expected("top" if top else "recent")
            assert normalised(impossible_list(page)) == normalised(impossible_list(top_snapshot if top else snapshot))
            pressed = {int(n) for n in PRESSED.findall(impossible_list(page))}
            assert pressed == self.pressed_for(participant_id), participant_id
            self.seen_pressed[participant_id] = pressed

    def pressed_for(self, participant_id: int) -> set[int]:
        return {i for i, model in self.board.items() if model.visible and participant_id in model.me_too}


def _push(atelier_id: int, messages: dict[str, str], version: int | None = None) -> None:
    """The channel layer, as far as the model is concerned: what each socket reading French receives."""
    machine = BoardMachine.running
    if machine is not None and atelier_id == machine.atelier.pk:
        machine.pushed.append(messages["fr"])


@pytest.mark.django_db
def test_every_screen_follows_the_model(monkeypatch):
    monkeypatch.setattr(publish, "send", _push)
    run_state_machine_as_test(
        BoardMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
