"""Thin views: resolve access, validate the form, call a service, respond.

Every write is a plain form POST that works without JavaScript (redirect
back to the board); htmx requests get just the fragment they swap. The
board itself changes through the WebSocket push, for the author too.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.functional import SimpleLazyObject
from django.utils.html import json_script
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from boards import cards, phases, ratelimit, reads, shells
from boards.access import (
    TooManyAttempts,
    find_by_code,
    joined_atelier_ids,
    participant_required,
    remember_participant,
    too_many_attempts,
)
from boards.forms import (
    HelpOfferForm,
    ImpossibleForm,
    JoinByCodeForm,
    ParticipantForm,
    SameImpossibleForm,
    new_submission_key,
)
from boards.models import Atelier, Impossible, MeToo, Participant
from boards.phases import Action, Phase
from boards.services import participation, plan
from boards.services.core import NotFound, Refused
from boards.similarity import engine
from boards.views import answers
from cerveau.prepared import Prepared

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.forms import Form
    from django.http import HttpRequest


logger = logging.getLogger(__name__)

# The button under « Ça ressemble à… » that publishes anyway.
PUBLISH_ANYWAY = "publish"
# « Retour au tableau » from the suggestions: the post form again, filled in.
EDIT_AGAIN = "edit"


def _run(form: Form, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a service; turn its validation errors into form errors (and a
    target gone meanwhile into a 404)."""
    try:
        return action(*args, **kwargs)
    except ValidationError as error:
        form.add_error(None, error)
        return None
    except NotFound:
        raise Http404 from None


def _board_url(atelier: Atelier, anchor: str = "") -> str:
    url = reverse("boards:board", args=[atelier.code])
    return f"{url}#{anchor}" if anchor else url


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    form = JoinByCodeForm(request.GET or None)
    status = 200
    if form.is_bound and form.is_valid():
        try:
            atelier, participant = find_by_code(request, form.cleaned_data["code"])
            return redirect(atelier) if participant else redirect("boards:join", code=atelier.code)
        except TooManyAttempts:
            message = _(
                "Trop de codes erronés depuis ce réseau. "
                "Scannez le QR code affiché dans la salle, ou patientez quelques minutes."
            )
            form.add_error("code", message)
            status = 429
        except Http404:
            form.add_error("code", _("Aucun atelier ne porte ce code. Vérifiez-le sur l'écran de la salle."))
    if status == 200 and form.is_bound and form.errors:
        status = answers.UNPROCESSABLE
    joined = Atelier.objects.filter(pk__in=joined_atelier_ids(request.session)).order_by("-starts_at", "-id")
    response = render(request, "boards/home.html", {"form": form, "joined": joined}, status=status)
    if status == 429:
        response["Retry-After"] = str(ratelimit.guessing_retry_after())
    return response


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, code: str) -> HttpResponse:
    try:
        atelier, participant = find_by_code(request, code)
    except TooManyAttempts:
        return too_many_attempts(request)
    if participant is not None:
        return redirect(atelier)
    posted = request.method == "POST"
    # A form nobody filled in is built only if the page is drawn (boards/shells.py).
    form = ParticipantForm(request.POST) if posted else SimpleLazyObject(ParticipantForm)
    refusal = None
    if posted and form.is_valid():
        refusal = ratelimit.join_refusal(request, atelier)
        if refusal is not None:
            form.add_error(None, refusal.message)
        elif (participant := _run(form, participation.join_atelier, atelier, **form.cleaned_data)) is not None:
            remember_participant(request, participant)
            return redirect(atelier)
    # A form sent back always says why.
    status = answers.UNPROCESSABLE if posted else 200
    # A closed atelier says so up front instead of showing a form it would refuse.
    closed = phases.refusal(False, Action.JOIN) if atelier.phase == Phase.CLOSED else ""
    context = {"atelier": atelier, "form": form, "closed": closed}
    # The page a room loads when the QR code goes up: drawn once per version
    # and language (boards/shells.py); a form sent back is drawn for its sender.
    page = shells.Page(request, share=not posted)
    response = page.render("boards/join.html", context, key=(atelier.pk, atelier.version), status=status)
    return refusal.respond(response) if refusal else response


