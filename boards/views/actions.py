"""Writing the plan: turn an impossible into actions, edit or remove them.

Facilitators do it from the console (`facilitator_*`); an impossible's
author does it from their phone when the facilitators allow it
(`author_*`). Both go through the same form page and the same services,
which decide on phase, lock and permission under the atelier's lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from boards.access import facilitator_required, participant_required
from boards.forms import ActionForm
from boards.models import HelpOffer, Impossible, PlanAction
from boards.plan_document import action_history
from boards.services import plan
from boards.services.core import NotFound
from boards.views import answers

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from boards.models import Atelier, Participant


def _impossible(atelier: Atelier, impossible_id: int) -> Impossible:
    impossible = Impossible.objects.filter(pk=impossible_id, atelier=atelier).select_related("merged_into").first()
    if impossible is None:
        raise Http404
    return impossible


def _action(atelier: Atelier, action_id: int) -> PlanAction:
    action = (
        PlanAction.objects.filter(pk=action_id, atelier=atelier)
        .select_related("impossible", "pilot__participant")
        .first()
    )
    if action is None:
        raise Http404
    return action


def _form(request: HttpRequest, atelier: Atelier, impossible: Impossible, **kwargs) -> ActionForm:
    offers = HelpOffer.objects.filter(impossible=impossible, hidden=False).select_related("author")
    return ActionForm(
        request.POST if request.method == "POST" else None,
        participants=atelier.participants.order_by("name"),
        offers=offers.order_by("created_at", "id"),
        **kwargs,
    )


def _next_url(request: HttpRequest, default: str) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    # A path of this site only: redirect() would take "plan" for a view name.
    if wanted.startswith("/") and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return default


def _save(request: HttpRequest, form: ActionForm, write) -> bool:
    """Run the service with the form's data; show its refusal on the form."""
    if not form.is_valid():
        return False
    try:
        write(form.action_fields())
    except NotFound:
        raise Http404 from None
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                target = field if field in form.fields else None
                if field == "pilot":
                    target = "pilot_name"
                form.add_error(target, errors)
        else:
            form.add_error(None, error)
        return False
    return True


def _render(request, atelier, impossible, form, *, actor, action=None, back_url, history=()) -> HttpResponse:
    unavailable = plan.refusal(actor, atelier)
    if unavailable is None and action is None and impossible.merged_into_id is not None:
        unavailable = _("Cet impossible a été fusionné dans « %(kept)s » : créez l'action sur celui-ci.") % {
            "kept": impossible.merged_into.statement
        }
    elif unavailable is None and action is None and (impossible.hidden or impossible.pending):
        unavailable = _("Cet impossible n'est pas sur le tableau (masqué ou en attente) : pas d'action.")
    context = {
        "atelier": atelier,
        "impossible": impossible,
        "form": form,
        "action": action,
        "back_url": back_url,
        "history": history,
        "unavailable": unavailable,
        "can_delete": action is not None and actor.kind == plan.By.FACILITATOR,
    }
    status = answers.UNPROCESSABLE if form.errors else 200
    return render(request, "boards/actions/form.html", context, status=status)


def _create(request: HttpRequest, atelier: Atelier, impossible_id: int, actor, back_url: str) -> HttpResponse:
    impossible = _impossible(atelier, impossible_id)
    # An author turning their own impossible into an action usually pilots it.
    initial = {"pilot_participant": actor.participant_id} if actor.participant_id else {}
    form = _form(request, atelier, impossible, initial=initial)
    if request.method == "POST":
        key = request.POST.get("submission_key", "")
        if _save(
            request,
            form,
            lambda fields: plan.create_action(atelier.pk, impossible.pk, actor=actor, submission_key=key, **fields),
        ):
            messages.success(request, _("Action ajoutée au plan."))
            return redirect(_next_url(request, back_url))
    return _render(request, atelier, impossible, form, actor=actor, back_url=back_url)


def _edit(request: HttpRequest, atelier: Atelier, action_id: int, actor, back_url: str) -> HttpResponse:
    action = _action(atelier, action_id)
    form = _form(request, atelier, action.impossible, initial=ActionForm.initial_for(action))
    form.fields["submission_key"].required = False
    if request.method == "POST" and _save(
        request, form, lambda fields: plan.update_action(atelier.pk, action.pk, actor=actor, **fields)
    ):
        messages.success(request, _("Action enregistrée."))
        return redirect(_next_url(request, back_url))
    history = action_history([action.pk])[action.pk]
    return _render(
        request, atelier, action.impossible, form, actor=actor, action=action, back_url=back_url, history=history
    )


# --- Facilitators ---------------------------------------------------------------------


def _console_url(atelier: Atelier) -> str:
    return reverse("boards:console", args=[atelier.code])


@require_http_methods(["GET", "POST"])
@facilitator_required
def facilitator_create(request: HttpRequest, atelier: Atelier, impossible_id: int) -> HttpResponse:
    actor = plan.Actor.facilitator(request.user)
    return _create(request, atelier, impossible_id, actor, _console_url(atelier))


@require_http_methods(["GET", "POST"])
@facilitator_required
def facilitator_edit(request: HttpRequest, atelier: Atelier, action_id: int) -> HttpResponse:
    actor = plan.Actor.facilitator(request.user)
    return _edit(request, atelier, action_id, actor, _console_url(atelier))


@require_POST
@facilitator_required
def facilitator_delete(request: HttpRequest, atelier: Atelier, action_id: int) -> HttpResponse:
    # Gone from this atelier is fine (a double click); another atelier's is not.
    if PlanAction.objects.filter(pk=action_id).exclude(atelier=atelier).exists():
        raise Http404
    try:
        plan.delete_action(atelier.pk, action_id, actor=plan.Actor.facilitator(request.user))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Action retirée du plan."))
    return redirect(_next_url(request, _console_url(atelier)))


# --- Authors, when the facilitators allow it -----------------------------------------


def _own_impossible(participant: Participant, impossible_id: int) -> None:
    if not Impossible.objects.filter(pk=impossible_id, author=participant).exists():
        raise Http404


@require_http_methods(["GET", "POST"])
@participant_required
def author_create(request: HttpRequest, participant: Participant, impossible_id: int) -> HttpResponse:
    _own_impossible(participant, impossible_id)
    atelier = participant.atelier
    back_url = reverse("boards:impossible", args=[atelier.code, impossible_id])
    return _create(request, atelier, impossible_id, plan.Actor.author(participant), back_url)


@require_http_methods(["GET", "POST"])
@participant_required
def author_edit(request: HttpRequest, participant: Participant, action_id: int) -> HttpResponse:
    atelier = participant.atelier
    action = _action(atelier, action_id)
    _own_impossible(participant, action.impossible_id)
    back_url = reverse("boards:impossible", args=[atelier.code, action.impossible_id])
    return _edit(request, atelier, action_id, plan.Actor.author(participant), back_url)
