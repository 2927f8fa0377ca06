"""Reads compiled once (cerveau/prepared.py) answer what their querysets
answer: the same rows, converted the same way, as the same model instances,
in one query, compiled once per database and shape."""

from __future__ import annotations

import datetime
from unittest import mock

import pytest
from django.contrib.sessions.models import Session
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone

from boards import access
from boards.live import presence
from boards.models import Atelier, Impossible, MeToo, Participant, Presence, Role
from boards.services import participation as participation_service
from boards.views import participation as participation_views
from cerveau import sessions
from cerveau.prepared import Prepared
from tests.conftest import post_impossible


def _state(obj) -> tuple:
    """What an instance holds: its class, its loaded fields' values and
    types, and the same for the related instances select_related cached."""
    loaded = obj.__dict__
    fields = tuple(
        (field.attname, loaded[field.attname], type(loaded[field.attname]))
        for field in obj._meta.concrete_fields
        if field.attname in loaded
    )
    related = tuple(
        (name, _state(value)) for name, value in sorted(obj._state.fields_cache.items()) if value is not None
    )
    return (type(obj), obj.get_deferred_fields(), fields, related)


def _same(prepared_rows: list, queryset_rows: list) -> None:
    if queryset_rows and isinstance(queryset_rows[0], Atelier | Participant | Impossible | Session):
        assert [_state(row) for row in prepared_rows] == [_state(row) for row in queryset_rows]
    else:
        assert prepared_rows == queryset_rows
    assert prepared_rows or queryset_rows, "compare on rows, not on two empty answers"


@pytest.fixture
def room(atelier, other_atelier, alice, bob):
    """Two ateliers, impossibles (one hidden), « moi aussi », sockets and sessions."""
    anne, bruno = alice.participant, bob.participant
    elsewhere = participation_service.join_atelier(other_atelier, name="Elsa", organisation="", role=Role.PEER)
    first = post_impossible(anne, "Impossible de recruter des soudeurs")
    second = post_impossible(anne, "Impossible d'obtenir le permis")
    hidden = post_impossible(anne, "Impossible caché")
    Impossible.objects.filter(pk=hidden.pk).update(hidden=True)
    MeToo.objects.create(impossible=first, participant=bruno)
    MeToo.objects.create(impossible=second, participant=bruno)
    now = timezone.now()
    Presence.objects.create(channel_name="socket.a", atelier=atelier, participant=anne, seen_at=now)
    Presence.objects.create(
        channel_name="socket.b", atelier=atelier, participant=anne, seen_at=now - datetime.timedelta(hours=1)
    )
    return {"anne": anne, "bruno": bruno, "elsa": elsewhere, "session": alice.cookies["sessionid"].value}


# Each prepared read of the project, with its own queryset and calls that find rows.
CASES = {
    access.atelier_by_code: (
        lambda code: Atelier.objects.filter(code=code),
        lambda room: [("TST234",), ("AUTRE9",)],
    ),
    access._participant_by_code: (
        lambda pks, code: Participant.objects.select_related("atelier").filter(pk__in=pks, atelier__code=code),
        lambda room: [([room["anne"].pk], "TST234"), ([room["anne"].pk, room["elsa"].pk], "AUTRE9")],
    ),
    sessions._live_session: (
        lambda key, now: Session.objects.filter(session_key=key, expire_date__gt=now),
        lambda room: [(room["session"], timezone.now())],
    ),
    participation_views._my_me_toos: (
        lambda participant, atelier: MeToo.objects.filter(
            participant_id=participant, impossible__atelier_id=atelier
        ).values_list("impossible_id", flat=True),
        lambda room: [(room["bruno"].pk, room["bruno"].atelier_id)],
    ),
    participation_views._own_impossibles: (
        lambda participant: (
            Impossible.objects.filter(author_id=participant, hidden=False)
            .order_by("-created_at")
            .only("pk", "statement", "offer_count", "pending")
        ),
        lambda room: [(room["anne"].pk,)],
    ),
    presence._live_sockets: (
        lambda participant, since: Presence.objects.filter(participant_id=participant, seen_at__gte=since).values_list(
            "pk", flat=True
        ),
        lambda room: [
            (room["anne"].pk, timezone.now() - presence.STALE_AFTER),
            (room["anne"].pk, timezone.now() - datetime.timedelta(days=1)),
        ],
    ),
    participation_service._phase_of: (
        lambda atelier: Atelier.objects.filter(pk=atelier).only("phase", "locked"),
        lambda room: [(room["anne"].atelier_id,), (room["elsa"].atelier_id,)],
    ),
}


def test_every_prepared_read_has_its_case():
    project = {read for read in Prepared.every if not read.build.__module__.startswith("tests.")}
    assert project <= set(CASES)


@pytest.mark.parametrize("read", list(CASES), ids=lambda read: read.build.__module__)
def test_a_prepared_read_answers_what_its_queryset_answers(read, room, django_assert_num_queries):
    queryset, calls = CASES[read]
    for args in calls(room):
        expected = list(queryset(*args))
        with django_assert_num_queries(1):
            rows = read(*args)
        _same(rows, expected)
        # And again, from the plan compiled by the first call.
        _same(read(*args), expected)


def test_datetimes_and_booleans_come_back_as_the_orm_gives_them(atelier):
    read = Prepared(lambda code: Atelier.objects.filter(code=code))
    atelier = read.one(atelier.code)
    assert isinstance(atelier.locked, bool)
    assert atelier.created_at.tzinfo is not None


def test_each_length_of_a_list_has_its_plan_and_compiles_once(room):
    read = Prepared(lambda pks: Participant.objects.filter(pk__in=pks).order_by("pk"))
    anne, bruno, elsa = room["anne"], room["bruno"], room["elsa"]
    with mock.patch.object(SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql) as compiled:
        assert read([anne.pk]) == [anne]
        assert read([bruno.pk]) == [bruno]
        assert read([anne.pk, elsa.pk]) == [anne, elsa]
        assert read([bruno.pk, elsa.pk]) == [bruno, elsa]
        assert read([]) == []
    assert compiled.call_count == 3, "one compilation per length"
    assert len(read.plans) == 3


def test_a_long_list_runs_as_a_queryset_without_a_plan(room, monkeypatch):
    monkeypatch.setattr("cerveau.prepared.LONGEST_LIST", 2)
    read = Prepared(lambda pks: Participant.objects.filter(pk__in=pks).order_by("pk"))
    everyone = [room["anne"], room["bruno"], room["elsa"]]
    assert read([person.pk for person in everyone]) == everyone
    assert read.plans == {}


def test_one_is_none_for_no_row_and_for_several(room):
    read = Prepared(lambda atelier: Participant.objects.filter(atelier_id=atelier))
    assert read.one(room["anne"].atelier_id) is None  # Anne and Bruno
    assert read.one(room["elsa"].atelier_id) == room["elsa"]
    assert read.one(0) is None


def test_a_value_the_orm_transforms_is_refused_at_the_first_call(atelier):
    read = Prepared(lambda text: Atelier.objects.filter(title__icontains=text))
    with pytest.raises(ValueError, match="not plain SQL parameters"):
        read("impossible")


@pytest.mark.parametrize("value", [True, 1.5, None, b"code"])
def test_an_argument_it_cannot_stand_in_for_is_refused(value, db):
    with pytest.raises(TypeError):
        Prepared(lambda anything: Atelier.objects.filter(code=anything))(value)


def test_only_model_rows_or_one_flat_column(atelier):
    with pytest.raises(ValueError, match="model instances or one flat column"):
        Prepared(lambda code: Atelier.objects.filter(code=code).values("pk"))(atelier.code)