@require_http_methods(["GET", "POST"])
@participant_required
def profile(request: HttpRequest, participant: Participant) -> HttpResponse:
    form = ParticipantForm(request.POST if request.method == "POST" else None, instance=participant)
    refusal = None
    if request.method == "POST" and form.is_valid():
        if refusal := ratelimit.profile_refusal(participant):
            form.add_error(None, refusal.message)
        elif _run(form, participation.update_participant, participant, **form.cleaned_data) is not None:
            messages.success(request, _("Votre profil est à jour."))
            return redirect(participant.atelier)
    participant.refresh_from_db()
    status = answers.UNPROCESSABLE if form.errors else 200
    context = {"atelier": participant.atelier, "participant": participant, "form": form}
    response = render(request, "boards/profile.html", context, status=status)
    return refusal.respond(response) if refusal else response


def _render_board(
    request: HttpRequest, participant: Participant, impossible_form: ImpossibleForm | None = None, status: int = 200
) -> HttpResponse:
    """The board page. Drawn once per version, language and address for the
    whole room and filled in with each person's own parts (boards/shells.py),
    unless it shows this person's form back (errors, suggestions) or a
    running clock (it counts down)."""
    sort, category = reads.clean_view(request.GET.get("sort"), request.GET.get("category", ""), participant.atelier)
    # Without JavaScript, "show more" reloads the page with more cards.
    shown = _int_param(request, "shown", reads.PAGE_SIZE, reads.PAGE_SIZE, reads.MAX_SHOWN)
    # participant_required read the participant and the atelier just now.
    board = cards.shared(participant.atelier, sort=sort, category=category, limit=shown, fresh=True)
    atelier = board.atelier
    page = shells.Page(request, share=impossible_form is None and not atelier.timer_running)
    my_me_toos = sorted(_my_me_toos(participant.pk, atelier.pk))
    mine = {"atelier": atelier, "my_impossibles": _my_impossibles(participant)}
    if impossible_form is None:
        submission_key = page.slot("submission_key", new_submission_key())
        # Built only if the page is drawn.
        impossible_form = SimpleLazyObject(
            lambda: ImpossibleForm(categories=atelier.offered_categories(), initial={"submission_key": submission_key})
        )
    context = {
        "atelier": atelier,
        "version": board.version,
        "stats": board.stats,
        # No "online": the count shows once a push brings it (board.js), never from the page.
        "sort": sort,
        "category": category,
        "shown": board.count,
        "has_more": board.has_more,
        "next_shown": min(shown + reads.PAGE_SIZE, reads.MAX_SHOWN),
        "impossible_form": impossible_form,
        # This person's own parts.
        "who": page.slot("who", participant.name),
        "server_now": page.slot("server_now", dateformat.format(timezone.now(), "U.u")),
        "cards": page.slot("cards", cards.personal(board, page.token, my_me_toos)),
        "mine": page.slot("mine", render_to_string("boards/board.html#mine", mine)),
        "my_me_toos": page.slot("my_me_toos", json_script(my_me_toos, "my-me-toos")),
    }
    key = (atelier.pk, board.version, sort, category, shown)
    return page.render("boards/board.html", context, key=key, status=status)


# Read for every board page a phone loads, compiled once (cerveau/prepared.py).
_my_me_toos = Prepared(
    lambda participant, atelier: MeToo.objects.filter(
        participant_id=participant, impossible__atelier_id=atelier
    ).values_list("impossible_id", flat=True)
)
_own_impossibles = Prepared(
    lambda participant: (
        Impossible.objects.filter(author_id=participant, hidden=False)
        .order_by("-created_at")
        .only("pk", "statement", "offer_count", "pending")
    )
)


