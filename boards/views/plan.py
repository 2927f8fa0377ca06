"""The local action plan: the facilitators' plan page, its exports and links,
the public read-only plan, and each pilot's follow-up page.

Every page is rendered in the atelier's language and time zone, whoever
opens it, like the exports: a plan is one document. The public link and the
follow-up links need no account; the token in the URL is checked first by
every view (and at every download), so a revoked, renewed or expired link
is a 404 at once, saying « Ce lien ne fonctionne plus ». Writes go through
`boards.services.plan`.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Count, Max
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from boards import exporters, qr
from boards.access import facilitator_required, pilot_link_required, shared_plan_required
from boards.models import NEXT_STEP_MAX, ActionChange, Atelier, Pilot
from boards.observatoire import reads as observatoire_reads
from boards.plan_document import ActionRow, Plan, action_history, build_plan
from boards.services import plan
from boards.services.core import NotFound, Refused
from boards.views import answers

if TYPE_CHECKING:
    from django.http import HttpRequest

# The public page is open on many phones at once, each fetching its panels
# after every change: they are rendered once per version and shared. Short,
# because a few figures (participants joining) change without a new version.
SHARED_PANELS_SECONDS = 60
NOINDEX = "noindex, nofollow"
# « Où en est-on ? » lists this many open actions of earlier ateliers at most.
NEARBY_MAX = 50


# --- Access: the link in the URL, checked first ------------------------------------------


# --- What the pages show -------------------------------------------------------------------


def _plan_context(plan: Plan) -> dict[str, Any]:
    history = action_history([row.id for row in plan.actions])
    return {
        "atelier": plan.atelier,
        "version": plan.atelier.version,
        "plan": plan,
        "groups": [(group, [(row, history[row.id]) for row in group.actions]) for group in plan.groups],
        "status_counts": [(value, label, plan.figures.by_status[value]) for value, label in plan.statuses],
        "exporters": exporters.all_exporters(),
    }


def _facilitator_context(request: HttpRequest, atelier: Atelier) -> dict[str, Any]:
    context = _plan_context(build_plan(atelier, include_contacts=True))
    atelier = context["atelier"]
    pilots = sorted(
        Pilot.objects.filter(atelier=atelier)
        .select_related("participant", "atelier")
        .annotate(n_actions=Count("actions"), latest_due=Max("actions__due_on")),
        key=lambda pilot: (pilot.display_name.casefold(), pilot.pk),
    )
    today = timezone.localdate(timezone=zoneinfo.ZoneInfo(atelier.time_zone))
    for pilot in pilots:
        pilot.url = qr.absolute_url(request, reverse("boards:follow_up", args=[pilot.token]))
        pilot.expires_on = pilot.link_expires_on(pilot.latest_due)
        pilot.expired = pilot.expires_on is not None and today > pilot.expires_on
    share_url = (
        qr.absolute_url(request, reverse("boards:shared_plan", args=[atelier.share_token]))
        if atelier.share_token
        else ""
    )
    context.update(
        facilitator=True,
        pilots=pilots,
        share_url=share_url,
        share_qr=qr.qr_svg(share_url) if share_url else "",
    )
    return context


@require_GET
@never_cache
@facilitator_required
def plan_page(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    context = _facilitator_context(request, atelier)
    # Read once with the page, not with every live refresh of the panels.
    context["comparison"] = observatoire_reads.compare(atelier)
    scope = request.GET.get("scope", "departement")
    scope = scope if scope in observatoire_reads.SCOPES else "departement"
    context["follow_up_scope"] = scope
    context["nearby_actions"] = list(observatoire_reads.open_actions_nearby(atelier, request.user, scope)[:NEARBY_MAX])
    context["can_import"] = plan.refusal(plan.Actor.facilitator(request.user), atelier) is None
    return render(request, "boards/plan/page.html", context)


@require_POST
@facilitator_required
def import_actions(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    """« Où en est-on ? »: carry the chosen open actions of earlier ateliers on."""
    ids = [value for value in request.POST.getlist("actions") if value.isdigit()]
    try:
        imported = plan.import_open_actions(
            atelier.pk, ids, actor=plan.Actor.facilitator(request.user), user=request.user
        )
    except Refused as refusal:
        messages.error(request, " ".join(refusal.messages))
        return redirect("boards:plan", code=atelier.code)
    count = len(imported)
    messages.success(
        request,
        ngettext("%(count)s action reprise dans ce plan.", "%(count)s actions reprises dans ce plan.", count)
        % {"count": count},
    )
    return redirect("boards:plan", code=atelier.code)


@require_GET
@never_cache
@facilitator_required
def plan_panels(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    return render(request, "boards/plan/page.html#panels", _facilitator_context(request, atelier))


# --- Exports ---------------------------------------------------------------------------------


def _export(atelier: Atelier, identifier: str, *, include_contacts: bool) -> HttpResponse:
    if exporters.get(identifier) is None:
        raise Http404
    filename, content_type, content = exporters.export(atelier, identifier, include_contacts=include_contacts)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    # Contacts (facilitators' exports) and unlisted plans stay out of caches.
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = NOINDEX
    return response


@require_GET
@facilitator_required
def plan_export(request: HttpRequest, atelier: Atelier, format: str) -> HttpResponse:
    return _export(atelier, format, include_contacts=True)


@require_GET
@shared_plan_required
def shared_plan_export(request: HttpRequest, atelier: Atelier, format: str) -> HttpResponse:
    return _export(atelier, format, include_contacts=False)


# --- Facilitators' links: the public plan, pilots' follow-up ---------------------------------


def _plan_page(atelier: Atelier) -> str:
    return reverse("boards:plan", args=[atelier.code])


@require_POST
@facilitator_required
def plan_share(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    operation = request.POST.get("op", "")
    if operation == "publish":
        plan.publish_plan(atelier.pk)
        return answers.done(request, _plan_page(atelier), _("Le plan est publié : partagez son lien."))
    if operation == "revoke":
        plan.revoke_plan_link(atelier.pk)
        return answers.done(request, _plan_page(atelier), _("Lien public révoqué : il ne fonctionne plus."))
    return answers.refused(request, _plan_page(atelier), _("Action inconnue sur le lien public."))


@require_POST
@facilitator_required
def renew_pilot_link(request: HttpRequest, atelier: Atelier, pilot_id: int) -> HttpResponse:
    try:
        pilot = plan.renew_pilot_link(atelier.pk, pilot_id)
    except NotFound:
        raise Http404 from None
    message = _("Nouveau lien de suivi pour %(name)s : l'ancien ne fonctionne plus.") % {"name": pilot.display_name}
    return answers.done(request, _plan_page(atelier), message)


# --- The public plan ---------------------------------------------------------------------------


def _shared_panels(atelier: Atelier, token: str) -> SafeString:
    """The public plan's panels, as every phone holding the link gets them."""
    today = timezone.localdate(timezone=zoneinfo.ZoneInfo(atelier.time_zone))
    # The token is in the key: a link revoked and published again starts afresh.
    key = f"shared-plan:{token}:{atelier.version}:{atelier.language}:{today.isoformat()}"
    html = cache.get(key)
    if html is None:
        context = _plan_context(build_plan(atelier, include_contacts=False))
        html = render_to_string("boards/plan/shared.html#panels", {**context, "token": token})
        cache.set(key, str(html), SHARED_PANELS_SECONDS)
    # Rendered by our own template, escaped there.
    return mark_safe(html)


