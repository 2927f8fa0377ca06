"""Facilitators' pages: their ateliers, the console, the projector, the poster.

Every view is guarded by `facilitator_required` (or `login_required` for the
facilitator's home). Actions are POSTs that call `boards.services.facilitation`;
htmx gets 204 and the console refreshes from the WebSocket push.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from boards import qr, reads
from boards.access import facilitator_required
from boards.forms import AtelierForm, EditImpossibleForm, TeamForm, TimerForm
from boards.live import presence
from boards.locale import atelier_locale
from boards.models import ActionStatus, Atelier, HelpOffer, Impossible, Participant, PlanAction, Presence
from boards.phases import PLANNING_PHASES, Phase
from boards.services import facilitation
from boards.services.core import NotFound
from boards.similarity import engine
from boards.views import answers

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.http import HttpRequest

RANKING_SIZE = 8
# What fits on a projector read from the back of the room.
PLAN_ROWS = 7


def _count(model, **filters) -> Subquery:
    rows = model.objects.filter(atelier=OuterRef("pk"), **filters).values("atelier")
    return Subquery(rows.annotate(n=Count("pk")).values("n"), output_field=IntegerField())


@require_GET
@login_required
def facilitator_home(request: HttpRequest) -> HttpResponse:
    visible_actions = {"impossible__hidden": False, "impossible__pending": False}
    open_statuses = [ActionStatus.TODO, ActionStatus.IN_PROGRESS]
    ateliers = request.user.facilitated_ateliers.annotate(
        n_participants=_count(Participant),
        n_impossibles=_count(Impossible, hidden=False, pending=False),
        n_actions=_count(PlanAction, **visible_actions),
        n_done=_count(PlanAction, status=ActionStatus.DONE, **visible_actions),
        n_in_progress=_count(PlanAction, status=ActionStatus.IN_PROGRESS, **visible_actions),
        # Overdue where the atelier is: close enough to "today" for a count.
        n_overdue=_count(PlanAction, status__in=open_statuses, due_on__lt=timezone.localdate(), **visible_actions),
    ).order_by("-starts_at", "-id")
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    upcoming = sorted(
        (a for a in ateliers if a.starts_at is None or a.starts_at >= today),
        # Soonest first; ateliers without a date yet come last.
        key=lambda a: (a.starts_at is None, a.starts_at or today),
    )
    past = [a for a in ateliers if a.starts_at is not None and a.starts_at < today]
    context = {"upcoming": upcoming, "past": past, "invitations": facilitation.invitations_for(request.user)}
    return render(request, "boards/facilitate/home.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def atelier_create(request: HttpRequest) -> HttpResponse:
    form = AtelierForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            atelier = facilitation.create_atelier(request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request, _("Atelier créé. Partagez le code %(code)s avec la salle.") % {"code": atelier.code}
            )
            return redirect("boards:console", code=atelier.code)
    status = answers.UNPROCESSABLE if form.errors else 200
    return render(request, "boards/facilitate/atelier_form.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
@facilitator_required
def atelier_settings(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    form = AtelierForm(request.POST if request.method == "POST" else None, instance=atelier)
    if request.method == "POST" and form.is_valid():
        try:
            facilitation.update_atelier(atelier, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Atelier enregistré."))
            return redirect("boards:console", code=atelier.code)
    atelier.refresh_from_db()
    context = {
        "atelier": atelier,
        "form": form,
        "team_form": TeamForm(),
        "team": [(member, facilitation.member_label(member)) for member in atelier.facilitators.order_by("pk")],
        "invitations": atelier.invitations.all(),
    }
    return render(
        request, "boards/facilitate/atelier_form.html", context, status=answers.UNPROCESSABLE if form.errors else 200
    )


@require_POST
@facilitator_required
def team(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    form = TeamForm(request.POST)
    try:
        if "remove" in request.POST:
            remove = request.POST.get("remove", "")
            # A forged, non-numeric id is a 404 like any unknown one, not a 500.
            # isdigit() alone lets "²" through, which int() refuses.
            is_id = remove.isascii() and remove.isdigit()
            user = User.objects.filter(pk=remove, facilitated_ateliers=atelier).first() if is_id else None
            if user is None:
                raise Http404
            facilitation.remove_facilitator(atelier, user)
            name = facilitation.member_label(user)
            messages.success(request, _("%(name)s ne fait plus partie de l'animation.") % {"name": name})
        elif "cancel" in request.POST:
            try:
                facilitation.cancel_invitation(atelier, request.POST.get("cancel"))
            except NotFound:
                raise Http404 from None
            messages.success(request, _("Invitation retirée."))
        elif form.is_valid():
            invitation = facilitation.invite_facilitator(atelier, form.cleaned_data["who"], by=request.user)
            messages.success(
                request,
                _(
                    "Invitation enregistrée pour « %(who)s ». Si un compte d'animation correspond, cette personne "
                    "la trouvera dans « Mes ateliers » et pourra l'accepter."
                )
                % {"who": invitation.who},
            )
        else:
            messages.error(request, " ".join(error for errors in form.errors.values() for error in errors))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("boards:atelier_settings", code=atelier.code)


@require_POST
@login_required
def answer_invitation(request: HttpRequest, invitation_id: int) -> HttpResponse:
    accept = request.POST.get("op") == "accept"
    try:
        atelier = facilitation.answer_invitation(request.user, invitation_id, accept=accept)
    except NotFound:
        raise Http404 from None
    if accept:
        messages.success(request, _("Vous co-animez maintenant « %(title)s ».") % {"title": atelier.title})
    else:
        messages.success(request, _("Invitation refusée."))
    return redirect("boards:facilitator_home")


@require_http_methods(["GET", "POST"])
@facilitator_required
def atelier_delete(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    if request.method == "POST":
        if request.POST.get("confirm", "").strip().upper() != atelier.code:
            messages.error(request, _("Recopiez le code de l'atelier pour confirmer la suppression."))
            return redirect("boards:atelier_delete", code=atelier.code)
        title = atelier.title
        facilitation.delete_atelier(atelier)
        messages.success(request, _("« %(title)s » et tout son contenu sont supprimés.") % {"title": title})
        return redirect("boards:facilitator_home")
    counts = {
        "participants": atelier.participants.count(),
        "impossibles": atelier.impossibles.count(),
        "offers": HelpOffer.objects.filter(impossible__atelier=atelier).count(),
    }
    return render(request, "boards/facilitate/delete.html", {"atelier": atelier, "counts": counts})


# --- Console -----------------------------------------------------------------------


def _console_context(request: HttpRequest, atelier: Atelier) -> dict[str, Any]:
    atelier = Atelier.objects.select_related("spotlight").get(pk=atelier.pk)
    impossibles = list(
        reads.order_impossibles(
            Impossible.objects.filter(atelier=atelier, merged_into__isnull=True)
            .select_related("author")
            .prefetch_related("offers__author", "precisions__author", reads.plan_actions()),
            "top",
        )
    )
    since = timezone.now() - presence.STALE_AFTER
    present_ids = set(
        Presence.objects.filter(atelier=atelier, seen_at__gte=since).values_list("participant_id", flat=True)
    )
    published = [i for i in impossibles if not i.pending and not i.hidden]
    participants = list(atelier.participants.order_by("name"))
    for participant in participants:
        participant.online = participant.pk in present_ids
    return {
        "atelier": atelier,
        "version": atelier.version,
        "phases": Phase.choices,
        "planning": atelier.phase in PLANNING_PHASES,
        "pending": [i for i in impossibles if i.pending and not i.hidden],
        "published": published,
        "duplicates": _likely_duplicates(atelier, published),
        "hidden": [i for i in impossibles if i.hidden],
        "participants": participants,
        "online": len(present_ids),
        "stats": reads.load_stats(atelier.pk),
        "join_url": qr.join_url(request, atelier),
        "invitation_url": qr.invitation_url(request, atelier),
    }


@dataclass(frozen=True)
class Duplicate:
    """A pair of « Doublons probables » as the console shows it: « Fusionner »
    keeps the one with more « moi aussi » (the older one on a tie)."""

    kept: Impossible
    merged: Impossible
    score: float


# The console shows this many pairs at most, best first.
DUPLICATES_SHOWN = 20


def _likely_duplicates(atelier: Atelier, published: list[Impossible]) -> list[Duplicate]:
    by_id = {impossible.pk: impossible for impossible in published}
    shown = []
    for pair in engine.likely_duplicates(atelier, limit=DUPLICATES_SHOWN):
        first, second = by_id.get(pair.first_id), by_id.get(pair.second_id)
        if first is None or second is None:
            continue  # changed since: the next refresh says
        kept, merged = (second, first) if second.me_too_count > first.me_too_count else (first, second)
        shown.append(Duplicate(kept=kept, merged=merged, score=pair.score))
    return shown


@require_GET
@facilitator_required
def console(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    context = _console_context(request, atelier)
    context.update(timer_form=TimerForm(), qr_svg=qr.join_qr_svg(request, atelier))
    return render(request, "boards/facilitate/console.html", context)


@require_GET
@facilitator_required
def console_panels(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    return render(request, "boards/facilitate/console.html#panels", _console_context(request, atelier))


def _console(atelier: Atelier) -> str:
    return reverse("boards:console", args=[atelier.code])


def _refused(request: HttpRequest, atelier: Atelier, error: ValidationError) -> HttpResponse:
    return answers.refused(request, _console(atelier), " ".join(error.messages))


def _act(request: HttpRequest, atelier: Atelier, action: Callable[..., Any], *args: Any, **kwargs: Any) -> HttpResponse:
    try:
        action(*args, **kwargs)
    except NotFound:
        raise Http404 from None
    except ValidationError as error:
        return _refused(request, atelier, error)
    return answers.done(request, _console(atelier))


@require_POST
@facilitator_required
def set_phase(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    return _act(request, atelier, facilitation.set_phase, atelier.pk, request.POST.get("phase", ""))


@require_POST
@facilitator_required
def set_lock(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    return _act(request, atelier, facilitation.set_locked, atelier.pk, request.POST.get("locked") == "1")


@require_POST
@facilitator_required
def set_premoderation(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    return _act(request, atelier, facilitation.set_premoderation, atelier.pk, request.POST.get("on") == "1")


@require_POST
@facilitator_required
def set_authors_can_plan(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    return _act(request, atelier, facilitation.set_authors_can_plan, atelier.pk, request.POST.get("on") == "1")


@require_POST
@facilitator_required
def timer(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    operation = request.POST.get("op", "")
    if operation == "start":
        form = TimerForm(request.POST)
        if not form.is_valid():
            return _refused(request, atelier, ValidationError(next(iter(form.errors.values()))))
        return _act(
            request,
            atelier,
            facilitation.start_timer,
            atelier.pk,
            minutes=form.cleaned_data["minutes"],
            label=form.cleaned_data["label"],
        )
    operations = {
        "pause": facilitation.pause_timer,
        "resume": facilitation.resume_timer,
        "stop": facilitation.stop_timer,
    }
    if operation not in operations:
        return _refused(request, atelier, ValidationError(_("Action du minuteur inconnue.")))
    return _act(request, atelier, operations[operation], atelier.pk)


@require_POST
@facilitator_required
def spotlight(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    raw = request.POST.get("impossible", "")
    impossible_id = int(raw) if raw.isascii() and raw.isdigit() else None
    if raw and impossible_id is None:
        raise Http404
    return _act(request, atelier, facilitation.set_spotlight, atelier.pk, impossible_id)


@require_POST
@facilitator_required
def moderate_impossible(request: HttpRequest, atelier: Atelier, impossible_id: int) -> HttpResponse:
    operation = request.POST.get("op", "")
    if operation == "approve":
        return _act(request, atelier, facilitation.approve_impossible, atelier.pk, impossible_id)
    if operation in {"hide", "restore"}:
        hidden = operation == "hide"
        return _act(request, atelier, facilitation.set_impossible_hidden, atelier.pk, impossible_id, hidden=hidden)
    return _refused(request, atelier, ValidationError(_("Action de modération inconnue.")))


@require_POST
@facilitator_required
def moderate_offer(request: HttpRequest, atelier: Atelier, offer_id: int) -> HttpResponse:
    operation = request.POST.get("op", "")
    if operation not in {"hide", "restore"}:
        return _refused(request, atelier, ValidationError(_("Action de modération inconnue.")))
    return _act(request, atelier, facilitation.set_offer_hidden, atelier.pk, offer_id, hidden=operation == "hide")


@require_POST
@facilitator_required
def moderate_precision(request: HttpRequest, atelier: Atelier, precision_id: int) -> HttpResponse:
    operation = request.POST.get("op", "")
    if operation not in {"hide", "restore"}:
        return _refused(request, atelier, ValidationError(_("Action de modération inconnue.")))
    hidden = operation == "hide"
    return _act(request, atelier, facilitation.set_precision_hidden, atelier.pk, precision_id, hidden=hidden)


def _pair(request: HttpRequest, first: str, second: str) -> tuple[int, int]:
    try:
        return int(request.POST.get(first, "")), int(request.POST.get(second, ""))
    except ValueError:
        raise Http404 from None


@require_POST
@facilitator_required
def merge_duplicate(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    """« Fusionner » in « Doublons probables »: the exact merge, as from the merge page."""
    kept_id, merged_id = _pair(request, "kept", "merged")
    return _act(request, atelier, facilitation.merge_impossibles, atelier.pk, kept_id, merged_id)


@require_POST
@facilitator_required
def dismiss_duplicate(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    """« Pas un doublon »: the pair is never proposed again."""
    first_id, second_id = _pair(request, "first", "second")
    return _act(request, atelier, facilitation.dismiss_duplicate, atelier.pk, first_id, second_id, user=request.user)


def _impossible_or_404(atelier: Atelier, impossible_id: int) -> Impossible:
    impossible = Impossible.objects.filter(pk=impossible_id, atelier=atelier, merged_into__isnull=True).first()
    if impossible is None:
        raise Http404
    return impossible


@require_http_methods(["GET", "POST"])
@facilitator_required
def edit_impossible(request: HttpRequest, atelier: Atelier, impossible_id: int) -> HttpResponse:
    impossible = _impossible_or_404(atelier, impossible_id)
    form = EditImpossibleForm(
        request.POST if request.method == "POST" else None,
        instance=impossible,
        categories=atelier.offered_categories(),
    )
    if request.method == "POST" and form.is_valid():
        try:
            facilitation.edit_impossible(atelier.pk, impossible.pk, **form.cleaned_data)
        except NotFound:
            raise Http404 from None
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Impossible corrigé."))
            return redirect("boards:console", code=atelier.code)
    context = {"atelier": atelier, "impossible": impossible, "form": form}
    return render(request, "boards/facilitate/edit.html", context, status=answers.UNPROCESSABLE if form.errors else 200)


@require_http_methods(["GET", "POST"])
@facilitator_required
def merge_impossible(request: HttpRequest, atelier: Atelier, impossible_id: int) -> HttpResponse:
    """Fold this impossible (a duplicate) into another one, chosen on the page."""
    duplicate = Impossible.objects.filter(pk=impossible_id, atelier=atelier).first()
    if duplicate is None:
        raise Http404
    # A repeated POST (double click) finds the duplicate already merged: the
    # service answers "done" for the same target (404 for any other), so only
    # the page of a merged duplicate is gone.
    if request.method == "POST":
        try:
            kept_id = int(request.POST.get("into", ""))
        except ValueError:
            kept_id = None
        if kept_id is None:
            messages.error(request, _("Choisissez l'impossible à garder."))
        else:
            try:
                facilitation.merge_impossibles(atelier.pk, kept_id, duplicate.pk)
            except NotFound:
                raise Http404 from None
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                messages.success(request, _("Doublon fusionné : ses « moi aussi » et ses offres ont rejoint l'autre."))
                return redirect("boards:console", code=atelier.code)
    if duplicate.merged_into_id is not None:
        raise Http404
    candidates = (
        Impossible.objects.visible()
        .filter(atelier=atelier)
        .exclude(pk=duplicate.pk)
        .order_by(
            # Same category first: duplicates usually share one.
            "-me_too_count",
        )
    )
    same = [i for i in candidates if i.category == duplicate.category]
    others = [i for i in candidates if i.category != duplicate.category]
    context = {"atelier": atelier, "duplicate": duplicate, "same": same, "others": others}
    return render(request, "boards/facilitate/merge.html", context)


@require_POST
@facilitator_required
def regenerate_code(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    code = facilitation.regenerate_code(atelier)
    messages.success(request, _("Nouveau code : %(code)s. L'ancien ne fonctionne plus.") % {"code": code})
    return redirect("boards:console", code=code)


# --- Projector and poster ------------------------------------------------------------


def _projector_context(request: HttpRequest, atelier: Atelier) -> dict[str, Any]:
    atelier = Atelier.objects.select_related("spotlight").get(pk=atelier.pk)
    visible = reads.impossibles_queryset(atelier.pk)
    spotlight = visible.filter(pk=atelier.spotlight_id).first() if atelier.spotlight_id else None
    planning = atelier.phase in PLANNING_PHASES
    plan_rows = (
        list(
            PlanAction.objects.filter(atelier=atelier, impossible__hidden=False, impossible__pending=False)
            .select_related("pilot__participant")
            .order_by("-impossible__me_too_count", "impossible_id", "created_at")[:PLAN_ROWS]
        )
        if planning
        else []
    )
    stats = reads.load_stats(atelier.pk)
    # What the room should look at next: shared impossibles nobody offered
    # help on, or, while planning, that have no action yet.
    waiting = Impossible.objects.visible().filter(atelier=atelier, me_too_count__gt=0)
    waiting = waiting.filter(actions__isnull=True) if planning else waiting.filter(offer_count=0)
    return {
        "planning": planning,
        "plan_rows": plan_rows,
        "plan_more": max(0, stats.actions - len(plan_rows)),
        "atelier": atelier,
        "version": atelier.version,
        "ranking": list(reads.order_impossibles(visible, "top")[:RANKING_SIZE]),
        "unhelped": list(waiting.order_by("-me_too_count", "-created_at")[:3]),
        "spotlight": spotlight,
        "stats": stats,
        "online": presence.online_count(atelier.pk),
        "join_open": atelier.phase != Phase.CLOSED,
        "join_url": qr.join_url(request, atelier),
        "qr_svg": qr.join_qr_svg(request, atelier),
    }


@require_GET
@facilitator_required
def projector(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    with atelier_locale(atelier):
        return render(request, "boards/facilitate/projector.html", _projector_context(request, atelier))


@require_GET
@facilitator_required
def projector_panels(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    with atelier_locale(atelier):
        return render(request, "boards/facilitate/projector.html#panels", _projector_context(request, atelier))


@require_GET
@facilitator_required
def poster(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    context = {
        "atelier": atelier,
        "join_url": qr.join_url(request, atelier),
        "qr_svg": qr.join_qr_svg(request, atelier),
    }
    with atelier_locale(atelier):
        return render(request, "boards/facilitate/poster.html", context)
