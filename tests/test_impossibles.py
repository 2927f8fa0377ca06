"""Posting an impossible, and reading the board it lands on."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.html import escape
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from boards.forms import FORM_EXPIRED, ImpossibleForm
from boards.live import messages
from boards.models import Atelier, Category, Impossible
from boards.services import participation
from tests.conftest import post_impossible

BOARD_URL = "/a/TST234/"
POST_URL = "/a/TST234/impossibles/"
HTMX = {"HTTP_HX_REQUEST": "true"}


def _form(**overrides) -> dict:
    return {
        "statement": "Impossible de trouver un local de 200 m²",
        "details": "",
        "category": Category.PREMISES,
        "submission_key": "key-1",
        **overrides,
    }


def _card_order(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<article class="card" id="imp-(\d+)"', html)]


def _required(field: str) -> str:
    """The French message the form shows when `field` is left empty, as rendered."""
    return escape(str(ImpossibleForm.base_fields[field].error_messages["required"]))


def _expected(message: str) -> str:
    return _required(message.removeprefix("required:")) if message.startswith("required:") else message


def _version() -> int:
    return Atelier.objects.get(code="TST234").version


# --- Posting without JavaScript ---------------------------------------------------


def test_it_posts_and_redirects_to_the_new_card(alice, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(POST_URL, _form(details="Le bail actuel finit en juin."))

    impossible = Impossible.objects.get()
    assertRedirects(response, f"{BOARD_URL}#imp-{impossible.pk}", fetch_redirect_response=False)
    assert impossible.author == alice.participant
    assert impossible.atelier.code == "TST234"
    assert impossible.statement == "Impossible de trouver un local de 200 m²"
    assert impossible.details == "Le bail actuel finit en juin."
    assert impossible.category == Category.PREMISES
    assert impossible.anonymous is False
    assert impossible.me_too_count == 0
    assert events == [(impossible.atelier_id, 1, {"type": "impossible.posted", "impossible": impossible.pk})]


def test_it_shows_the_new_card_and_a_confirmation_after_the_redirect(alice):
    response = alice.post(POST_URL, _form(), follow=True)
    assertContains(response, "Votre impossible est sur le tableau.")
    assertContains(response, "Impossible de trouver un local de 200 m²")


def test_it_trims_the_statement_and_details(alice):
    alice.post(POST_URL, _form(statement="   Trop de paperasse  \n", details="\n  Vraiment.  "))
    impossible = Impossible.objects.get()
    assert impossible.statement == "Trop de paperasse"
    assert impossible.details == "Vraiment."


def test_it_records_the_anonymous_choice(alice):
    alice.post(POST_URL, _form(anonymous="on"))
    assert Impossible.objects.get().anonymous is True


# --- Posting with htmx ---------------------------------------------------------------


def test_it_answers_htmx_with_a_fresh_form(alice):
    response = alice.post(POST_URL, _form(), **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="post-form"')
    assert "<html" not in html
    assert "C'est publié" in html
    # A new key: the next impossible from this form must not be taken for a repeat.
    keys = re.findall(r'name="submission_key" value="([^"]+)"', html)
    assert len(keys) == 1
    assert keys[0] != "key-1"
    # The textarea is empty again.
    assert "Impossible de trouver un local" not in html
    assert Impossible.objects.count() == 1


def test_a_second_post_from_the_fresh_htmx_form_creates_a_second_impossible(alice):
    first = alice.post(POST_URL, _form(), **HTMX)
    fresh_key = re.search(r'name="submission_key" value="([^"]+)"', first.content.decode()).group(1)

    alice.post(POST_URL, _form(statement="Impossible d'avoir la fibre", submission_key=fresh_key), **HTMX)

    assert Impossible.objects.count() == 2


def test_it_answers_htmx_errors_with_the_form_fragment(alice):
    response = alice.post(POST_URL, _form(statement=""), **HTMX)

    assert response.status_code == 422
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="post-form"')
    assert "<html" not in html
    assert _required("statement") in html
    assert not Impossible.objects.exists()


# --- Validation -------------------------------------------------------------------------


INVALID = [
    pytest.param({"statement": ""}, "required:statement", id="empty-statement"),
    pytest.param({"statement": "  \n\t  "}, "required:statement", id="blank-statement"),
    pytest.param({"statement": "x" * 281}, "au plus 280 caractères", id="long-statement"),
    pytest.param({"details": "x" * 2001}, "au plus 2000 caractères", id="long-details"),
    pytest.param({"category": "astrologie"}, "Sélectionnez un choix valide", id="unknown-category"),
    pytest.param({"category": ""}, "required:category", id="missing-category"),
    pytest.param({"submission_key": ""}, "Formulaire expiré", id="missing-key"),
    pytest.param({"submission_key": "   "}, "Formulaire expiré", id="blank-key"),
    pytest.param({"submission_key": "k" * 65}, "Formulaire expiré", id="long-key"),
]


@pytest.mark.parametrize(("overrides", "message"), INVALID)
def test_it_rejects_invalid_input_and_saves_nothing(
    alice, events, django_capture_on_commit_callbacks, overrides, message
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = alice.post(POST_URL, _form(**overrides))

    assertContains(response, _expected(message), status_code=422)
    assert not Impossible.objects.exists()
    assert _version() == 0
    assert callbacks == []
    assert events == []


@pytest.mark.parametrize(("overrides", "message"), INVALID)
def test_it_rejects_invalid_input_over_htmx_too(alice, events, django_capture_on_commit_callbacks, overrides, message):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(POST_URL, _form(**overrides), **HTMX)

    assertContains(response, _expected(message), status_code=422)
    assert not Impossible.objects.exists()
    assert events == []


def test_it_accepts_the_maximum_lengths(alice):
    response = alice.post(POST_URL, _form(statement="s" * 280, details="d" * 2000))
    assert response.status_code == 302
    impossible = Impossible.objects.get()
    assert len(impossible.statement) == 280
    assert len(impossible.details) == 2000


def test_a_missing_submission_key_is_explained_at_the_top_of_the_form(alice):
    data = _form()
    del data["submission_key"]
    response = alice.post(POST_URL, data)
    html = response.content.decode()
    assert response.status_code == 422
    errors = re.search(r'<ul class="errors errors-form" role="alert">(.*?)</ul>', html, re.S)
    assert errors is not None
    assert escape(str(FORM_EXPIRED)) in errors.group(1)
    assert "Formulaire expiré" in errors.group(1)


@pytest.mark.parametrize(
    "fields",
    [
        {"statement": "   "},
        {"statement": "x" * 281},
        {"statement": "ok", "details": "d" * 2001},
        {"statement": "ok", "category": "astrologie"},
        {"statement": "ok", "submission_key": ""},
    ],
)
def test_the_service_enforces_the_same_rules_without_the_form(alice, events, fields):
    fields = {"category": Category.FUNDING, "submission_key": "svc-1", **fields}
    with pytest.raises(ValidationError):
        participation.post_impossible(alice.participant, **fields)
    assert not Impossible.objects.exists()
    assert _version() == 0


# --- Double submit -------------------------------------------------------------------------


def test_it_creates_one_impossible_on_double_submit(alice, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = alice.post(POST_URL, _form(submission_key="tap-tap"))
        second = alice.post(POST_URL, _form(submission_key="tap-tap"))

    impossible = Impossible.objects.get()
    assert first["Location"] == second["Location"] == f"{BOARD_URL}#imp-{impossible.pk}"
    assert len(events) == 1
    assert _version() == 1


def test_it_creates_one_impossible_on_double_submit_over_htmx(alice, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alice.post(POST_URL, _form(submission_key="tap-tap"), **HTMX)
        second = alice.post(POST_URL, _form(submission_key="tap-tap"), **HTMX)

    assert second.status_code == 200
    assert Impossible.objects.count() == 1
    assert len(events) == 1


def test_the_same_key_from_two_participants_makes_two_impossibles(alice, bob):
    alice.post(POST_URL, _form(submission_key="same"))
    bob.post(POST_URL, _form(submission_key="same"))
    assert Impossible.objects.count() == 2


# --- Anonymous ------------------------------------------------------------------------------


def test_anonymous_posting_hides_the_author_on_the_board(alice, bob):
    alice.post(POST_URL, _form(anonymous="on"))

    response = bob.get(BOARD_URL)

    assertContains(response, "Impossible de trouver un local de 200 m²")
    assertContains(response, '<span class="anon">Anonyme</span>')
    assertNotContains(response, "Alice")


def test_anonymous_posting_hides_the_author_on_the_detail_page(alice, bob):
    alice.post(POST_URL, _form(anonymous="on"))
    impossible = Impossible.objects.get()

    response = bob.get(f"/a/TST234/impossibles/{impossible.pk}/")

    assertContains(response, "Anonyme")
    assertNotContains(response, "Alice")


def test_anonymous_posting_hides_the_author_in_pushed_fragments(alice):
    impossible = post_impossible(alice.participant, anonymous=True)

    rendered = messages.event_messages(
        impossible.atelier_id, 1, {"type": "impossible.posted", "impossible": impossible.pk}
    )
    cache.clear()
    _version, snapshot = messages.snapshot_message(impossible.atelier, "fr")

    assert '<span class="anon">Anonyme</span>' in rendered["fr"]
    for html in [*rendered.values(), snapshot]:
        assert "Impossible de recruter des soudeurs" in html
        assert '<span class="anon">' in html
        assert "Alice" not in html


def test_anonymous_posting_hides_the_author_when_they_rename_themselves(alice):
    impossible = post_impossible(alice.participant, anonymous=True)
    participation.update_participant(alice.participant, name="Alice Nouvelle", organisation="", role="pair")

    rendered = messages.event_messages(
        impossible.atelier_id, 3, {"type": "participant.updated", "participant": alice.participant.pk}
    )

    for html in rendered.values():
        assert "Alice" not in html
        assert f"imp-{impossible.pk}-byline" not in html


def test_a_named_impossible_shows_its_author(alice, bob):
    alice.post(POST_URL, _form())
    response = bob.get(BOARD_URL)
    assertContains(response, "Alice · Alice SARL")


# --- Escaping -------------------------------------------------------------------------------

STATEMENT_PAYLOAD = (
    '<script>alert("s")</script> <b hx-get="/evil-s" hx-trigger="load">x</b> {{ atelier.code }} {% csrf_token %}'
)
DETAILS_PAYLOAD = (
    '<img src=x onerror="alert(1)"> <div hx-get="/evil-d" hx-swap-oob="true" id="stats">d</div>\n'
    "{{ participant.name }} {% csrf_token %} {% url 'boards:home' %}"
)


def _assert_payload_shown_literally(html: str) -> None:
    # Shown, escaped ...
    assert "&lt;script&gt;alert(&quot;s&quot;)&lt;/script&gt;" in html
    assert "&lt;b hx-get=&quot;/evil-s&quot;" in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "&lt;div hx-get=&quot;/evil-d&quot; hx-swap-oob=&quot;true&quot; id=&quot;stats&quot;&gt;" in html
    # ... never live ...
    assert "<script>alert" not in html
    assert ' hx-get="/evil' not in html
    assert "<img src=x" not in html
    assert 'onerror="' not in html
    # ... and never evaluated as template code.
    assert "{{ atelier.code }}" in html
    assert "{{ participant.name }}" in html
    assert "{% csrf_token %}" in html
    assert "{% url &#x27;boards:home&#x27; %}" in html


def test_it_shows_markup_and_template_syntax_literally_on_the_board(alice, bob):
    alice.post(POST_URL, _form(statement=STATEMENT_PAYLOAD, details=DETAILS_PAYLOAD))
    impossible = Impossible.objects.get()
    assert impossible.statement == STATEMENT_PAYLOAD

    html = bob.get(BOARD_URL).content.decode()

    _assert_payload_shown_literally(html)


def test_it_shows_markup_and_template_syntax_literally_on_the_detail_page(alice, bob):
    alice.post(POST_URL, _form(statement=STATEMENT_PAYLOAD, details=DETAILS_PAYLOAD))
    impossible = Impossible.objects.get()

    html = bob.get(f"/a/TST234/impossibles/{impossible.pk}/").content.decode()

    _assert_payload_shown_literally(html)
    assert "<title>&lt;script&gt;" in html


@pytest.mark.parametrize("kind", ["impossible.posted", "metoo.changed", "offer.posted"])
def test_it_shows_markup_and_template_syntax_literally_in_pushed_fragments(alice, kind):
    impossible = post_impossible(alice.participant, STATEMENT_PAYLOAD, details=DETAILS_PAYLOAD)

    rendered = messages.event_messages(impossible.atelier_id, 1, {"type": kind, "impossible": impossible.pk})

    for html in rendered.values():
        if kind == "impossible.posted":
            _assert_payload_shown_literally(html)
        assert "<script>alert" not in html
        assert ' hx-get="/evil' not in html


def test_it_shows_markup_literally_in_the_live_announcement(alice):
    impossible = post_impossible(alice.participant, STATEMENT_PAYLOAD)

    rendered = messages.event_messages(
        impossible.atelier_id, 1, {"type": "impossible.posted", "impossible": impossible.pk}
    )

    announce = re.search(r'<p id="live-announce"[^>]*>(.*?)</p>', rendered["fr"], re.S).group(1)
    assert "Nouvel impossible : &lt;script&gt;" in announce


def test_it_shows_markup_and_template_syntax_literally_in_the_snapshot(alice):
    post_impossible(alice.participant, STATEMENT_PAYLOAD, details=DETAILS_PAYLOAD)
    cache.clear()

    for language in ("fr", "en"):
        _version, html = messages.snapshot_message(Atelier.objects.get(), language)
        _assert_payload_shown_literally(html)


# --- Who may post ----------------------------------------------------------------------------


def test_only_members_can_post(atelier, outsider, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = outsider.post(POST_URL, _form())

    assertRedirects(response, "/a/TST234/join/", fetch_redirect_response=False)
    assert not Impossible.objects.exists()
    assert events == []


def test_a_participant_cannot_post_to_another_atelier_by_url(alice, other_atelier):
    response = alice.post("/a/AUTRE9/impossibles/", _form())

    assertRedirects(response, "/a/AUTRE9/join/", fetch_redirect_response=False)
    assert not Impossible.objects.exists()
    assert Atelier.objects.get(pk=other_atelier.pk).version == 0


def test_it_returns_404_when_posting_to_an_unknown_atelier(alice):
    assert alice.post("/a/NOPE99/impossibles/", _form()).status_code == 404
    assert not Impossible.objects.exists()


def test_it_rejects_get(alice):
    assert alice.get(POST_URL).status_code == 405


# --- Sorting and filtering --------------------------------------------------------------------


@pytest.fixture
def three_impossibles(alice, bob, charlie):
    """Oldest first; `popular` has the most moi aussi, `middle` one."""
    popular = post_impossible(alice.participant, "Impossible de financer la reprise", category=Category.FUNDING)
    middle = post_impossible(alice.participant, "Impossible de recruter un soudeur", category=Category.RECRUITMENT)
    newest = post_impossible(bob.participant, "Impossible de loger les apprentis", category=Category.MOBILITY)
    participation.set_me_too(bob.participant, popular.pk, on=True)
    participation.set_me_too(charlie.participant, popular.pk, on=True)
    participation.set_me_too(charlie.participant, middle.pk, on=True)
    return popular, middle, newest


def test_it_lists_the_most_recent_first_by_default(alice, three_impossibles):
    popular, middle, newest = three_impossibles
    html = alice.get(BOARD_URL).content.decode()
    assert _card_order(html) == [newest.pk, middle.pk, popular.pk]


def test_it_sorts_by_moi_aussi(alice, three_impossibles):
    popular, middle, newest = three_impossibles
    response = alice.get(BOARD_URL, {"sort": "top"})
    assert response.status_code == 200
    assert _card_order(response.content.decode()) == [popular.pk, middle.pk, newest.pk]
    assert response.context["sort"] == "top"


def test_it_filters_by_category(alice, three_impossibles):
    popular, _middle, _newest = three_impossibles
    response = alice.get(BOARD_URL, {"category": "financement"})
    assert _card_order(response.content.decode()) == [popular.pk]
    assert response.context["category"] == "financement"


def test_it_combines_sort_and_category(alice, three_impossibles):
    popular, _middle, _newest = three_impossibles
    extra = post_impossible(alice.participant, "Impossible de lever 50 k€", category=Category.FUNDING)
    response = alice.get(BOARD_URL, {"sort": "top", "category": "financement"})
    assert _card_order(response.content.decode()) == [popular.pk, extra.pk]


def test_it_says_so_when_a_category_is_empty(alice, three_impossibles):
    response = alice.get(BOARD_URL, {"category": "energie"})
    assert _card_order(response.content.decode()) == []
    assertContains(response, "Aucun impossible dans cette catégorie")


@pytest.mark.parametrize(
    "params",
    [{"sort": "bogus"}, {"sort": "-me_too_count"}, {"category": "astrologie"}, {"sort": "", "category": ""}],
)
def test_it_ignores_unknown_sort_and_category(alice, three_impossibles, params):
    popular, middle, newest = three_impossibles
    response = alice.get(BOARD_URL, params)
    assert response.status_code == 200
    assert _card_order(response.content.decode()) == [newest.pk, middle.pk, popular.pk]
    assert response.context["sort"] == "recent"
    assert response.context["category"] == ""


def test_it_does_not_list_hidden_impossibles(alice, three_impossibles):
    popular, middle, newest = three_impossibles
    Impossible.objects.filter(pk=middle.pk).update(hidden=True)
    html = alice.get(BOARD_URL).content.decode()
    assert _card_order(html) == [newest.pk, popular.pk]


def test_it_does_not_list_impossibles_of_another_atelier(alice, other_atelier):
    stranger = participation.join_atelier(other_atelier, name="Zoé", organisation="", role="autre")
    post_impossible(stranger, "Impossible ailleurs")
    response = alice.get(BOARD_URL)
    assert _card_order(response.content.decode()) == []
    assertNotContains(response, "Impossible ailleurs")


@pytest.mark.django_db(transaction=True)
def test_the_board_reads_outside_a_test_transaction(alice, bob):
    # In production the page's reads run in their own (repeatable read)
    # transaction, not inside the test's: exercise that path too.
    post_impossible(alice.participant, "Impossible de trouver un local")
    participation.set_me_too(bob.participant, Impossible.objects.get().pk, on=True)

    response = bob.get(BOARD_URL, {"sort": "top"})

    assert response.status_code == 200
    assert response.context["version"] == 2
    assert response.context["stats"].me_toos == 1
    cache.clear()
    version, html = messages.snapshot_message(Atelier.objects.get(), "fr")
    assert version == 2
    assert "Impossible de trouver un local" in html
