"""A whole evening, committed once per test module, for browser tests that
only look: one Chromium and one daphne process per module, a fresh browser
context per test.

A module takes the fixtures by naming them, like tests/servers.py::

    from tests import scene, servers

    django_db_setup = scene.django_db_setup
    daphne_server = servers.daphne_server
    evening = scene.evening
    chromium = scene.chromium

`evening` builds, for each language ("fr", "en"), an atelier in full swing
(the *Impossibles* phase, a timer running, a 280-character impossible with
details and 12 offers of help on the projector's spotlight, more cards on
the board) and an atelier in its *Plan d'action* phase (actions, a published
plan, a pilot's follow-up link, authors allowed to plan). Its participants
and facilitator get database sessions, so a context is "logged in" by a
cookie instead of a form. Everything is deleted after the module.

Playwright's sync API keeps an event loop running in this thread, and Django
refuses ORM calls inside one: the evening is built before the browser starts
and deleted after it stops. The tests do not ask pytest-django for the
database (its per-test transaction would hold SQLite's write lock against
the server): `django_db_setup` makes sure the test database exists anyway.
"""

from __future__ import annotations

import datetime
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest

from boards.services import participation
from tests import test_browser

if TYPE_CHECKING:
    from collections.abc import Iterator

ARTIFACTS = test_browser.ARTIFACTS
SCREENSHOTS = ARTIFACTS / "screenshots"
LANGUAGES = ("fr", "en")
LOCALES = {"fr": "fr-FR", "en": "en-GB"}
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
PROJECTOR = {"width": 1920, "height": 1080}

# The worst the projector must show: STATEMENT_MAX characters, the longest
# details, offers with long messages.
LONG_STATEMENT = (
    "Impossible de recruter des soudeurs qualifiés à moins de cinquante kilomètres de Cognac alors que nos "
    "carnets de commandes sont pleins jusqu'en 2028, que les écoles ferment leurs sections chaudronnerie et "
    "que les retraités du bassin voudraient bien transmettre leur métier à tous."
)
assert len(LONG_STATEMENT) == 280, len(LONG_STATEMENT)
LONG_DETAILS = (
    "Nous avons essayé France Travail, deux cabinets de recrutement et les réseaux sociaux. Les candidats "
    "viennent de Bordeaux ou de Limoges et repartent au bout de trois mois faute de logement. "
) * 10
OFFER_MESSAGES = [
    "Je connais le lycée professionnel de Barbezieux : leur section chaudronnerie cherche des entreprises "
    "pour l'apprentissage et des tuteurs pour les élèves de terminale qui veulent rester dans le bassin.",
    "La POEI finance jusqu'à 400 heures de formation avant l'embauche : on monte le dossier ensemble.",
    "Nous avons formé deux soudeurs en interne l'an dernier, je vous raconte ce qui a marché.",
    "L'agglomération a trois logements pour les alternants près de la gare.",
    "Le club des retraités de l'industrie cherche justement des missions de transmission.",
    "Je peux vous présenter la cheffe d'atelier de la tonnellerie voisine.",
    "Un groupement d'employeurs pourrait partager un soudeur entre trois PME.",
    "La Région finance le permis de conduire des apprentis.",
    "J'ai une salle équipée pour des sessions de formation le samedi.",
    "Je connais l'AFPA d'Angoulême, qui ouvre une session en mars.",
    "Le Département peut aider au logement des saisonniers et des apprentis.",
    "On peut mutualiser les annonces entre entreprises du bassin sur un seul site.",
]


@dataclass
class Atelier:
    """What the browser needs to know about one committed atelier."""

    code: str
    language: str
    atelier_id: int
    impossible_ids: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)
    share_token: str = ""
    pilot_token: str = ""


@dataclass
class Evening:
    live: dict[str, Atelier]
    plan: dict[str, Atelier]
    facilitator_session: str
    facilitator_username: str
    created_ateliers: list[int]
    created_users: list[int]