@require_GET
@never_cache
@shared_plan_required
def shared_plan(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    token = atelier.share_token
    context = {
        "atelier": atelier,
        "version": atelier.version,
        "token": token,
        "panels_html": _shared_panels(atelier, token),
        "page_url": qr.absolute_url(request, reverse("boards:shared_plan", args=[token])),
    }
    return render(request, "boards/plan/shared.html", context)


@require_GET
@never_cache
@shared_plan_required
def shared_plan_panels(request: HttpRequest, atelier: Atelier) -> HttpResponse:
    return HttpResponse(_shared_panels(atelier, atelier.share_token))


# --- A pilot's follow-up -------------------------------------------------------------------------


@dataclass
class FollowUpEntry:
    """One of the pilot's actions and its form, as shown or as just submitted."""

    action: ActionRow
    changes: list[ActionChange]
    status: str
    next_step: str
    errors: dict[str, list[str]] = field(default_factory=dict)
    saved: bool = False


def _follow_up_context(pilot: Pilot) -> dict[str, Any]:
    # The room matched these helpers with this pilot so that they get in
    # touch: the contacts of those who agreed to show them to pilots (the
    # link needs no account and can be forwarded). Only the helpers of the
    # pilot's own actions are shown, never the other offers.
    plan = build_plan(pilot.atelier, include_contacts=True, for_pilot=True)
    rows = [row for row in plan.actions if row.pilot_id == pilot.pk]
    history = action_history([row.id for row in rows])
    entries = [FollowUpEntry(row, history[row.id], row.status, row.next_step) for row in rows]
    return {
        "atelier": plan.atelier,
        "version": plan.atelier.version,
        "plan": plan,
        "pilot": pilot,
        "token": pilot.token,
        "entries": entries,
        "next_step_max": NEXT_STEP_MAX,
    }


def _entry_or_404(context: dict[str, Any], action_id: int) -> FollowUpEntry:
    for entry in context["entries"]:
        if entry.action.id == action_id:
            return entry
    raise Http404


@require_GET
@never_cache
@pilot_link_required
def follow_up(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    return render(request, "boards/plan/follow_up.html", _follow_up_context(pilot))


@require_GET
@never_cache
@pilot_link_required
def follow_up_panels(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    return render(request, "boards/plan/follow_up.html#panels", _follow_up_context(pilot))


def _follow_up_refused(request: HttpRequest, pilot: Pilot, action_id: int, error: ValidationError) -> HttpResponse:
    """The form again, with what the pilot typed and why it was refused."""
    context = _follow_up_context(pilot)
    entry = _entry_or_404(context, action_id)
    entry.status = request.POST.get("status", "")
    entry.next_step = request.POST.get("next_step", "")
    fields = error.message_dict if hasattr(error, "error_dict") else {"form": error.messages}
    for name, errors in fields.items():
        entry.errors.setdefault(name if name in ("status", "next_step") else "form", []).extend(errors)
    template = "boards/plan/follow_up.html#action" if request.htmx else "boards/plan/follow_up.html"
    return render(request, template, {**context, "entry": entry, "fresh": True}, status=answers.UNPROCESSABLE)


@require_POST
@never_cache
@pilot_link_required
def follow_up_action(request: HttpRequest, pilot: Pilot, action_id: int) -> HttpResponse:
    status, next_step = request.POST.get("status", ""), request.POST.get("next_step", "")
    try:
        action = plan.follow_up(pilot, action_id, status=status, next_step=next_step)
    except NotFound:
        raise Http404 from None
    except ValidationError as error:
        return _follow_up_refused(request, pilot, action_id, error)
    if not request.htmx:
        messages.success(request, _("Enregistré : « %(title)s ».") % {"title": action.title})
        return redirect(reverse("boards:follow_up", args=[pilot.token]) + f"#fu-action-{action_id}")
    context = _follow_up_context(pilot)
    entry = _entry_or_404(context, action_id)
    entry.saved = True
    return render(request, "boards/plan/follow_up.html#action", {**context, "entry": entry, "fresh": True})


@require_POST
@never_cache
@pilot_link_required
def follow_up_consent(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """The pilot agrees (or no longer agrees) to show their organisation in
    the observatoire's « levé ailleurs »."""
    plan.set_show_organisation(pilot, show=request.POST.get("show") == "1")
    if not request.htmx:
        messages.success(request, _("Enregistré."))
        return redirect(reverse("boards:follow_up", args=[pilot.token]) + "#fu-consent")
    context = {"pilot": pilot, "token": pilot.token, "consent_saved": True}
    return render(request, "boards/plan/follow_up.html#consent", context)
