"""« Vos impossibles »: the author's own list, fetched again by their page (boards:my_impossibles)."""

from __future__ import annotations

from boards.services import participation
from tests.conftest import post_impossible


def test_it_lists_the_authors_impossibles_with_their_offers(alice, bob):
    mine = post_impossible(alice.participant, "Impossible de trouver un local pour la forge")
    post_impossible(bob.participant, "Impossible de recruter un chauffeur")
    participation.offer_help(
        bob.participant, mine.pk, kind="expertise", message="Je connais un local", submission_key="k1"
    )

    html = alice.get("/a/TST234/impossibles/mine/", HTTP_HX_REQUEST="true").content.decode()

    assert html.lstrip().startswith('<section class="panel mine" id="mine"')
    assert f'data-ids="{mine.pk} "' in html
    assert "Impossible de trouver un local pour la forge" in html
    assert "Impossible de recruter un chauffeur" not in html
    assert "1 offre d'aide" in html
    assert " hidden>" not in html


def test_it_is_hidden_when_the_participant_posted_nothing(bob):
    html = bob.get("/a/TST234/impossibles/mine/").content.decode()

    assert 'data-ids=""' in html
    assert " hidden>" in html


def test_it_is_not_for_visitors_who_have_not_joined(outsider, alice):
    response = outsider.get("/a/TST234/impossibles/mine/")

    assert response.status_code in {302, 403}
    assert b"mine-title" not in response.content