def _session(values: dict[str, Any]) -> str:
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    for key, value in values.items():
        store[key] = value
    store.create()
    return store.session_key


def _participant_session(participant) -> str:
    from boards.access import session_key

    return _session({session_key(participant.atelier_id): participant.pk})


def _user_session(user) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    return _session(
        {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
    )


def _key() -> str:
    return secrets.token_urlsafe(8)


def _new_atelier(language: str, title: str, user, **fields):
    from boards.models import Atelier as AtelierModel
    from boards.models import new_join_code

    code = new_join_code()
    while AtelierModel.objects.filter(code=code).exists():
        code = new_join_code()
    atelier = AtelierModel.objects.create(
        title=title,
        territory="Cognac, Charente",
        venue="Salle « La Salamandre »",
        starts_at=datetime.datetime(2027, 3, 20, 18, 30, tzinfo=datetime.UTC),
        language=language,
        code=code,
        **fields,
    )
    atelier.facilitators.add(user)
    return atelier


def _build_live(language: str, user) -> Atelier:
    from boards.services import facilitation

    atelier = _new_atelier(language, "Atelier de l'impossible — Cognac", user)
    alice = participation.join_atelier(
        atelier, name="Alice Martin", organisation="Tonnellerie Martin", role="entrepreneur"
    )
    people = [
        participation.join_atelier(atelier, name=f"Personne {n}", organisation=f"Entreprise {n}", role="pair")
        for n in range(12)
    ]
    long_one = participation.post_impossible(
        alice, statement=LONG_STATEMENT, details=LONG_DETAILS, category="recrutement", submission_key=_key()
    )
    for person, message in zip(people, OFFER_MESSAGES, strict=True):
        participation.offer_help(
            person, long_one.pk, kind="expertise", message=message, contact="06 12 34 56 78", submission_key=_key()
        )
    for person in people[:7]:
        participation.set_me_too(person, long_one.pk, on=True)
    local = participation.post_impossible(
        people[0],
        statement="Impossible de trouver un local pour un atelier de soudure",
        details="Il faut 200 m² et une ventilation.",
        category="foncier",
        submission_key=_key(),
    )
    participation.set_me_too(alice, local.pk, on=True)
    anonymous = participation.post_impossible(
        people[1],
        statement="Impossible de répondre aux marchés publics : trop de paperasse pour une PME",
        category="reglementation",
        anonymous=True,
        submission_key=_key(),
    )
    participation.set_me_too(alice, anonymous.pk, on=True)
    participation.set_me_too(people[2], anonymous.pk, on=True)
    facilitation.set_spotlight(atelier.pk, long_one.pk)
    facilitation.start_timer(atelier.pk, minutes=90, label="Dites « moi aussi »")
    return Atelier(
        code=atelier.code,
        language=language,
        atelier_id=atelier.pk,
        impossible_ids={"long": long_one.pk, "local": local.pk, "anonymous": anonymous.pk},
        sessions={"alice": _participant_session(alice), "bruno": _participant_session(people[0])},
    )


def _build_plan(language: str, user) -> Atelier:
    from boards.models import Pilot
    from boards.services import facilitation, plan

    atelier = _new_atelier(language, "Atelier de l'impossible — Jarnac", user)
    alice = participation.join_atelier(
        atelier, name="Alice Martin", organisation="Tonnellerie Martin", role="entrepreneur"
    )
    chloe = participation.join_atelier(atelier, name="Chloé Durand", organisation="Mairie de Jarnac", role="agent")
    soudeurs = participation.post_impossible(
        alice, statement="Impossible de recruter des soudeurs à Jarnac", category="recrutement", submission_key=_key()
    )
    offer = participation.offer_help(
        chloe, soudeurs.pk, kind="contact", message="Je connais le lycée professionnel", submission_key=_key()
    )
    participation.set_me_too(chloe, soudeurs.pk, on=True)
    banque = participation.post_impossible(
        chloe, statement="Impossible de financer une nouvelle machine", category="financement", submission_key=_key()
    )
    participation.set_me_too(alice, banque.pk, on=True)
    facilitation.set_phase(atelier.pk, "plan")
    facilitation.set_authors_can_plan(atelier.pk, True)
    actor = plan.Actor.facilitator(user)
    action = plan.create_action(
        atelier.pk,
        soudeurs.pk,
        actor=actor,
        title="Réunir les soudeurs retraités du bassin",
        pilot=plan.PilotChoice(participant_id=alice.pk),
        helpers=[offer.pk],
        next_step="Écrire au lycée avant la fin du mois",
        due_on=datetime.date(2027, 6, 30),
        submission_key=_key(),
    )
    plan.update_action(atelier.pk, action.pk, actor=actor, status="en_cours")
    share_token = plan.publish_plan(atelier.pk)
    pilot = Pilot.objects.get(atelier_id=atelier.pk, participant=alice)
    return Atelier(
        code=atelier.code,
        language=language,
        atelier_id=atelier.pk,
        impossible_ids={"soudeurs": soudeurs.pk, "banque": banque.pk},
        sessions={"alice": _participant_session(alice), "chloe": _participant_session(chloe)},
        share_token=share_token,
        pilot_token=pilot.token,
    )


def build_evening() -> Evening:
    from django.contrib.auth import get_user_model

    # A session cookie logs the facilitator in: no password to hash.
    user = get_user_model().objects.create_user(
        f"camille-{secrets.token_hex(3)}", "camille@example.org", None, first_name="Camille"
    )
    # Nobody listens yet: rendering every write's live fragments would only
    # slow the build down.
    with mock.patch("boards.live.publish.publish"):
        live = {language: _build_live(language, user) for language in LANGUAGES}
        plan = {language: _build_plan(language, user) for language in LANGUAGES}
    created = [a.atelier_id for a in (*live.values(), *plan.values())]
    return Evening(
        live=live,
        plan=plan,
        facilitator_session=_user_session(user),
        facilitator_username=user.username,
        created_ateliers=created,
        created_users=[user.pk],
    )


@pytest.fixture(scope="module")
def django_db_setup(django_db_setup, django_db_blocker) -> Iterator[None]:
    """pytest-django's test database, created here when no test of the run
    asked for one (it creates databases only for tests marked or using `db`)."""
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    wanted = (connection.settings_dict.get("TEST") or {}).get("NAME")
    if not wanted or connection.settings_dict["NAME"] == wanted:
        yield
        return
    with django_db_blocker.unblock():
        created = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    try:
        yield
    finally:
        with django_db_blocker.unblock():
            teardown_databases(created, verbosity=0)


@pytest.fixture(scope="module")
def evening(django_db_setup, django_db_blocker) -> Iterator[Evening]:
    from django.contrib.auth import get_user_model

    from boards.models import Atelier as AtelierModel

    with django_db_blocker.unblock():
        built = build_evening()
    try:
        yield built
    finally:
        with django_db_blocker.unblock():
            AtelierModel.objects.filter(pk__in=built.created_ateliers).delete()
            get_user_model().objects.filter(pk__in=built.created_users).delete()


@pytest.fixture(scope="module")
def chromium(evening) -> Iterator[Any]:
    """One Chromium for the module (started after the evening is committed)."""
    if not test_browser.CHROMIUM.exists():
        message = f"{test_browser.CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: the browser tests are required in CI")
        pytest.skip(message)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=test_browser.LIVE_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(test_browser.CHROMIUM), args=test_browser.CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def new_context(browser, server, language: str, viewport: dict[str, int], *, session: str = "", **options):
    """A fresh context in `language` (its Accept-Language), logged in by `session` if given."""
    context = browser.new_context(viewport=viewport, locale=LOCALES[language], **options)
    context.set_default_timeout(test_browser.LIVE_MS)
    if session:
        context.add_cookies([{"name": "sessionid", "value": session, "url": server.url}])
    return context


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
