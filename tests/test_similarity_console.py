"""« Doublons probables » in the facilitators' console: likely duplicate
pairs, best first, each with « Fusionner » (the exact merge) and « Pas un
doublon » (dismissed for good). Fanny runs the atelier; Olga runs another."""

from __future__ import annotations

import pytest

from boards.live import messages, protocol
from boards.models import Atelier, DismissedDuplicate, Impossible, Precision
from boards.services import participation
from boards.similarity import engine
from tests.conftest import post_impossible

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
WELDERS = "Impossible de recruter des soudeurs"
WELDERS_AGAIN = "pénurie de soudeurs dans le Cognaçais"
ELECTRICITY = "La facture d'électricité a triplé depuis le renouvellement du contrat"
HOSTILE = 'Impossible de recruter des soudeurs <script>alert("x")</script> {{ secret }}'


def card(persona, statement: str) -> Impossible:
    impossible = post_impossible(persona.participant, statement)
    assert engine.refresh(impossible.pk)
    return impossible


@pytest.fixture
def pair(atelier, alice, bob, charlie):
    """Alice's card, Bob's duplicate (with Charlie's « moi aussi »), and an unrelated card."""
    welders = card(alice, WELDERS)
    again = card(bob, WELDERS_AGAIN)
    card(charlie, ELECTRICITY)
    participation.set_me_too(charlie.participant, again.pk, on=True)
    return welders, again


def panel(client, atelier) -> str:
    html = client.get(f"/a/{atelier.code}/console/panels/").content.decode()
    start = html.index('aria-labelledby="duplicates-title"')
    return html[start : html.index("</section>", start)]


def test_the_console_lists_likely_duplicates_keeping_the_most_supported(atelier, facilitator, pair):
    welders, again = pair
    shown = panel(facilitator, atelier)
    assert "Doublons probables" in shown
    # Bob's has a « moi aussi »: it is the one kept.
    assert f'id="duplicate-{again.pk}-{welders.pk}"' in shown
    assert shown.index(WELDERS_AGAIN) < shown.index(WELDERS)
    assert ELECTRICITY not in shown
    assert "Fusionner" in shown and "Pas un doublon" in shown


def test_the_full_console_page_shows_the_panel_too(atelier, facilitator, pair):
    assert "Doublons probables" in facilitator.get(f"/a/{atelier.code}/console/").content.decode()


def test_fusionner_merges_the_pair_exactly(atelier, facilitator, pair, events, django_capture_on_commit_callbacks):
    welders, again = pair
    with django_capture_on_commit_callbacks(execute=True):
        response = facilitator.post(
            f"/a/{atelier.code}/console/duplicates/merge/", {"kept": again.pk, "merged": welders.pk}, **HTMX
        )
    assert response.status_code == 204
    assert "cerveau:refresh" in response["HX-Trigger"]
    welders.refresh_from_db()
    again.refresh_from_db()
    assert welders.merged_into_id == again.pk and welders.hidden
    assert again.me_too_count == 2  # Charlie's, and Alice's as the duplicate's author
    assert events[-1][2]["type"] == "impossible.merged"
    assert "duplicate-" not in panel(facilitator, atelier)
    # A double click changes nothing more.
    again_response = facilitator.post(
        f"/a/{atelier.code}/console/duplicates/merge/", {"kept": again.pk, "merged": welders.pk}, **HTMX
    )
    assert again_response.status_code == 204


def test_fusionner_works_without_javascript(atelier, facilitator, pair):
    welders, again = pair
    response = facilitator.post(
        f"/a/{atelier.code}/console/duplicates/merge/", {"kept": again.pk, "merged": welders.pk}
    )
    assert response.status_code == 302
    assert response.url == f"/a/{atelier.code}/console/"
    assert Impossible.objects.get(pk=welders.pk).merged_into_id == again.pk


def test_pas_un_doublon_dismisses_the_pair_for_good(
    atelier, facilitator, pair, events, django_capture_on_commit_callbacks
):
    welders, again = pair
    before = Atelier.objects.get(pk=atelier.pk).version
    for _ in range(2):  # a double click stores it once, and publishes once
        with django_capture_on_commit_callbacks(execute=True):
            response = facilitator.post(
                f"/a/{atelier.code}/console/duplicates/dismiss/", {"first": again.pk, "second": welders.pk}, **HTMX
            )
        assert response.status_code == 204
    dismissed = DismissedDuplicate.objects.get()
    assert (dismissed.first_id, dismissed.second_id) == (welders.pk, again.pk)
    assert dismissed.dismissed_by == facilitator.user
    assert "duplicate-" not in panel(facilitator, atelier)
    assert "Aucun doublon probable" in panel(facilitator, atelier)
    # Every open console refreshes its panels on the push; no card changes.
    assert events == [(atelier.pk, before + 1, {"type": "duplicate.dismissed", "pair": [welders.pk, again.pk]})]
    assert Atelier.objects.get(pk=atelier.pk).version == before + 1
    assert not Impossible.objects.filter(hidden=True).exists()


