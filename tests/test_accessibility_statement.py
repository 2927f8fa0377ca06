"""The accessibility statement: the parts the RGAA asks for, the contact
from the settings, its English translation, and a link from every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from boards.views import accessibility

pytestmark = pytest.mark.once

URL = "/accessibilite/"
NNBSP = "\u202f"


def test_the_statement_has_every_part_the_rgaa_asks_for(db):
    page = Client().get(URL).content.decode()

    for heading in (
        "Déclaration d'accessibilité",
        "État de conformité",
        "Résultats des tests",
        "Contenus non accessibles",
        "Non-conformités connues",
        "Dérogations pour charge disproportionnée",
        "Établissement de cette déclaration",
        "Technologies utilisées",
        "Environnement de test",
        "Outils pour évaluer l'accessibilité",
        "Retour d'information et contact",
        "Voies de recours",
    ):
        assert heading in page, heading
    assert "<strong>non conforme</strong>" in page
    assert "4 décembre 2026" in page
    assert f"axe-core {accessibility.AXE_CORE_VERSION}" in page
    # The Défenseur des droits: its form, its delegates and its free postal address.
    assert 'href="https://formulaire.defenseurdesdroits.fr/"' in page
    assert 'href="https://www.defenseurdesdroits.fr/saisir/delegues"' in page
    assert "Libre réponse 71120<br>75342 Paris CEDEX 07" in page


@pytest.mark.parametrize(
    ("contact", "link"),
    [
        ("accessibilite@example.org", '<a href="mailto:accessibilite@example.org">accessibilite@example.org</a>'),
        ("https://example.org/contact", '<a href="https://example.org/contact">https://example.org/contact</a>'),
        ("05 45 00 00 00", f"Contact{NNBSP}: 05 45 00 00 00"),
    ],
)
def test_the_statement_gives_the_configured_contact(db, settings, contact, link):
    settings.ACCESSIBILITY_CONTACT = contact
    assert link in Client().get(URL).content.decode()


def test_without_a_configured_contact_the_statement_sends_people_to_the_facilitators(db, settings):
    settings.ACCESSIBILITY_CONTACT = ""
    page = Client().get(URL).content.decode()
    assert "Adressez-vous à l'équipe d'animation de votre atelier" in page
    assert "mailto:" not in page


def test_the_statement_is_translated_into_english(db):
    page = Client(headers={"accept-language": "en"}).get(URL).content.decode()
    assert "<h1" in page and "Accessibility statement</h1>" in page
    assert "<strong>not compliant</strong>" in page
    assert "Recourse" in page and "Défenseur des droits" in page


def test_every_page_links_the_statement_from_its_footer(db, atelier, alice, facilitator):
    pages = {
        "home": Client().get("/"),
        "board": alice.get(f"/a/{atelier.code}/"),
        "console": facilitator.get(f"/a/{atelier.code}/console/"),
        "projector": facilitator.get(f"/a/{atelier.code}/projector/"),
        "poster": facilitator.get(f"/a/{atelier.code}/poster/"),
    }
    for name, response in pages.items():
        footer = re.search(r"<footer[^>]*>.*?</footer>", response.content.decode(), re.S)
        assert footer and f'href="{URL}"' in footer.group(0), name
        assert f"Accessibilité{NNBSP}: non conforme" in footer.group(0), name
    # The error page is plain HTML, rendered without the app.
    error_page = (Path(__file__).resolve().parent.parent / "templates" / "500.html").read_text()
    assert f'<a href="{URL}">' in error_page


def test_the_statement_names_the_axe_core_version_the_tests_run():
    axe = pytest.importorskip("axe_playwright_python")
    script = (Path(axe.__file__).parent / "axe.min.js").read_text()
    assert f"axe v{accessibility.AXE_CORE_VERSION}" in script