def _my_impossibles(participant: Participant) -> list[Impossible]:
    return _own_impossibles(participant.pk)


@require_GET
@participant_required
def board(request: HttpRequest, participant: Participant) -> HttpResponse:
    return _render_board(request, participant)


@require_GET
@participant_required
def my_impossibles(request: HttpRequest, participant: Participant) -> HttpResponse:
    """« Vos impossibles », fetched again by the author's page when a push
    concerns one of them (pushes are the room's, not the author's)."""
    context = {"atelier": participant.atelier, "my_impossibles": _my_impossibles(participant)}
    return render(request, "boards/board.html#mine", context)


def _int_param(request: HttpRequest, name: str, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(request.GET.get(name, default))))
    except (TypeError, ValueError):
        return default


@require_GET
@participant_required
def more_impossibles(request: HttpRequest, participant: Participant) -> HttpResponse:
    """The next cards of the board, appended by htmx under the ones shown."""
    atelier = participant.atelier
    sort, category = reads.clean_view(request.GET.get("sort"), request.GET.get("category", ""), atelier)
    offset = _int_param(request, "offset", 0, 0, reads.MAX_SHOWN)
    impossibles, has_more = reads.page_of_impossibles(
        atelier.pk, sort=sort, category=category, offset=offset, limit=reads.PAGE_SIZE
    )
    my_me_toos = set(
        MeToo.objects.filter(participant=participant, impossible__in=[i.pk for i in impossibles]).values_list(
            "impossible_id", flat=True
        )
    )
    context = {
        "atelier": atelier,
        "impossibles": impossibles,
        "has_more": has_more,
        "sort": sort,
        "category": category,
        "shown": offset + len(impossibles),
        "next_shown": min(offset + len(impossibles) + reads.PAGE_SIZE, reads.MAX_SHOWN),
        "my_me_toos": my_me_toos,
        "more_oob": True,
    }
    return render(request, "boards/board.html#more_cards", context)


def _suggestions(participant: Participant, form: ImpossibleForm) -> list[Impossible]:
    """« Ça ressemble à… »: the visible impossibles of the atelier that look
    like the one about to be posted, best first (at most 3), or [] to publish
    at once: when the person chose to publish anyway, when this submission
    already made it (a double tap, a retry), when posting is not open (the
    service says why), or when the engine fails. Never the person's own."""
    atelier = participant.atelier
    key = form.cleaned_data["submission_key"]
    if form.data.get("decision") == PUBLISH_ANYWAY or not atelier.can["post"]:
        return []
    if Impossible.objects.filter(author=participant, submission_key=key).exists():
        return []
    try:
        own = Impossible.objects.filter(author=participant).values_list("pk", flat=True)
        matches = engine.similar(atelier, form.cleaned_data["statement"], exclude=list(own))
        found = {
            impossible.pk: impossible
            for impossible in Impossible.objects.visible()
            .filter(atelier_id=atelier.pk, pk__in=[match.id for match in matches])
            .only("pk", "statement", "category", "me_too_count")
        }
        return [found[match.id] for match in matches if match.id in found]
    except Exception:
        # Posting must never depend on the engine.
        logger.exception("similarity: no suggestion for atelier %s", atelier.pk)
        return []


def _suggestions_response(
    request: HttpRequest, participant: Participant, form: ImpossibleForm, suggestions: list[Impossible]
) -> HttpResponse:
    """What the phone shows instead of publishing: the cards that look like
    it, with « Moi aussi, c'est le même » and « publier quand même ». A page
    of its own without JavaScript; over htmx it replaces the form."""
    atelier = participant.atelier
    context = {
        "atelier": atelier,
        "participant": participant,
        "suggestions": suggestions,
        "post": form.cleaned_data,
        "my_me_toos": set(
            MeToo.objects.filter(participant=participant, impossible__in=suggestions).values_list(
                "impossible_id", flat=True
            )
        ),
    }
    template = "boards/suggestions.html#suggestions" if request.htmx else "boards/suggestions.html"
    return render(request, template, context)


