from __future__ import annotations

from tests.conftest import post_impossible


def test_it_shows_the_board_to_a_participant(alice):
    post_impossible(alice.participant, "Impossible d'obtenir le permis")
    response = alice.get("/a/TST234/")
    assert response.status_code == 200
    assert "Impossible d&#x27;obtenir le permis" in response.content.decode()
