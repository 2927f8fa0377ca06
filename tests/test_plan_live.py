"""Sockets of pages opened through a link (the published plan, a pilot's
follow-up): they hear that the board moved on, never what is on it, and
they close as soon as the link is revoked or renewed."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import connections

from boards.live import protocol
from boards.models import Atelier
from boards.services import facilitation, plan
from boards.services.participation import offer_help
from tests.conftest import browser_socket, post_impossible
from tests.test_consumer import TIMEOUT, board_frames, live_version

pytestmark = pytest.mark.django_db(transaction=True)

STATEMENT = "Impossible de trouver un local à Jarnac"
SECRET_OFFER = "Je connais le propriétaire de l'ancienne laiterie"


@pytest.fixture(autouse=True)
async def _release_connections():
    yield
    await sync_to_async(connections.close_all)()


def _planned(atelier, alice, bob):
    impossible = post_impossible(alice.participant, STATEMENT)
    offer_help(bob.participant, impossible.pk, kind="contact", message=SECRET_OFFER, submission_key="o")
    facilitation.set_phase(atelier.pk, "plan")
    action = plan.create_action(
        atelier.pk,
        impossible.pk,
        actor=plan.Actor.facilitator(User.objects.create_user("fanny-live")),
        title="Visiter la laiterie",
        pilot=plan.PilotChoice(name="Mairie de Jarnac"),
        submission_key="a",
    )
    share = plan.publish_plan(atelier.pk)
    return impossible, action, share


async def _closed(communicator: WebsocketCommunicator) -> dict:
    """The close frame, after the version tick that may come first."""
    for _frame in range(3):
        output = await communicator.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            return output
    raise AssertionError("the socket stayed open")


async def _connect(path: str) -> WebsocketCommunicator:
    communicator = browser_socket(path)
    connected, _subprotocol = await communicator.connect(timeout=TIMEOUT)
    assert connected
    return communicator


@pytest.mark.parametrize("kind", ["plan", "suivi"])
async def test_a_link_page_hears_only_version_ticks(atelier, alice, bob, kind):
    _impossible, action, share = await sync_to_async(_planned)(atelier, alice, bob)
    token = share if kind == "plan" else action.pilot.token
    communicator = await _connect(f"/ws/{kind}/{token}/?v=0")
    try:
        [snapshot] = await board_frames(communicator)
        version = await sync_to_async(lambda: Atelier.objects.get(pk=atelier.pk).version)()
        assert live_version(snapshot) == (version, "snapshot")
        assert STATEMENT not in snapshot and "Visiter" not in snapshot

        await sync_to_async(plan.update_action)(
            atelier.pk, action.pk, actor=plan.Actor.pilot(action.pilot), status="en_cours"
        )

        [tick] = await board_frames(communicator)
        assert live_version(tick) == (version + 1, "event")
        assert tick == protocol.version_marker(version + 1, "event")
    finally:
        await communicator.disconnect()


async def test_revoking_the_public_link_closes_its_pages(atelier, alice, bob):
    _impossible, _action, share = await sync_to_async(_planned)(atelier, alice, bob)
    communicator = await _connect(f"/ws/plan/{share}/")
    await board_frames(communicator)

    await sync_to_async(plan.revoke_plan_link)(atelier.pk)

    assert (await _closed(communicator))["code"] == 4404
    refused = await _connect(f"/ws/plan/{share}/")
    assert (await refused.receive_output(timeout=TIMEOUT)) == {"type": "websocket.close", "code": 4403}


async def test_renewing_a_pilots_link_closes_the_old_ones_pages(atelier, alice, bob):
    _impossible, action, _share = await sync_to_async(_planned)(atelier, alice, bob)
    old = action.pilot.token
    communicator = await _connect(f"/ws/suivi/{old}/")
    await board_frames(communicator)

    await sync_to_async(plan.renew_pilot_link)(atelier.pk, action.pilot_id)

    assert (await _closed(communicator))["code"] == 4404


@pytest.mark.parametrize("path", ["/ws/plan/nope/", "/ws/suivi/nope/", "/ws/autre/x/", "/ws/plan/" + "x" * 70 + "/"])
async def test_unknown_links_are_refused(atelier, path):
    communicator = await _connect(path)
    assert (await communicator.receive_output(timeout=TIMEOUT)) == {"type": "websocket.close", "code": 4403}