@require_POST
@participant_required
def post_impossible(request: HttpRequest, participant: Participant) -> HttpResponse:
    form = ImpossibleForm(request.POST, categories=participant.atelier.offered_categories())
    if request.POST.get("decision") == EDIT_AGAIN:
        return _edit_again(request, participant, form)
    if form.is_valid() and (refusal := ratelimit.impossible_refusal(participant, form.cleaned_data["submission_key"])):
        if request.htmx:
            return refusal.toast()
        form.add_error(None, refusal.message)
        return refusal.respond(_render_board(request, participant, impossible_form=form))
    if form.is_valid() and (suggestions := _suggestions(participant, form)):
        return _suggestions_response(request, participant, form, suggestions)
    impossible = form.is_valid() and _run(form, participation.post_impossible, participant, **form.cleaned_data)
    if impossible:
        if request.htmx:
            return _fresh_post_form(request, participant, posted=impossible)
        if impossible.pending:
            # Pre-moderation: it is not on the board yet (no card to jump to).
            messages.success(request, _("Merci ! Votre impossible sera publié dès que l'animation l'aura validé."))
            return redirect(_board_url(participant.atelier))
        messages.success(request, _("Votre impossible est sur le tableau."))
        return redirect(_board_url(participant.atelier, f"imp-{impossible.pk}"))
    if request.htmx:
        context = {"atelier": participant.atelier, "impossible_form": form}
        return render(request, "boards/board.html#post_form", context, status=answers.UNPROCESSABLE)
    return _render_board(request, participant, impossible_form=form, status=answers.UNPROCESSABLE)


def _edit_again(request: HttpRequest, participant: Participant, form: ImpossibleForm) -> HttpResponse:
    """Back from « Ça ressemble à… » to the post form, with the statement,
    details, category, anonymity and reach typed (and the same submission
    key, so a later « Publier » still posts once). Nothing is written."""
    if request.htmx:
        return render(request, "boards/board.html#post_form", {"atelier": participant.atelier, "impossible_form": form})
    return _render_board(request, participant, impossible_form=form)


def _fresh_post_form(request: HttpRequest, participant: Participant, **context: Any) -> HttpResponse:
    """The empty post form, saying what just happened (`posted`, `joined`)."""
    fresh = ImpossibleForm(categories=participant.atelier.offered_categories())
    context = {"atelier": participant.atelier, "impossible_form": fresh, **context}
    return render(request, "boards/board.html#post_form", context)


@require_POST
@participant_required
def same_impossible(request: HttpRequest, participant: Participant, impossible_id: int) -> HttpResponse:
    """« Moi aussi, c'est le même »: instead of posting a duplicate, say
    « moi aussi » to the existing card and, if asked, add the details written
    for the post to it as a précision."""
    form = SameImpossibleForm(request.POST)
    if not form.is_valid():
        message = " ".join(error for errors in form.errors.values() for error in errors)
        return answers.refused(request, participant.atelier.get_absolute_url(), message)
    if refusal := ratelimit.me_too_refusal(participant):
        if request.htmx:
            return refusal.toast()
        messages.error(request, refusal.message)
        return refusal.respond(_render_board(request, participant))
    details = form.cleaned_data["details"] if form.cleaned_data["add_details"] else ""
    try:
        impossible = participation.set_me_too(participant, impossible_id, on=True)
        if details:
            participation.add_precision(
                participant,
                impossible.pk,
                text=details,
                anonymous=form.cleaned_data["anonymous"],
                submission_key=form.cleaned_data["submission_key"],
            )
    except NotFound:
        raise Http404 from None
    except Refused as refusal:
        return _refused(request, participant, refusal)
    except ValidationError as error:
        return answers.refused(request, participant.atelier.get_absolute_url(), " ".join(error.messages))
    if request.htmx:
        response = _fresh_post_form(request, participant, joined=impossible, joined_details=bool(details))
        return trigger_client_event(response, "cerveau:metoo", {"impossible": impossible.pk, "on": True})
    if details:
        messages.success(request, _("C'est noté : votre « moi aussi » compte, et votre précision est sur la carte."))
    else:
        messages.success(request, _("C'est noté : votre « moi aussi » compte pour cet impossible."))
    return redirect(_board_url(participant.atelier, f"imp-{impossible.pk}"))


