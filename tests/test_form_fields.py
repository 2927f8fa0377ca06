"""Form fields drawn once per process (boards.forms.render_fields): a form
nobody has filled in looks the same to everyone reading the same language,
so the join and board pages draw it once; a filled-in form is drawn for its
own request, and what one person typed never shows on another's page."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.utils import translation

from boards import forms
from boards.forms import ImpossibleForm, ParticipantForm
from boards.models import Atelier, Category
from boards.services import facilitation

JOIN_URL = "/a/TST234/join/"
BOARD_URL = "/a/TST234/"


def _included(form, names: tuple[str, ...]) -> str:
    """The fields as the pages drew them before, one include each."""
    source = "".join(f'{{% include "boards/_field.html" with field=form.{name} %}}' for name in names)
    return Template(source).render(Context({"form": form}))


@pytest.fixture
def draws(monkeypatch):
    drawn: list[tuple[str, ...]] = []
    real = forms._draw_fields
    monkeypatch.setattr(forms, "_draw_fields", lambda form, names: drawn.append(names) or real(form, names))
    return drawn


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_fields_are_what_one_include_per_field_draws(language, db):
    categories = [(value, label) for value, label in Category.choices][:3]
    cases = [
        (ParticipantForm(), ("name", "organisation", "role")),
        (ImpossibleForm(categories=categories), ("statement", "category", "details", "anonymous", "reach")),
    ]
    with translation.override(language):
        for form, names in cases:
            expected = _included(form, names)
            assert forms.render_fields(form, names) == expected  # drawn
            assert forms.render_fields(form, names) == expected  # from the cache


def test_a_room_opening_the_join_page_draws_the_form_once_per_language(atelier, client, draws):
    for _ in range(3):
        assert client.get(JOIN_URL).status_code == 200
    assert draws == [("name", "organisation", "role")]
    english = client.get(JOIN_URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert len(draws) == 2
    assert "Your name (as it will appear)" in english and "Votre nom" not in english
    assert "Votre nom (tel qu&#x27;il apparaîtra)" in client.get(JOIN_URL).content.decode()
    assert len(draws) == 2


def test_what_someone_typed_is_drawn_for_them_and_never_for_the_next_phone(atelier, client, draws):
    client.get(JOIN_URL)
    typed = client.post(JOIN_URL, {"name": "", "organisation": "<b>Forges</b> d'à côté", "role": "entrepreneur"})
    assert typed.status_code == 422
    html = typed.content.decode()
    assert "&lt;b&gt;Forges&lt;/b&gt; d&#x27;à côté" in html and "<b>Forges</b>" not in html
    assert 'aria-invalid="true"' in html or "field-invalid" in html
    again = client.post(JOIN_URL, {"name": "", "organisation": "Autre chose", "role": "entrepreneur"})
    assert "Autre chose" in again.content.decode() and "Forges" not in again.content.decode()
    # Each filled-in form was drawn for its own request; the next phone gets the empty one.
    assert draws.count(("name", "organisation", "role")) == 3
    fresh = client.get(JOIN_URL).content.decode()
    assert "Forges" not in fresh and "Autre chose" not in fresh and "field-invalid" not in fresh


def test_initial_values_are_part_of_what_is_drawn(db):
    names = ("name", "organisation", "role")
    alice = forms.render_fields(ParticipantForm(initial={"name": "Alice"}), names)
    empty = forms.render_fields(ParticipantForm(), names)
    assert 'value="Alice"' in alice and "Alice" not in empty
    assert forms.render_fields(ParticipantForm(initial={"name": "Bob"}), names).count('value="Bob"') == 1


def test_each_atelier_offers_its_own_categories_on_the_board(atelier, alice):
    offered = [value for value, _label in Category.choices]
    page = alice.get(BOARD_URL).content.decode()
    assert all(f'<option value="{value}"' in page for value in offered)
    facilitation.update_atelier(Atelier.objects.get(pk=atelier.pk), categories=offered[:2])
    fewer = alice.get(BOARD_URL).content.decode()
    assert all(f'<option value="{value}"' in fewer for value in offered[:2])
    assert not any(f'<option value="{value}"' in fewer for value in offered[2:])
