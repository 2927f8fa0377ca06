"""What each screen promises about names and contacts, and what the app does.

The promise (templates/boards/_who_sees_what.html, the offer form, the plan
page, the follow-up page): a helper's contact is seen by the impossible's
author and the facilitators, and by the pilot of an action that retains the
offer only if the helper ticked the box; never on the board or the published
plan. The published plan names authors (unless anonymous), pilots and
helpers, with their organisations. One test per promise.
"""

from __future__ import annotations

import html
import json

import pytest

from boards import exporters
from boards.models import HelpKind, HelpOffer
from boards.services import participation, plan
from tests.test_plan_pages import build_scene

AGREED, DECLINED = "06 12 34 56 78", "charlie@example.org"


@pytest.fixture
def scene(atelier, alice, bob, charlie, facilitator):
    """Bob's contact may be shown to pilots, Charlie's may not (see build_scene)."""
    return build_scene(atelier, alice, bob, charlie, facilitator)


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


def test_the_offer_form_says_who_sees_the_contact_before_it_is_typed(alice, bob):
    impossible = participation.post_impossible(
        alice.participant, statement="Impossible de trouver un local", category="foncier", submission_key="k"
    )

    form = page(bob.get(f"/a/TST234/impossibles/{impossible.pk}/offers/"))

    assert "Visible par l'auteur·e de l'impossible et l'équipe d'animation" in form
    assert "jamais sur le tableau ni sur le plan publié" in form
    assert "son ou sa pilote peut aussi voir ce contact" in form
    # Declining is the default: the box starts unticked.
    assert 'type="checkbox" name="contact_for_pilots"' in form
    assert 'name="contact_for_pilots" id="id_contact_for_pilots" checked' not in form


@pytest.mark.parametrize(("ticked", "stored"), [("on", True), ("", False)])
def test_the_helper_s_choice_is_stored_with_the_offer(alice, bob, ticked, stored):
    impossible = participation.post_impossible(
        alice.participant, statement="Impossible de trouver un local", category="foncier", submission_key="k"
    )
    data = {"kind": HelpKind.RESOURCE, "message": "Un local", "contact": "bob@example.org", "submission_key": "o"}
    if ticked:
        data["contact_for_pilots"] = ticked

    bob.post(f"/a/TST234/impossibles/{impossible.pk}/offers/", data)

    assert HelpOffer.objects.get().contact_for_pilots is stored


def test_ticking_the_box_without_a_contact_shares_nothing(alice, bob):
    impossible = participation.post_impossible(
        alice.participant, statement="Impossible de trouver un local", category="foncier", submission_key="k"
    )
    offer = participation.offer_help(
        bob.participant,
        impossible.pk,
        kind=HelpKind.RESOURCE,
        message="Un local",
        contact_for_pilots=True,
        submission_key="o",
    )
    assert offer.contact_for_pilots is False


def test_the_author_sees_every_contact_and_nobody_else_in_the_room_does(scene, alice, bob):
    welders_for_alice = page(alice.get(f"/a/TST234/impossibles/{scene.welders.pk}/"))
    welders_for_bob = page(bob.get(f"/a/TST234/impossibles/{scene.welders.pk}/"))
    board = page(bob.get("/a/TST234/"))

    assert DECLINED in welders_for_alice
    assert DECLINED not in welders_for_bob
    assert DECLINED not in board and AGREED not in board


def test_the_facilitators_see_every_contact_on_the_console_the_plan_and_its_exports(scene, facilitator):
    for url in ("/a/TST234/console/", "/a/TST234/plan/", "/a/TST234/plan/export/json/"):
        content = html.unescape(facilitator.get(url).content.decode())
        assert DECLINED in content and AGREED in content, url


def test_a_pilot_sees_only_the_contacts_their_helpers_agreed_to_show(scene, atelier, charlie, facilitator, outsider):
    # Charlie (not ticked) and Bob (ticked) both help the mayor's office now.
    declined = participation.offer_help(
        charlie.participant,
        scene.loan.pk,
        kind=HelpKind.EXPERTISE,
        message="J'ai monté un dossier BPI l'an dernier",
        contact="charlie.pret@example.org",
        submission_key="offer-charlie-loan",
    )
    bob_offer = HelpOffer.objects.get(author__name="Bob")
    actor = plan.Actor.facilitator(facilitator.user)
    plan.update_action(atelier.pk, scene.meeting.pk, actor=actor, helpers=[bob_offer.pk, declined.pk])

    follow_up = page(outsider.get(f"/suivi/{scene.mayor_pilot.token}/"))
    panels = page(outsider.get(f"/suivi/{scene.mayor_pilot.token}/panels/"))

    for shown in (follow_up, panels):
        assert AGREED in shown
        assert "charlie.pret@example.org" not in shown
        assert "Charlie (Charlie SARL)" in shown  # named: the facilitators can relay
    assert "quand elles ont accepté de le montrer aux pilotes" in follow_up


def test_the_published_plan_names_people_as_promised_and_never_shows_a_contact(scene, outsider):
    token = plan.publish_plan(scene.atelier.pk)

    public = page(outsider.get(f"/plan/{token}/"))
    data = json.loads(outsider.get(f"/plan/{token}/export/json/").content)

    for shown in (public, json.dumps(data, ensure_ascii=False)):
        assert "Alice" in shown and "Alice SARL" in shown  # author and pilot
        assert "Charlie" in shown and "Charlie SARL" in shown  # helper
        assert "Dominique" not in shown  # posted without a name
        assert DECLINED not in shown and AGREED not in shown
    for identifier in (exporter.identifier for exporter in exporters.all_exporters()):
        content = outsider.get(f"/plan/{token}/export/{identifier}/").content
        assert DECLINED.encode() not in content and AGREED.encode() not in content, identifier


@pytest.mark.parametrize("where", ["/a/TST234/join/", "/a/TST234/me/data/"])
def test_the_join_notice_and_my_data_make_the_same_promise(atelier, alice, outsider, where):
    client = outsider if "join" in where else alice
    shown = page(client.get(where))

    assert "si vous cochez la case prévue, par le ou la pilote de l'action qui retient votre aide" in shown
    assert "Jamais sur le tableau, jamais sur le plan publié" in shown
    assert "les noms et organisations des auteur·es des impossibles (sauf ceux publiés sans nom)" in shown


def test_my_data_says_whether_my_contact_is_shown_to_pilots(scene, bob, charlie):
    assert "montré aussi au ou à la pilote" in page(bob.get("/a/TST234/me/data/"))
    assert "pas montré aux pilotes" in page(charlie.get("/a/TST234/me/data/"))
    assert json.loads(bob.get("/a/TST234/me/data.json").content)["offers"][0]["contact_for_pilots"] is True