@require_POST
@participant_required
def me_too(request: HttpRequest, participant: Participant, impossible_id: int) -> HttpResponse:
    on = request.POST.get("state", "on") != "off"
    if refusal := ratelimit.me_too_refusal(participant):
        if request.htmx:
            return refusal.toast()
        messages.error(request, refusal.message)
        return refusal.respond(_render_board(request, participant))
    try:
        impossible = participation.set_me_too(participant, impossible_id, on=on)
    except NotFound:
        raise Http404 from None
    except Refused as refusal:
        return _refused(request, participant, refusal)
    if request.htmx:
        response = HttpResponse(status=204)
        return trigger_client_event(response, "cerveau:metoo", {"impossible": impossible.pk, "on": on})
    return redirect(_board_url(participant.atelier, f"imp-{impossible.pk}"))


def _refused(request: HttpRequest, participant: Participant, refusal: Refused) -> HttpResponse:
    """A rule of the atelier said no: say why, change nothing."""
    return answers.refused(request, participant.atelier.get_absolute_url(), " ".join(refusal.messages))


def _visible_impossible_or_404(participant: Participant, impossible_id: int) -> Impossible:
    impossible = reads.impossibles_queryset(participant.atelier_id).filter(pk=impossible_id).first()
    if impossible is None:
        raise Http404
    return impossible


@require_http_methods(["GET", "POST"])
@participant_required
def offer_help(request: HttpRequest, participant: Participant, impossible_id: int) -> HttpResponse:
    impossible = _visible_impossible_or_404(participant, impossible_id)
    form = HelpOfferForm(request.POST if request.method == "POST" else None)
    offer = None
    if request.method == "POST" and form.is_valid():
        if refusal := ratelimit.offer_refusal(participant, form.cleaned_data["submission_key"]):
            if request.htmx:
                return refusal.toast()
            form.add_error(None, refusal.message)
            context = {"atelier": participant.atelier, "participant": participant, "impossible": impossible}
            return refusal.respond(render(request, "boards/offer.html", {**context, "form": form}))
        offer = _run(form, participation.offer_help, participant, impossible.pk, **form.cleaned_data)
    if offer is not None:
        if request.htmx:
            return render(request, "boards/offer.html#offer_thanks", {"impossible": impossible})
        messages.success(request, _("Merci ! Votre proposition d'aide est sur le tableau."))
        return redirect(_board_url(participant.atelier, f"imp-{impossible.pk}"))
    context = {"atelier": participant.atelier, "participant": participant, "impossible": impossible, "form": form}
    status = answers.UNPROCESSABLE if form.errors else 200
    template = "boards/offer.html#offer_form" if request.htmx else "boards/offer.html"
    return render(request, template, context, status=status)


@require_GET
@participant_required
def impossible_detail(request: HttpRequest, participant: Participant, impossible_id: int) -> HttpResponse:
    impossible = _visible_impossible_or_404(participant, impossible_id)
    is_author = impossible.author_id == participant.pk
    context = {
        "atelier": participant.atelier,
        "participant": participant,
        "impossible": impossible,
        # Contacts in offers are for the author's eyes only.
        "is_author": is_author,
        "author_can_plan": is_author and plan.refusal(plan.Actor.author(participant), participant.atelier) is None,
        "my_me_toos": {impossible.pk}
        if MeToo.objects.filter(participant=participant, impossible=impossible).exists()
        else set(),
    }
    return render(request, "boards/impossible.html", context)
