"""Offering help on an impossible; the contact left with it stays private."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.html import escape
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from boards.forms import HelpOfferForm
from boards.live import messages
from boards.models import Atelier, HelpKind, HelpOffer, Impossible
from boards.services import participation
from boards.services.core import NotFound
from tests.conftest import post_impossible

HTMX = {"HTTP_HX_REQUEST": "true"}
CONTACT = "bob.secret@example.org 06 12 34 56 78"


@pytest.fixture
def impossible(alice):
    return post_impossible(alice.participant, "Impossible de trouver un local de stockage")


def _url(impossible_id: int, code: str = "TST234") -> str:
    return f"/a/{code}/impossibles/{impossible_id}/offers/"


def _form(**overrides) -> dict:
    return {
        "kind": HelpKind.RESOURCE,
        "message": "J'ai 300 m² libres à Jarnac",
        "contact": CONTACT,
        "submission_key": "offer-1",
        **overrides,
    }


def _required(field: str) -> str:
    return escape(str(HelpOfferForm.base_fields[field].error_messages["required"]))


def _offer_count(impossible: Impossible) -> int:
    return Impossible.objects.get(pk=impossible.pk).offer_count


def _version() -> int:
    return Atelier.objects.get(code="TST234").version


# --- The form ------------------------------------------------------------------------------


def test_it_shows_the_offer_form_as_a_page(bob, impossible):
    response = bob.get(_url(impossible.pk))

    assert response.status_code == 200
    assertContains(response, "<html")
    assertContains(response, "Impossible de trouver un local de stockage")
    assertContains(response, 'name="kind"')
    assertContains(response, 'name="message"')
    assertContains(response, 'name="contact"')
    assertContains(response, 'name="submission_key"')


def test_it_shows_the_offer_form_as_an_htmx_partial(bob, impossible):
    response = bob.get(_url(impossible.pk), **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith("<form")
    assert f'hx-post="{_url(impossible.pk)}"' in html
    assert 'name="submission_key"' in html


def test_each_form_gets_its_own_submission_key(bob, impossible):
    first = bob.get(_url(impossible.pk), **HTMX).context["form"]["submission_key"].value()
    second = bob.get(_url(impossible.pk), **HTMX).context["form"]["submission_key"].value()
    assert first
    assert first != second


# --- Posting --------------------------------------------------------------------------------


def test_it_posts_an_offer_and_redirects_without_javascript(
    bob, impossible, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = bob.post(_url(impossible.pk), _form())

    assertRedirects(response, f"/a/TST234/#imp-{impossible.pk}", fetch_redirect_response=False)
    offer = HelpOffer.objects.get()
    assert offer.impossible == impossible
    assert offer.author == bob.participant
    assert offer.kind == HelpKind.RESOURCE
    assert offer.message == "J'ai 300 m² libres à Jarnac"
    assert offer.contact == CONTACT
    assert _offer_count(impossible) == 1
    assert events == [
        (impossible.atelier_id, _version(), {"type": "offer.posted", "impossible": impossible.pk, "offer": offer.pk})
    ]


def test_it_shows_the_offer_on_the_board_after_the_redirect(bob, impossible):
    response = bob.post(_url(impossible.pk), _form(), follow=True)
    assertContains(response, "Merci ! Votre proposition d&#x27;aide est sur le tableau.")
    assertContains(response, "J&#x27;ai 300 m² libres à Jarnac")


def test_it_answers_htmx_with_a_thank_you_fragment(bob, impossible):
    response = bob.post(_url(impossible.pk), _form(), **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert "Merci" in html
    assert HelpOffer.objects.count() == 1


def test_it_accepts_an_offer_without_contact(bob, impossible):
    response = bob.post(_url(impossible.pk), _form(contact=""))
    assert response.status_code == 302
    assert HelpOffer.objects.get().contact == ""


def test_it_accepts_the_maximum_lengths(bob, impossible):
    response = bob.post(_url(impossible.pk), _form(message="m" * 500, contact="c" * 200))
    assert response.status_code == 302
    assert HelpOffer.objects.count() == 1


INVALID = [
    pytest.param({"kind": "argent-facile"}, "Sélectionnez un choix valide", id="unknown-kind"),
    pytest.param({"kind": ""}, "required:kind", id="missing-kind"),
    pytest.param({"message": ""}, "required:message", id="empty-message"),
    pytest.param({"message": "   \n "}, "required:message", id="blank-message"),
    pytest.param({"message": "m" * 501}, "au plus 500 caractères", id="long-message"),
    pytest.param({"contact": "c" * 201}, "au plus 200 caractères", id="long-contact"),
    pytest.param({"submission_key": ""}, "Formulaire expiré", id="missing-key"),
]


def _expected(message: str) -> str:
    return _required(message.removeprefix("required:")) if message.startswith("required:") else message


@pytest.mark.parametrize(("overrides", "message"), INVALID)
def test_it_rejects_invalid_input_and_saves_nothing(
    bob, impossible, events, django_capture_on_commit_callbacks, overrides, message
):
    version_before = _version()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = bob.post(_url(impossible.pk), _form(**overrides))

    assertContains(response, _expected(message), status_code=422)
    assertContains(response, "<html", status_code=422)
    assert not HelpOffer.objects.exists()
    assert _offer_count(impossible) == 0
    assert _version() == version_before
    assert callbacks == []
    assert events == []


@pytest.mark.parametrize(("overrides", "message"), INVALID)
def test_it_rejects_invalid_input_over_htmx_with_the_form_fragment(bob, impossible, overrides, message):
    response = bob.post(_url(impossible.pk), _form(**overrides), **HTMX)

    assertContains(response, _expected(message), status_code=422)
    assert "<html" not in response.content.decode()
    assert not HelpOffer.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "argent-facile"},
        {"message": "  "},
        {"message": "m" * 501},
        {"contact": "c" * 201},
        {"submission_key": "  "},
    ],
)
def test_the_service_enforces_the_same_rules_without_the_form(bob, impossible, fields):
    fields = {"kind": HelpKind.EXPERTISE, "message": "ok", "contact": "", "submission_key": "svc", **fields}
    with pytest.raises(ValidationError):
        participation.offer_help(bob.participant, impossible.pk, **fields)
    assert not HelpOffer.objects.exists()


def test_it_creates_one_offer_on_double_submit(bob, impossible, events, django_capture_on_commit_callbacks):
    version_before = _version()
    with django_capture_on_commit_callbacks(execute=True):
        first = bob.post(_url(impossible.pk), _form(submission_key="tap-tap"))
        second = bob.post(_url(impossible.pk), _form(submission_key="tap-tap"), **HTMX)

    assert first.status_code == 302
    assert second.status_code == 200
    assert HelpOffer.objects.count() == 1
    assert _offer_count(impossible) == 1
    assert _version() == version_before + 1
    assert len(events) == 1


def test_two_offers_with_different_keys_are_both_kept(bob, charlie, impossible):
    bob.post(_url(impossible.pk), _form(submission_key="a"))
    bob.post(_url(impossible.pk), _form(submission_key="b", message="Et un chariot élévateur"))
    charlie.post(_url(impossible.pk), _form(submission_key="a"))
    assert HelpOffer.objects.count() == 3
    assert _offer_count(impossible) == 3


# --- The contact stays private --------------------------------------------------------------


@pytest.fixture
def offer(bob, impossible):
    bob.post(_url(impossible.pk), _form())
    return HelpOffer.objects.get()


def test_the_contact_is_never_on_the_board(alice, bob, charlie, offer):
    for persona in (alice, bob, charlie):
        for params in ({}, {"sort": "top"}, {"category": offer.impossible.category}):
            response = persona.get("/a/TST234/", params)
            assertContains(response, "J&#x27;ai 300 m² libres à Jarnac")
            assertNotContains(response, "bob.secret")
            assertNotContains(response, "06 12 34 56 78")


@pytest.mark.parametrize("kind", ["offer.posted", "impossible.posted", "metoo.changed"])
def test_the_contact_is_never_in_pushed_fragments(offer, kind):
    event = {"type": kind, "impossible": offer.impossible_id, "offer": offer.pk}

    rendered = messages.event_messages(offer.impossible.atelier_id, 99, event)

    assert set(rendered) == {"fr", "en"}
    for html in rendered.values():
        if kind != "metoo.changed":  # that one only carries the count
            assert "libres à Jarnac" in html
        assert "bob.secret" not in html
        assert "06 12 34 56 78" not in html


def test_the_contact_is_never_in_the_participant_updated_fragment(bob, offer):
    participation.update_participant(bob.participant, name="Bob R.", organisation="Mairie", role="elu")

    rendered = messages.event_messages(
        offer.impossible.atelier_id, 99, {"type": "participant.updated", "participant": bob.participant.pk}
    )

    for html in rendered.values():
        assert "Bob R." in html
        assert "bob.secret" not in html
        assert "06 12 34 56 78" not in html


def test_the_contact_is_never_in_the_snapshot(offer):
    cache.clear()
    for language in ("fr", "en"):
        _version, html = messages.snapshot_message(offer.impossible.atelier, language)
        assert "libres à Jarnac" in html
        assert "bob.secret" not in html
        assert "06 12 34 56 78" not in html


@pytest.mark.parametrize("viewer", ["bob", "charlie"])
def test_the_contact_is_hidden_from_non_authors_on_the_detail_page(request, offer, viewer):
    client = request.getfixturevalue(viewer)

    response = client.get(f"/a/TST234/impossibles/{offer.impossible_id}/")

    assertContains(response, "J&#x27;ai 300 m² libres à Jarnac")
    assertNotContains(response, "bob.secret")
    assertNotContains(response, "06 12 34 56 78")


def test_the_contact_is_shown_to_the_author_on_the_detail_page(alice, offer):
    response = alice.get(f"/a/TST234/impossibles/{offer.impossible_id}/")

    assertContains(response, CONTACT)
    assertContains(response, "Bob")


def test_the_contact_is_not_in_the_offer_pages(bob, charlie, offer):
    for client in (bob, charlie):
        for extra in ({}, HTMX):
            response = client.get(_url(offer.impossible_id), **extra)
            assertNotContains(response, "bob.secret")


def test_a_contact_is_escaped_for_the_author(alice, bob, impossible):
    bob.post(_url(impossible.pk), _form(contact='<script>alert("c")</script>'))
    response = alice.get(f"/a/TST234/impossibles/{impossible.pk}/")
    assertContains(response, "&lt;script&gt;alert(&quot;c&quot;)&lt;/script&gt;")
    assertNotContains(response, '<script>alert("c")')


def test_hidden_offers_are_not_shown(alice, bob, offer):
    HelpOffer.objects.filter(pk=offer.pk).update(hidden=True)
    assertNotContains(bob.get("/a/TST234/"), "libres à Jarnac")
    assertNotContains(alice.get(f"/a/TST234/impossibles/{offer.impossible_id}/"), "bob.secret")


# --- Not found, not allowed -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_returns_404_for_an_unknown_impossible(bob, impossible, method):
    response = getattr(bob, method)(_url(impossible.pk + 1000), _form())
    assert response.status_code == 404
    assert not HelpOffer.objects.exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_returns_404_for_a_hidden_impossible(bob, impossible, events, django_capture_on_commit_callbacks, method):
    Impossible.objects.filter(pk=impossible.pk).update(hidden=True)
    version_before = _version()

    with django_capture_on_commit_callbacks(execute=True):
        response = getattr(bob, method)(_url(impossible.pk), _form(), **HTMX)

    assert response.status_code == 404
    assert not HelpOffer.objects.exists()
    assert _offer_count(impossible) == 0
    assert _version() == version_before
    assert events == []


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_returns_404_for_an_impossible_of_another_atelier(bob, other_atelier, method):
    stranger = participation.join_atelier(other_atelier, name="Zoé", organisation="", role="autre")
    foreign = post_impossible(stranger, "Impossible ailleurs")

    response = getattr(bob, method)(_url(foreign.pk), _form())

    assert response.status_code == 404
    assert not HelpOffer.objects.exists()
    assert Atelier.objects.get(pk=other_atelier.pk).version == 1


def test_the_service_refuses_a_hidden_impossible(bob, impossible):
    Impossible.objects.filter(pk=impossible.pk).update(hidden=True)
    version_before = _version()
    with pytest.raises(NotFound):
        participation.offer_help(bob.participant, impossible.pk, kind="expertise", message="ok", submission_key="k")
    assert not HelpOffer.objects.exists()
    assert _version() == version_before


def test_only_members_can_offer_help(outsider, impossible):
    response = outsider.post(_url(impossible.pk), _form())
    assertRedirects(response, "/a/TST234/join/", fetch_redirect_response=False)
    assert not HelpOffer.objects.exists()
