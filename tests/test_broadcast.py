"""What every action publishes, when, and what happens when the channel
layer misbehaves: a live update is best effort, a write is not."""

from __future__ import annotations

import asyncio
import logging

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import translation
from pytest_django.asserts import assertRedirects

from boards.live import messages, protocol, publish
from boards.models import Atelier, HelpKind, HelpOffer, Impossible, MeToo, Participant, Role
from boards.services import participation
from tests.conftest import post_impossible

LANGUAGES = [code for code, _name in settings.LANGUAGES]


class Boom(Exception):
    pass


def _version() -> int:
    return Atelier.objects.get(code="TST234").version


# --- One event per action, after commit ---------------------------------------------------


def test_posting_an_impossible_emits_impossible_posted_after_commit(alice, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        impossible = post_impossible(alice.participant)
        assert events == []  # not before the commit

    assert events == [(impossible.atelier_id, 1, {"type": "impossible.posted", "impossible": impossible.pk})]
    assert _version() == 1


def test_saying_moi_aussi_emits_metoo_changed(alice, bob, events, django_capture_on_commit_callbacks):
    impossible = post_impossible(alice.participant)

    with django_capture_on_commit_callbacks(execute=True):
        participation.set_me_too(bob.participant, impossible.pk, on=True)
        assert events == []

    assert events == [(impossible.atelier_id, 2, {"type": "metoo.changed", "impossible": impossible.pk})]


def test_withdrawing_moi_aussi_emits_metoo_changed(alice, bob, events, django_capture_on_commit_callbacks):
    impossible = post_impossible(alice.participant)
    participation.set_me_too(bob.participant, impossible.pk, on=True)

    with django_capture_on_commit_callbacks(execute=True):
        participation.set_me_too(bob.participant, impossible.pk, on=False)

    assert events == [(impossible.atelier_id, 3, {"type": "metoo.changed", "impossible": impossible.pk})]


def test_offering_help_emits_offer_posted(alice, bob, events, django_capture_on_commit_callbacks):
    impossible = post_impossible(alice.participant)

    with django_capture_on_commit_callbacks(execute=True):
        offer = participation.offer_help(
            bob.participant, impossible.pk, kind=HelpKind.EXPERTISE, message="Je connais", submission_key="o1"
        )
        assert events == []

    assert events == [
        (impossible.atelier_id, 2, {"type": "offer.posted", "impossible": impossible.pk, "offer": offer.pk})
    ]


def test_updating_a_profile_emits_participant_updated(alice, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        participation.update_participant(alice.participant, name="Alice B.", organisation="", role=Role.PEER)
        assert events == []

    assert events == [
        (alice.participant.atelier_id, 1, {"type": "participant.updated", "participant": alice.participant.pk})
    ]


def test_joining_changes_nothing_on_the_board_and_emits_nothing(atelier, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        participation.join_atelier(atelier, name="Dana", organisation="", role=Role.OTHER)

    assert callbacks == []
    assert events == []
    assert _version() == 0


def test_a_sequence_of_actions_emits_consecutive_versions(alice, bob, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        impossible = post_impossible(alice.participant)
    with django_capture_on_commit_callbacks(execute=True):
        participation.set_me_too(bob.participant, impossible.pk, on=True)
    with django_capture_on_commit_callbacks(execute=True):
        participation.set_me_too(bob.participant, impossible.pk, on=True)  # no change
    with django_capture_on_commit_callbacks(execute=True):
        participation.offer_help(bob.participant, impossible.pk, kind="expertise", message="Oui", submission_key="o")
    with django_capture_on_commit_callbacks(execute=True):
        participation.update_participant(bob.participant, name="Bob", organisation="", role=Role.ELECTED)

    assert [(version, event["type"]) for _atelier, version, event in events] == [
        (1, "impossible.posted"),
        (2, "metoo.changed"),
        (3, "offer.posted"),
        (4, "participant.updated"),
    ]
    assert _version() == 4


# --- Nothing on rollback ------------------------------------------------------------------


def test_nothing_is_emitted_when_the_transaction_rolls_back(alice, bob, events, django_capture_on_commit_callbacks):
    impossible = post_impossible(alice.participant)
    version_before = _version()

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Boom), transaction.atomic():
        post_impossible(alice.participant, "Impossible annulé")
        participation.set_me_too(bob.participant, impossible.pk, on=True)
        participation.offer_help(bob.participant, impossible.pk, kind="expertise", message="m", submission_key="k")
        participation.update_participant(alice.participant, name="Alice X", organisation="", role=Role.PEER)
        raise Boom

    assert callbacks == []
    assert events == []
    assert _version() == version_before
    assert list(Impossible.objects.values_list("statement", flat=True)) == [impossible.statement]
    assert not MeToo.objects.exists()
    assert not HelpOffer.objects.exists()
    assert Participant.objects.get(pk=alice.participant.pk).name == "Alice"


@pytest.mark.django_db(transaction=True)
def test_nothing_is_emitted_when_the_outermost_transaction_rolls_back(alice, events):
    with pytest.raises(Boom), transaction.atomic():
        post_impossible(alice.participant)
        raise Boom

    assert events == []
    assert not Impossible.objects.exists()
    assert _version() == 0


@pytest.mark.django_db(transaction=True)
def test_it_emits_on_a_real_commit(alice, events):
    impossible = post_impossible(alice.participant)
    assert events == [(impossible.atelier_id, 1, {"type": "impossible.posted", "impossible": impossible.pk})]


# --- A broken channel layer never breaks or undoes a write -----------------------------------


class BrokenLayer:
    def __init__(self) -> None:
        self.calls = 0

    async def group_send(self, group, message):
        self.calls += 1
        raise ConnectionError("redis is away")


@pytest.fixture
def broken_layer(monkeypatch):
    layer = BrokenLayer()
    monkeypatch.setattr(publish, "get_channel_layer", lambda *args, **kwargs: layer)
    return layer


@pytest.mark.django_db(transaction=True)
def test_a_failing_channel_layer_does_not_fail_a_post(alice, broken_layer, events, caplog):
    with caplog.at_level(logging.WARNING, logger="boards.live.publish"):
        response = alice.post(
            "/a/TST234/impossibles/",
            {"statement": "Impossible malgré Redis", "category": "autre", "submission_key": "k1"},
        )

    impossible = Impossible.objects.get()
    assertRedirects(response, f"/a/TST234/#imp-{impossible.pk}", fetch_redirect_response=False)
    assert impossible.statement == "Impossible malgré Redis"
    assert _version() == 1
    # It did try, once per language, and said so in the log.
    assert len(events) == 1
    # One group per language, and the version tick for pages opened through a link.
    assert broken_layer.calls == len(LANGUAGES) + 1
    assert "not sent" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_failing_channel_layer_does_not_fail_moi_aussi(alice, bob, broken_layer):
    impossible = post_impossible(alice.participant)

    response = bob.post(f"/a/TST234/impossibles/{impossible.pk}/me-too/", {"state": "on"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 204
    assert Impossible.objects.get().me_too_count == 1
    assert MeToo.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failing_channel_layer_does_not_fail_an_offer_or_a_profile(alice, bob, broken_layer):
    impossible = post_impossible(alice.participant)

    offer = bob.post(
        f"/a/TST234/impossibles/{impossible.pk}/offers/",
        {"kind": "expertise", "message": "Je peux aider", "submission_key": "o1"},
    )
    profile = bob.post("/a/TST234/me/", {"name": "Bob R.", "organisation": "", "role": Role.ELECTED})

    assert offer.status_code == profile.status_code == 302
    assert HelpOffer.objects.count() == 1
    assert Impossible.objects.get().offer_count == 1
    assert Participant.objects.get(pk=bob.participant.pk).name == "Bob R."
    assert _version() == 3


@pytest.mark.django_db(transaction=True)
def test_a_failing_render_does_not_fail_the_write(alice, monkeypatch, events, caplog):
    def explode(*args, **kwargs):
        raise Boom

    monkeypatch.setattr(messages, "event_messages", explode)

    with caplog.at_level(logging.ERROR, logger="boards.live.publish"):
        response = alice.post(
            "/a/TST234/impossibles/", {"statement": "Impossible quand même", "category": "autre", "submission_key": "k"}
        )

    assert response.status_code == 302
    assert Impossible.objects.count() == 1
    assert len(events) == 1
    assert "could not render" in caplog.text


def test_one_failing_group_does_not_stop_the_others(monkeypatch, atelier):
    sent = []

    class HalfBrokenLayer:
        async def group_send(self, group, message):
            if group.endswith("-fr"):
                raise ConnectionError("full")
            sent.append((group, message["html"]))

    monkeypatch.setattr(publish, "get_channel_layer", HalfBrokenLayer)

    publish.send(atelier.pk, {"fr": "<p>fr</p>", "en": "<p>en</p>"})

    assert sent == [(f"atelier-{atelier.pk}-en", "<p>en</p>")]


# --- The messages --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["impossible.posted", "metoo.changed", "offer.posted", "participant.updated"])
def test_event_messages_renders_one_message_per_language(alice, bob, kind):
    impossible = post_impossible(alice.participant)
    offer = participation.offer_help(bob.participant, impossible.pk, kind="expertise", message="m", submission_key="o")
    event = {"type": kind, "impossible": impossible.pk, "offer": offer.pk, "participant": bob.participant.pk}

    rendered = messages.event_messages(impossible.atelier_id, 42, event)

    assert list(rendered) == LANGUAGES == ["fr", "en"]
    for html in rendered.values():
        assert html.startswith(protocol.version_marker(42, "event", oob=True))


def test_event_messages_are_rendered_in_their_language(alice, render_counter):
    impossible = post_impossible(alice.participant)
    render_counter.clear()

    rendered = messages.event_messages(
        impossible.atelier_id, 1, {"type": "impossible.posted", "impossible": impossible.pk}
    )

    assert render_counter == [("boards/live/event.html", language) for language in LANGUAGES]
    assert "Nouvel impossible : Impossible de recruter des soudeurs" in rendered["fr"]
    assert "Impossible de recruter des soudeurs" in rendered["en"]


def test_an_event_about_a_hidden_impossible_still_updates_the_stats(alice):
    impossible = post_impossible(alice.participant)
    Impossible.objects.filter(pk=impossible.pk).update(hidden=True)

    rendered = messages.event_messages(impossible.atelier_id, 3, {"type": "metoo.changed", "impossible": impossible.pk})

    for html in rendered.values():
        assert html.startswith(protocol.version_marker(3, "event", oob=True))
        assert 'id="stats"' in html
        assert f"imp-{impossible.pk}" not in html


def test_the_snapshot_starts_with_its_version(alice):
    post_impossible(alice.participant)
    version, html = messages.snapshot_message(Atelier.objects.get(), "fr")
    assert version == 1
    assert html.startswith(protocol.version_marker(1, "snapshot", oob=True))


# --- Rendered once per event, whoever listens ----------------------------------------------


@pytest.fixture
def render_counter(monkeypatch):
    calls = []
    real = messages.render_to_string

    def counting(template_name, context=None, *args, **kwargs):
        calls.append((template_name, translation.get_language()))
        return real(template_name, context, *args, **kwargs)

    monkeypatch.setattr(messages, "render_to_string", counting)
    return calls


def publish_to_listeners(atelier_id: int, version: int, event: dict, listeners: dict[str, int]) -> dict[str, list]:
    """Open `listeners[language]` channels in each language group, publish the
    event, and return what each channel received.

    One event loop for all of it: a pub/sub layer knows only the channels of
    its own loop, as a server process does.
    """

    async def run() -> dict[str, list]:
        layer = get_channel_layer()
        opened = {}
        for language, count in listeners.items():
            opened[language] = [await layer.new_channel() for _ in range(count)]
            for channel in opened[language]:
                await layer.group_add(protocol.atelier_group(atelier_id, language), channel)
        await sync_to_async(publish.publish)(atelier_id, version, event)
        received = {}
        for language, channels in opened.items():
            received[language] = [await asyncio.wait_for(layer.receive(channel), 5) for channel in channels]
            for channel in channels:
                await layer.group_discard(protocol.atelier_group(atelier_id, language), channel)
        return received

    return async_to_sync(run)()


@pytest.mark.parametrize("listeners", [0, 1, 5])
def test_an_event_is_rendered_once_per_language_whatever_the_number_of_listeners(
    alice, events, render_counter, listeners
):
    impossible = post_impossible(alice.participant)
    event = {"type": "impossible.posted", "impossible": impossible.pk}
    render_counter.clear()

    received = publish_to_listeners(impossible.atelier_id, 1, event, {"fr": listeners, "en": listeners})

    assert render_counter == [("boards/live/event.html", language) for language in LANGUAGES]
    assert len(events) == 1
    expected = messages.event_messages(impossible.atelier_id, 1, event)
    for language in ("fr", "en"):
        assert len(received[language]) == listeners
        for message in received[language]:
            # The version too: relays note the newest they passed on (relay.quiet_since).
            assert message == {"type": "board.message", "html": expected[language], "version": 1}
            assert message["html"].startswith(protocol.version_marker(1, "event", oob=True))


def test_a_listener_receives_its_own_language(alice):
    impossible = post_impossible(alice.participant)
    event = {"type": "impossible.posted", "impossible": impossible.pk}

    received = publish_to_listeners(impossible.atelier_id, 1, event, {"fr": 1, "en": 1})

    expected = messages.event_messages(impossible.atelier_id, 1, event)
    assert received["fr"][0]["html"] == expected["fr"]
    assert received["en"][0]["html"] == expected["en"]
