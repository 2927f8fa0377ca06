"""Preparing and running an atelier: the facilitator's list, creating one,
its settings and team, deleting it, the join code, the timer, the spotlight,
the QR code on the console, projector and poster."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import pytest
import segno
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from boards.access import invitation
from boards.live import publish
from boards.models import (
    CODE_ALPHABET,
    CODE_LENGTH,
    Atelier,
    Category,
    HelpKind,
    HelpOffer,
    Impossible,
    MeToo,
    Participant,
    Role,
)
from boards.phases import Phase
from boards.services import facilitation, participation
from boards.views import answers
from tests.conftest import post_impossible

HTMX = {"HTTP_HX_REQUEST": "true"}
CODE_RE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")


def _atelier(code: str = "TST234") -> Atelier:
    return Atelier.objects.get(code=code)


def _atelier_form(**overrides) -> dict:
    return {
        "title": "Atelier de l'impossible — Cognac",
        "starts_at": "2030-05-04T18:30",
        "venue": "Salle des fêtes",
        "commune": "Cognac",
        "departement": "Charente",
        "region": "Nouvelle-Aquitaine",
        "insee_code": "16102",
        "territory": "",
        "language": "fr",
        "categories": ["recrutement", "financement", "foncier"],
        **overrides,
    }


# --- The facilitator's list ---------------------------------------------------------------------


def _sections(html: str) -> tuple[str, str]:
    upcoming, past = html.split('id="past-title"')
    return upcoming, past


def test_the_home_lists_my_upcoming_and_past_ateliers_with_counts(facilitator, atelier, other_atelier, alice, bob):
    now = timezone.now()
    soon = Atelier.objects.create(title="Jarnac — dans deux jours", starts_at=now + timedelta(days=2), code="JRNC22")
    later = Atelier.objects.create(title="Segonzac — le mois prochain", starts_at=now + timedelta(days=30))
    past = Atelier.objects.create(title="Angoulême — la semaine dernière", starts_at=now - timedelta(days=7))
    older = Atelier.objects.create(title="Barbezieux — l'an dernier", starts_at=now - timedelta(days=300))
    not_mine = Atelier.objects.create(title="Bordeaux — pas le mien", starts_at=now + timedelta(days=1))
    for mine in (soon, later, past, older):
        mine.facilitators.add(facilitator.user)
    not_mine.facilitators.add(User.objects.create_user("autre"))
    shown = post_impossible(alice.participant, "Visible")
    hidden = post_impossible(bob.participant, "Masqué")
    facilitation.set_impossible_hidden(atelier.pk, hidden.pk, hidden=True)
    pending = post_impossible(bob.participant, "En attente")
    Impossible.objects.filter(pk=pending.pk).update(pending=True)
    participation.join_atelier(past, name="Zoé", organisation="", role=Role.OTHER)
    assert shown

    response = facilitator.get("/facilitate/")

    assert response.status_code == 200
    assert [a.title for a in response.context["upcoming"] if a.starts_at] == [soon.title, later.title]
    assert {a.pk for a in response.context["upcoming"]} == {atelier.pk, soon.pk, later.pk}
    assert [a.title for a in response.context["past"]] == [past.title, older.title]
    upcoming_html, past_html = _sections(response.content.decode())
    for title in (atelier.title, soon.title, later.title):
        assert escape(title) in upcoming_html
    for title in (past.title, older.title):
        assert escape(title) in past_html
    assert "Bordeaux" not in response.content.decode()
    assert other_atelier.title not in response.content.decode()
    # TST234: two participants (alice, bob), one impossible on the board.
    card = next(li for li in upcoming_html.split("</li>") if 'href="/a/TST234/console/"' in li)
    assert "2 participant·es" in card
    assert "1 impossible<" in card
    past_card = next(li for li in past_html.split("</li>") if escape(past.title) in li)
    assert "1 participant·e<" in past_card
    counts = {a.pk: (a.n_participants or 0, a.n_impossibles or 0) for a in response.context["past"]}
    assert counts == {past.pk: (1, 0), older.pk: (0, 0)}


def test_the_home_of_a_new_facilitator_invites_to_create_one(db):
    client = Client()
    client.force_login(User.objects.create_user("nouvelle"))
    response = client.get("/facilitate/")
    assertContains(response, "Aucun atelier prévu. Créez-en un pour commencer.")
    assertContains(response, 'href="/facilitate/new/"')


# --- Creating an atelier ------------------------------------------------------------------------


def test_creating_an_atelier_opens_its_console(facilitator):
    response = facilitator.post("/facilitate/new/", _atelier_form())

    created = Atelier.objects.get(title="Atelier de l'impossible — Cognac")
    assertRedirects(response, f"/a/{created.code}/console/", fetch_redirect_response=False)
    assert CODE_RE.match(created.code)
    assert list(created.facilitators.all()) == [facilitator.user]
    assert created.phase == Phase.WELCOME
    assert created.locked is False
    assert created.categories == ["recrutement", "financement", "foncier"]
    assert created.territory == "Cognac, Charente, Nouvelle-Aquitaine"
    assert created.insee_code == "16102"
    assert timezone.localtime(created.starts_at).strftime("%Y-%m-%d %H:%M") == "2030-05-04 18:30"
    console = facilitator.get(f"/a/{created.code}/console/")
    assertContains(console, f"Partagez le code {created.code} avec la salle.")


def test_the_new_atelier_form_offers_every_category_by_default(facilitator):
    response = facilitator.get("/facilitate/new/")
    for value in Category.values:
        assertContains(response, f'value="{value}"')
    assert response.context["form"].initial["categories"] == list(Category.values)


def test_new_codes_use_the_unambiguous_alphabet_and_are_unique(facilitator):
    for n in range(12):
        facilitator.post("/facilitate/new/", _atelier_form(title=f"Atelier {n}"))
    codes = list(Atelier.objects.exclude(code="TST234").values_list("code", flat=True))
    assert len(codes) == len(set(codes)) == 12
    assert all(CODE_RE.match(code) for code in codes)
    assert not set("".join(codes)) & set("01OIL")


def test_a_new_code_that_is_taken_is_drawn_again(facilitator, atelier, monkeypatch):
    drawn = iter(["TST234", "NEWCD3", "FRESH2"])
    monkeypatch.setattr(facilitation, "new_join_code", lambda: next(drawn))

    facilitator.post("/facilitate/new/", _atelier_form())

    assert Atelier.objects.get(title="Atelier de l'impossible — Cognac").code == "NEWCD3"
    assert _atelier().facilitators.count() == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"insee_code": "1610"}, "Un code INSEE a cinq caractères"),
        ({"insee_code": "ABCDE"}, "Un code INSEE a cinq caractères"),
        ({"categories": []}, "obligatoire"),
        ({"categories": ["pas-une-categorie"]}, "pas-une-categorie"),
        ({"title": ""}, "obligatoire"),
        ({"language": "de"}, "de"),
        ({"starts_at": "demain soir"}, "date"),
    ],
    ids=["short-insee", "letters-insee", "no-category", "unknown-category", "no-title", "language", "date"],
)
def test_an_invalid_new_atelier_is_refused_and_nothing_is_created(facilitator, atelier, overrides, message):
    response = facilitator.post("/facilitate/new/", _atelier_form(**overrides))

    assert response.status_code == 422
    assert message in response.content.decode()
    assert Atelier.objects.count() == 1


def test_corsican_insee_codes_are_accepted(facilitator):
    facilitator.post("/facilitate/new/", _atelier_form(insee_code="2A004"))
    assert Atelier.objects.get(insee_code="2A004")


def test_the_service_refuses_an_atelier_without_categories(facilitator):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        facilitation.create_atelier(facilitator.user, title="Sans catégorie", categories=[])
    assert not Atelier.objects.filter(title="Sans catégorie").exists()


# --- Settings -----------------------------------------------------------------------------------


def test_the_settings_page_shows_the_current_values_and_the_team(facilitator, co_facilitator, atelier):
    response = facilitator.get("/a/TST234/console/settings/")
    assertContains(response, escape(atelier.title))
    # Named by e-mail (they have no full name), never by their login name.
    assertContains(response, "fanny@example.org")
    assertContains(response, "colin@example.org")
    assertNotContains(response, "(fanny)")


def test_saving_the_settings_emits_atelier_updated(facilitator, atelier, events, django_capture_on_commit_callbacks):
    version = _atelier().version

    with django_capture_on_commit_callbacks(execute=True):
        response = facilitator.post("/a/TST234/console/settings/", _atelier_form(title="Cognac, édition 2"))

    assertRedirects(response, "/a/TST234/console/", fetch_redirect_response=False)
    saved = _atelier()
    assert saved.title == "Cognac, édition 2"
    assert saved.categories == ["recrutement", "financement", "foncier"]
    assert saved.code == "TST234"
    assert saved.phase == Phase.IMPOSSIBLES  # settings never move the evening
    assert saved.version == version + 1
    assert events == [(atelier.pk, version + 1, {"type": "atelier.updated"})]


def test_invalid_settings_change_nothing(facilitator, atelier, events, django_capture_on_commit_callbacks):
    before = Atelier.objects.filter(pk=atelier.pk).values().get()

    with django_capture_on_commit_callbacks(execute=True):
        response = facilitator.post("/a/TST234/console/settings/", _atelier_form(insee_code="999"))

    assert response.status_code == 422
    assert Atelier.objects.filter(pk=atelier.pk).values().get() == before
    assert events == []


def test_participants_choose_among_the_ateliers_categories(facilitator, alice):
    facilitator.post("/a/TST234/console/settings/", _atelier_form(categories=["financement", "foncier"]))

    board = alice.get("/a/TST234/")
    options = re.findall(r'<option value="(\w*)"', board.content.decode())
    assert options == ["", "financement", "foncier"]
    response = alice.post(
        "/a/TST234/impossibles/",
        {"statement": "Impossible de recruter", "category": "recrutement", "submission_key": "k"},
    )
    assert response.status_code == 422
    assert not Impossible.objects.exists()
    response = alice.post(
        "/a/TST234/impossibles/", {"statement": "Impossible de louer", "category": "foncier", "submission_key": "k"}
    )
    assert response.status_code == 302
    assert Impossible.objects.get().category == "foncier"


def test_the_service_refuses_a_category_the_atelier_does_not_offer(facilitator, alice):
    from django.core.exceptions import ValidationError

    facilitator.post("/a/TST234/console/settings/", _atelier_form(categories=["financement"]))
    alice.participant.atelier.refresh_from_db()
    with pytest.raises(ValidationError) as error:
        post_impossible(alice.participant, category="recrutement")
    assert "Cette catégorie n'est pas proposée dans cet atelier." in error.value.messages
    assert not Impossible.objects.exists()


# --- Team ---------------------------------------------------------------------------------------


@pytest.fixture
def nadia(db):
    return User.objects.create_user("nadia", email="nadia.martin@example.org")


def _team(client, **data):
    return client.post("/a/TST234/console/team/", data, follow=True)


@pytest.mark.parametrize("who", ["nadia", "NADIA", "nadia.martin@example.org", " Nadia.Martin@Example.org "])
def test_a_co_facilitator_is_invited_by_username_or_email_and_accepts(facilitator, atelier, nadia, who):
    response = _team(facilitator, who=who)

    assertContains(response, escape(f"Invitation enregistrée pour « {who.strip()} »"))
    assert list(atelier.facilitators.all()) == [facilitator.user]
    welcome = Client()
    welcome.force_login(nadia)
    invitation = atelier.invitations.get()
    welcome.post(f"/facilitate/invitations/{invitation.pk}/", {"op": "accept"})
    assert set(atelier.facilitators.all()) == {facilitator.user, nadia}
    assert welcome.get("/a/TST234/console/").status_code == 200


def test_an_empty_invitation_is_refused(facilitator, atelier):
    response = _team(facilitator, who="")

    assertContains(response, "Indiquez un nom d&#x27;utilisateur ou un e-mail.")
    assert not atelier.invitations.exists()


@pytest.mark.parametrize("who", ["personne", "inactive", "shared@example.org"])
def test_an_invitation_nobody_can_accept_looks_like_any_other(facilitator, atelier, who):
    User.objects.create_user("inactive", is_active=False)
    inactive = Client()
    inactive.force_login(User.objects.get(username="inactive"))

    response = _team(facilitator, who=who)

    assertContains(response, escape(f"Invitation enregistrée pour « {who} »"))
    assert list(atelier.facilitators.all()) == [facilitator.user]
    assert atelier.invitations.get().who == who


def test_an_invitation_to_a_shared_address_goes_to_the_first_who_accepts(facilitator, atelier):
    paul = User.objects.create_user("paul", email="shared@example.org")
    pauline = User.objects.create_user("pauline", email="SHARED@example.org")
    _team(facilitator, who="shared@example.org")
    invitation = atelier.invitations.get()
    first, second = Client(), Client()
    first.force_login(pauline)
    second.force_login(paul)

    assert first.post(f"/facilitate/invitations/{invitation.pk}/", {"op": "accept"}).status_code == 302
    assert second.post(f"/facilitate/invitations/{invitation.pk}/", {"op": "accept"}).status_code == 404
    assert set(atelier.facilitators.all()) == {facilitator.user, pauline}


def test_a_co_facilitator_can_be_removed(facilitator, co_facilitator, atelier):
    response = _team(facilitator, remove=co_facilitator.user.pk)

    assertContains(response, "colin@example.org ne fait plus partie de l&#x27;animation.")
    assert list(atelier.facilitators.all()) == [facilitator.user]
    assert co_facilitator.get("/a/TST234/console/").status_code == 404


def test_a_facilitator_can_leave_when_someone_else_stays(facilitator, co_facilitator, atelier):
    facilitator.post("/a/TST234/console/team/", {"remove": facilitator.user.pk})
    assert list(atelier.facilitators.all()) == [co_facilitator.user]
    assert facilitator.get("/a/TST234/console/").status_code == 404


def test_the_last_facilitator_cannot_be_removed(facilitator, atelier):
    response = _team(facilitator, remove=facilitator.user.pk)

    assertContains(response, "Un atelier garde au moins une personne à l&#x27;animation.")
    assert list(atelier.facilitators.all()) == [facilitator.user]


def test_removing_someone_who_is_not_in_the_team_is_a_404(facilitator, other_facilitator, atelier):
    assert facilitator.post("/a/TST234/console/team/", {"remove": other_facilitator.user.pk}).status_code == 404
    assert facilitator.post("/a/TST234/console/team/", {"remove": "abc"}).status_code == 404
    assert list(other_facilitator.user.facilitated_ateliers.all()) == [Atelier.objects.get(code="AUTRE9")]


@pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="races need concurrent writers: SQLite serialises every write transaction",
)
@pytest.mark.django_db(transaction=True)
def test_two_facilitators_removing_each_other_at_once_leave_one(atelier):
    fanny = User.objects.create_user("fanny")
    colin = User.objects.create_user("colin")
    atelier.facilitators.add(fanny, colin)
    barrier = threading.Barrier(2)
    errors: list = []

    def remove(user):
        try:
            barrier.wait(timeout=10)
            facilitation.remove_facilitator(Atelier.objects.get(pk=atelier.pk), user)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=remove, args=(user,)) for user in (fanny, colin)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert atelier.facilitators.count() == 1
    assert len(errors) == 1


# --- Deleting -----------------------------------------------------------------------------------


@pytest.fixture
def full_atelier(atelier, other_atelier, alice, bob, charlie, facilitator):
    """Content of every kind in both ateliers, so deleting one shows what it takes."""
    first = post_impossible(alice.participant, "Impossible un")
    second = post_impossible(bob.participant, "Impossible deux")
    third = post_impossible(charlie.participant, "Impossible trois")
    participation.set_me_too(bob.participant, first.pk, on=True)
    participation.set_me_too(charlie.participant, second.pk, on=True)
    participation.offer_help(charlie.participant, first.pk, kind=HelpKind.EXPERTISE, message="Aide", submission_key="a")
    offer = participation.offer_help(
        alice.participant, third.pk, kind=HelpKind.SOLVED, message="Fait", submission_key="b"
    )
    facilitation.set_offer_hidden(atelier.pk, offer.pk, hidden=True)
    facilitation.merge_impossibles(atelier.pk, first.pk, second.pk)
    facilitation.set_spotlight(atelier.pk, first.pk)
    stranger = participation.join_atelier(other_atelier, name="Zoé", organisation="", role=Role.OTHER)
    foreign = post_impossible(stranger, "Impossible ailleurs")
    participation.set_me_too(stranger, foreign.pk, on=True)
    participation.offer_help(stranger, foreign.pk, kind=HelpKind.EXPERTISE, message="Ailleurs", submission_key="c")
    facilitation.set_spotlight(other_atelier.pk, foreign.pk)
    return atelier


def _rows_of(atelier_id: int) -> tuple[int, int, int, int]:
    return (
        Participant.objects.filter(atelier_id=atelier_id).count(),
        Impossible.objects.filter(atelier_id=atelier_id).count(),
        MeToo.objects.filter(impossible__atelier_id=atelier_id).count(),
        HelpOffer.objects.filter(impossible__atelier_id=atelier_id).count(),
    )


def test_the_delete_page_says_what_will_go(facilitator, full_atelier):
    response = facilitator.get("/a/TST234/console/delete/")
    assertContains(response, "Seront effacés : 3 participant·es, 3 impossibles, 2 offres d'aide.")
    assertContains(response, "Recopiez le code TST234 pour confirmer")


@pytest.mark.parametrize("typed", ["", "TST235", "AUTRE9", "TST 234"])
def test_deleting_requires_typing_the_code(facilitator, full_atelier, typed):
    before = _rows_of(full_atelier.pk)

    response = facilitator.post("/a/TST234/console/delete/", {"confirm": typed}, follow=True)

    assertRedirects(response, "/a/TST234/console/delete/")
    assertContains(response, "Recopiez le code de l&#x27;atelier pour confirmer la suppression.")
    assert _rows_of(full_atelier.pk) == before
    assert Atelier.objects.filter(pk=full_atelier.pk).exists()


@pytest.mark.parametrize("typed", ["TST234", " tst234 "])
def test_deleting_removes_everything_and_only_that(
    facilitator, full_atelier, other_atelier, alice, monkeypatch, django_capture_on_commit_callbacks, typed
):
    closed: list[int] = []
    monkeypatch.setattr(publish, "close_atelier", closed.append)
    other_before = _rows_of(other_atelier.pk)
    atelier_id = full_atelier.pk

    with django_capture_on_commit_callbacks(execute=True):
        response = facilitator.post("/a/TST234/console/delete/", {"confirm": typed}, follow=True)

    assertRedirects(response, "/facilitate/")
    assertContains(response, "« Atelier de l&#x27;impossible — Test » et tout son contenu sont supprimés.")
    assert not Atelier.objects.filter(pk=atelier_id).exists()
    assert _rows_of(atelier_id) == (0, 0, 0, 0)
    assert _rows_of(other_atelier.pk) == other_before
    assert _atelier("AUTRE9").spotlight is not None
    assert closed == [atelier_id]
    assert User.objects.filter(username="fanny").exists()
    assert alice.get("/a/TST234/").status_code == 404
    assert facilitator.get("/a/TST234/console/").status_code == 404


# --- Join code ----------------------------------------------------------------------------------


def test_a_new_join_code_retires_the_old_one(facilitator, alice, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = facilitator.post("/a/TST234/console/code/", follow=True)

    new_code = Atelier.objects.get(title="Atelier de l'impossible — Test").code
    assert new_code != "TST234"
    assert CODE_RE.match(new_code)
    assertRedirects(response, f"/a/{new_code}/console/")
    assertContains(response, f"Nouveau code : {new_code}. L&#x27;ancien ne fonctionne plus.")
    assert [event for _a, _v, event in events] == [{"type": "atelier.updated"}]
    newcomer = Client()
    assert newcomer.get("/a/TST234/join/").status_code == 404
    assert newcomer.get("/", {"code": "TST234"}).status_code == 422
    assert newcomer.get(f"/a/{new_code}/join/").status_code == 200
    joined = newcomer.post(f"/a/{new_code}/join/", {"name": "Dana", "role": Role.OTHER})
    assertRedirects(joined, f"/a/{new_code}/", fetch_redirect_response=False)
    # People already in the room keep their place under the new code.
    assertContains(alice.get(f"/a/{new_code}/"), "Vous êtes <strong>Alice</strong>")
    assert alice.get("/a/TST234/").status_code == 404


def test_a_new_join_code_that_is_taken_is_drawn_again(facilitator, atelier, other_atelier, monkeypatch):
    drawn = iter(["AUTRE9", "NEWCD2"])
    monkeypatch.setattr(facilitation, "new_join_code", lambda: next(drawn))

    facilitator.post("/a/TST234/console/code/")

    assert Atelier.objects.get(pk=atelier.pk).code == "NEWCD2"
    assert Atelier.objects.get(pk=other_atelier.pk).code == "AUTRE9"


# --- Timer --------------------------------------------------------------------------------------


def _timer(client, op: str, **data):
    return client.post("/a/TST234/console/timer/", {"op": op, **data}, **HTMX)


def _timer_state() -> tuple:
    atelier = _atelier()
    return atelier.timer_label, atelier.timer_ends_at, atelier.timer_remaining, atelier.version


def test_starting_the_timer(facilitator, atelier, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _timer(facilitator, "start", minutes="5", label="  Écrivez vos impossibles  ")

    assert response.status_code == 204
    started = _atelier()
    assert started.timer_label == "Écrivez vos impossibles"
    assert started.timer_remaining is None
    left = (started.timer_ends_at - timezone.now()).total_seconds()
    assert 295 <= left <= 300
    assert [event for _a, _v, event in events] == [{"type": "atelier.updated"}]


@pytest.mark.parametrize("minutes", ["0", "-1", "0.1", "181", "abc", "", "1e9"])
def test_an_invalid_duration_is_refused(facilitator, atelier, events, django_capture_on_commit_callbacks, minutes):
    before = _timer_state()

    with django_capture_on_commit_callbacks(execute=True):
        htmx = _timer(facilitator, "start", minutes=minutes)
        plain = facilitator.post("/a/TST234/console/timer/", {"op": "start", "minutes": minutes})

    assert htmx.status_code == answers.REFUSED
    message = json.loads(htmx["HX-Trigger"])["cerveau:refused"]["message"]
    assert message
    assertRedirects(plain, "/a/TST234/console/", fetch_redirect_response=False)
    assert f'<li class="flash-error">{escape(message)}</li>' in facilitator.get("/a/TST234/console/").content.decode()
    assert _timer_state() == before
    assert events == []


def test_the_service_refuses_durations_out_of_range(atelier):
    from django.core.exceptions import ValidationError

    for minutes in (0, 0.1, 181, "x", None):
        with pytest.raises(ValidationError):
            facilitation.start_timer(atelier.pk, minutes=minutes)
    assert _atelier().timer_ends_at is None


def test_pausing_keeps_the_remaining_time(facilitator, alice, atelier):
    _timer(facilitator, "start", minutes="5")
    # Four minutes left on the server's clock.
    Atelier.objects.filter(pk=atelier.pk).update(timer_ends_at=timezone.now() + timedelta(minutes=4))

    _timer(facilitator, "pause")

    paused = _atelier()
    assert paused.timer_ends_at is None
    assert timedelta(minutes=3, seconds=58) <= paused.timer_remaining <= timedelta(minutes=4)
    first = alice.get("/a/TST234/").content.decode()
    second = alice.get("/a/TST234/").content.decode()
    remaining = int(paused.timer_remaining.total_seconds())
    for page in (first, second):
        assert f'data-remaining="{remaining}"' in page
        assert 'class="timer is-paused"' in page
        assert "en pause" in page
    assert f"{remaining // 60:02d}:{remaining % 60:02d}" in first


def test_resuming_runs_from_the_remaining_time(facilitator, atelier):
    _timer(facilitator, "start", minutes="5")
    Atelier.objects.filter(pk=atelier.pk).update(timer_ends_at=None, timer_remaining=timedelta(seconds=100))

    _timer(facilitator, "resume")

    resumed = _atelier()
    assert resumed.timer_remaining is None
    assert 98 <= (resumed.timer_ends_at - timezone.now()).total_seconds() <= 100


def test_stopping_clears_the_timer(facilitator, alice, atelier):
    _timer(facilitator, "start", minutes="5", label="Consigne")

    _timer(facilitator, "stop")

    assert _timer_state()[:3] == ("", None, None)
    page = alice.get("/a/TST234/").content.decode()
    assert 'role="timer"' not in page
    assert "Consigne" not in page


@pytest.mark.parametrize("op", ["pause", "resume", "stop"])
def test_timer_operations_with_nothing_to_do_change_nothing(
    facilitator, atelier, events, django_capture_on_commit_callbacks, op
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _timer(facilitator, op)

    assert response.status_code == 204
    assert _atelier().version == 0
    assert events == []


def test_pausing_twice_is_one_change(facilitator, atelier, events, django_capture_on_commit_callbacks):
    _timer(facilitator, "start", minutes="5")
    with django_capture_on_commit_callbacks(execute=True):
        _timer(facilitator, "pause")
        _timer(facilitator, "pause")
    assert len(events) == 1


def test_an_unknown_timer_operation_is_refused(facilitator, atelier):
    response = _timer(facilitator, "reset")
    assert response.status_code == answers.REFUSED
    assert json.loads(response["HX-Trigger"]) == {"cerveau:refused": {"message": "Action du minuteur inconnue."}}


def test_the_timer_shows_on_the_board_the_console_and_the_projector(facilitator, alice, atelier, monkeypatch):
    _timer(facilitator, "start", minutes="5", label="Écrivez vos impossibles")
    # The server's clock stands still for the pages below: on a busy machine
    # the seconds they take to draw would otherwise show on the timers.
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    # Thirty seconds have passed since: a reload counts from the server's end time.
    ends_at = now + timedelta(minutes=4, seconds=30)
    Atelier.objects.filter(pk=atelier.pk).update(timer_ends_at=ends_at)

    board = alice.get("/a/TST234/").content.decode()

    timer = re.search(r'<p class="timer" data-ends-at="(\d+)" data-remaining="(\d+)">', board)
    assert timer is not None
    assert int(timer.group(1)) == int(ends_at.timestamp())
    assert 268 <= int(timer.group(2)) <= 270
    assert re.search(r'role="timer">04:(29|30)</span>', board)
    assert "Écrivez vos impossibles" in board
    for url in ("/a/TST234/console/", "/a/TST234/projector/"):
        page = facilitator.get(url).content.decode()
        assert f'data-ends-at="{int(ends_at.timestamp())}"' in page
        assert re.search(r'role="timer">04:(29|30)<', page)


def test_an_elapsed_timer_shows_zero(facilitator, alice, atelier):
    _timer(facilitator, "start", minutes="1")
    Atelier.objects.filter(pk=atelier.pk).update(timer_ends_at=timezone.now() - timedelta(seconds=5))
    assert 'role="timer">00:00</span>' in alice.get("/a/TST234/").content.decode()


# --- Spotlight ----------------------------------------------------------------------------------


def _spotlight(client, value, **extra):
    return client.post("/a/TST234/console/spotlight/", {"impossible": value}, **extra)


def test_spotlight_on_and_off(facilitator, alice, events, django_capture_on_commit_callbacks):
    impossible = post_impossible(alice.participant, "Impossible de trouver un local")
    version = _atelier().version

    with django_capture_on_commit_callbacks(execute=True):
        _spotlight(facilitator, impossible.pk)
        _spotlight(facilitator, impossible.pk)  # again: nothing new

    assert _atelier().spotlight_id == impossible.pk
    assert _atelier().version == version + 1
    assert len(events) == 1
    board = alice.get("/a/TST234/").content.decode()
    assert f'data-spotlight="{impossible.pk}"' in board
    assert f'<a href="#imp-{impossible.pk}">Impossible de trouver un local</a>' in board
    projector = facilitator.get("/a/TST234/projector/")
    assertContains(projector, '<h2 class="p-spotlight-statement">Impossible de trouver un local</h2>')
    assertContains(facilitator.get("/a/TST234/console/"), "is-spotlight")

    _spotlight(facilitator, "")

    assert _atelier().spotlight_id is None
    assertNotContains(alice.get("/a/TST234/"), 'class="spotlight-note"')
    assertNotContains(facilitator.get("/a/TST234/projector/"), "p-spotlight-statement")


@pytest.mark.parametrize("case", ["unknown", "not-a-number", "hidden", "pending", "merged"])
def test_spotlighting_what_is_not_on_the_board_is_a_404(
    facilitator, alice, bob, events, django_capture_on_commit_callbacks, case
):
    impossible = post_impossible(alice.participant, "Impossible de trouver un local")
    value = str(impossible.pk)
    if case == "unknown":
        value = str(impossible.pk + 100)
    elif case == "not-a-number":
        value = "abc"
    elif case == "hidden":
        facilitation.set_impossible_hidden(_atelier().pk, impossible.pk, hidden=True)
    elif case == "pending":
        Impossible.objects.filter(pk=impossible.pk).update(pending=True)
    else:
        kept = post_impossible(bob.participant, "Impossible de louer un local")
        facilitation.merge_impossibles(_atelier().pk, kept.pk, impossible.pk)
    version = _atelier().version

    with django_capture_on_commit_callbacks(execute=True):
        response = _spotlight(facilitator, value)

    assert response.status_code == 404
    assert _atelier().spotlight_id is None
    assert _atelier().version == version
    assert events == []


# --- QR code and join link ----------------------------------------------------------------------

QR_PAGES = ["/a/TST234/console/", "/a/TST234/projector/", "/a/TST234/poster/"]


def _qr_path(url: str) -> str:
    """The drawing of the QR code that encodes `url`, as the pages inline it."""
    svg = segno.make(url, error="m").svg_inline(scale=1, border=2, omitsize=True)
    return re.search(r' d="([^"]+)"', svg).group(1)


@pytest.mark.parametrize("url", QR_PAGES)
def test_the_qr_code_is_drawn_on_the_page(facilitator, atelier, url):
    html = facilitator.get(url).content.decode()

    svg = re.search(r'<div class="qr[^"]*" role="img" aria-label="[^"]+">(<svg[^>]*>.*?</svg>)</div>', html, re.S)
    assert svg is not None
    assert re.match(r'<svg viewBox="0 0 \d+ \d+"', svg.group(1))
    # The room's QR codes carry its invitation (boards.access.invitation).
    assert _qr_path(f"http://testserver/a/TST234/join/?invite={invitation(atelier)}") in svg.group(1)
    if "projector" not in url:  # the projector shows the code, big, rather than the link
        assert "http://testserver/a/TST234/join/" in html


@pytest.mark.parametrize("url", QR_PAGES)
def test_the_join_link_uses_the_public_url(facilitator, atelier, settings, url):
    settings.PUBLIC_URL = "https://cerveau.example.org/"

    html = facilitator.get(url).content.decode()

    if "projector" not in url:
        assert "https://cerveau.example.org/a/TST234/join/" in html
    assert "testserver/a/TST234/join" not in html
    assert _qr_path(f"https://cerveau.example.org/a/TST234/join/?invite={invitation(atelier)}") in html


def test_the_qr_code_follows_a_new_join_code(facilitator):
    facilitator.post("/a/TST234/console/code/")
    renewed = Atelier.objects.get(title="Atelier de l'impossible — Test")
    code = renewed.code

    html = facilitator.get(f"/a/{code}/poster/").content.decode()

    assert _qr_path(f"http://testserver/a/{code}/join/?invite={invitation(renewed)}") in html
    assert "TST234" not in html


def test_the_projector_hides_the_qr_code_once_closed(facilitator, atelier):
    facilitator.post("/a/TST234/console/phase/", {"phase": Phase.CLOSED})
    html = facilitator.get("/a/TST234/projector/").content.decode()
    assert "<svg" not in html
    assert "/a/TST234/join/" not in html


# --- Query counts -------------------------------------------------------------------------------


def _fill(atelier: Atelier, count: int) -> None:
    people = Participant.objects.bulk_create(
        Participant(atelier=atelier, name=f"Personne {i}", organisation=f"Org {i}", role=Role.values[i % len(Role)])
        for i in range(8)
    )
    impossibles = Impossible.objects.bulk_create(
        Impossible(
            atelier=atelier,
            author=people[i % len(people)],
            statement=f"Impossible numéro {i}",
            category=Category.values[i % len(Category.values)],
            submission_key=f"bulk-{atelier.pk}-{i}",
            me_too_count=3,
            offer_count=2,
            hidden=i % 10 == 3,
            pending=i % 10 == 7,
        )
        for i in range(count)
    )
    MeToo.objects.bulk_create(
        MeToo(impossible=impossible, participant=people[j]) for impossible in impossibles for j in range(3)
    )
    HelpOffer.objects.bulk_create(
        HelpOffer(
            impossible=impossible,
            author=people[(n + k + 1) % len(people)],
            kind=HelpKind.values[k],
            message=f"Offre {k} pour {n}",
            contact=f"contact-{n}-{k}@example.org",
            submission_key=f"offer-{impossible.pk}-{k}",
        )
        for n, impossible in enumerate(impossibles)
        for k in range(2)
    )
    Atelier.objects.filter(pk=atelier.pk).update(spotlight=impossibles[0])


@pytest.mark.parametrize("page", ["console/", "console/panels/", "projector/", "projector/panels/"])
def test_the_console_and_projector_cost_the_same_with_200_impossibles_as_with_10(db, page):
    client = Client()
    client.force_login(User.objects.create_user("fanny"))
    runs = []
    for code, count in (("PETIT2", 10), ("GRAND2", 200)):
        atelier = Atelier.objects.create(title=f"Atelier {count}", code=code)
        atelier.facilitators.add(User.objects.get(username="fanny"))
        _fill(atelier, count)
        url = f"/a/{code}/{page}"
        client.get(url)  # warm up
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        runs.append((len(queries), [q["sql"] for q in queries.captured_queries], response))

    (small, small_sql, _), (big, big_sql, big_response) = runs
    assert big == small, "\n".join(["-- 10:", *small_sql, "-- 200:", *big_sql])
    if page == "console/":
        # The big console did list the whole board.
        assert len(big_response.context["published"]) == 160
        assert len(big_response.context["hidden"]) == 20
        assert len(big_response.context["pending"]) == 20