def test_the_dismissal_push_carries_no_card(atelier, pair):
    welders, again = pair
    rendered = messages.event_messages(atelier.pk, 9, {"type": "duplicate.dismissed", "pair": [welders.pk, again.pk]})
    for html in rendered.values():
        assert protocol.parse_version(html) == (9, "event")
        assert 'id="stats"' in html
        assert "imp-" not in html and WELDERS not in html


def test_hostile_text_shows_literally_in_the_panel(atelier, facilitator, alice, bob):
    card(alice, HOSTILE)
    card(bob, WELDERS_AGAIN)
    shown = panel(facilitator, atelier)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; {{ secret }}" in shown
    assert "<script>alert" not in shown


def test_hidden_impossibles_are_not_proposed(atelier, facilitator, pair):
    welders, _again = pair
    facilitator.post(f"/a/{atelier.code}/console/impossibles/{welders.pk}/moderate/", {"op": "hide"})
    assert "duplicate-" not in panel(facilitator, atelier)


@pytest.mark.parametrize(
    ("action", "data"),
    [("merge", {"kept": "{again}", "merged": "{welders}"}), ("dismiss", {"first": "{welders}", "second": "{again}"})],
)
@pytest.mark.parametrize("who", ["outsider", "alice", "other_facilitator"])
def test_only_the_ateliers_facilitators_can_act_on_duplicates(request, atelier, pair, action, data, who):
    welders, again = pair
    client = request.getfixturevalue(who)
    filled = {key: value.format(welders=welders.pk, again=again.pk) for key, value in data.items()}
    response = client.post(f"/a/{atelier.code}/console/duplicates/{action}/", filled)
    if who == "other_facilitator":
        assert response.status_code == 404
    else:
        assert response.status_code == 302 and "/login/" in response.url
    assert not DismissedDuplicate.objects.exists()
    assert not Impossible.objects.filter(merged_into__isnull=False).exists()


@pytest.mark.parametrize("who", ["outsider", "alice", "other_facilitator"])
def test_only_the_ateliers_facilitators_see_the_panel(request, atelier, pair, who):
    response = request.getfixturevalue(who).get(f"/a/{atelier.code}/console/panels/")
    assert response.status_code in (302, 404)
    assert WELDERS_AGAIN not in response.content.decode()


def test_a_pair_from_another_atelier_is_not_found(atelier, other_atelier, facilitator, pair):
    from tests.conftest import _persona

    welders, _again = pair
    zoe = _persona(other_atelier, "Zoé", "autre")
    foreign = card(zoe, WELDERS_AGAIN)
    for action, data in (
        ("merge", {"kept": welders.pk, "merged": foreign.pk}),
        ("dismiss", {"first": welders.pk, "second": foreign.pk}),
    ):
        response = facilitator.post(f"/a/{atelier.code}/console/duplicates/{action}/", data)
        assert response.status_code == 404
    response = facilitator.post(f"/a/{atelier.code}/console/duplicates/merge/", {"kept": "x", "merged": ""})
    assert response.status_code == 404


def test_precisions_are_moderated_from_the_console(atelier, facilitator, other_facilitator, pair, bob):
    welders, _again = pair
    precision = participation.add_precision(bob.participant, welders.pk, text="<b>Pareil</b>", submission_key="p")
    html = facilitator.get(f"/a/{atelier.code}/console/panels/").content.decode()
    assert "&lt;b&gt;Pareil&lt;/b&gt;" in html
    url = f"/a/{atelier.code}/console/precisions/{precision.pk}/moderate/"
    assert other_facilitator.post(url, {"op": "hide"}).status_code == 404
    assert not Precision.objects.get().hidden
    assert facilitator.post(url, {"op": "hide"}, **HTMX).status_code == 204
    assert Precision.objects.get().hidden
    assert "Pareil" not in bob.get(f"/a/{atelier.code}/").content.decode()
    assert facilitator.post(url, {"op": "restore"}).status_code == 302
    assert not Precision.objects.get().hidden
