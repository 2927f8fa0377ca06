"""A participant's own data, from their phone: see it, take a copy, be forgotten."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from boards import access
from boards.access import participant_required
from boards.services import privacy

if TYPE_CHECKING:
    from django.http import HttpRequest

    from boards.models import Participant


@require_GET
@never_cache
@participant_required
def my_data(request: HttpRequest, participant: Participant) -> HttpResponse:
    context = {
        "atelier": participant.atelier,
        "participant": participant,
        "data": privacy.participant_data(participant),
        "retention_days": privacy.retention_days(),
    }
    return render(request, "boards/my_data.html", context)


@require_GET
@never_cache
@participant_required
def my_data_download(request: HttpRequest, participant: Participant) -> HttpResponse:
    data = privacy.participant_data(participant)
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json; charset=utf-8"
    )
    filename = f"mes-donnees-{participant.atelier.code.lower()}.json"
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["POST"])
@participant_required
def forget_me(request: HttpRequest, participant: Participant) -> HttpResponse:
    if request.POST.get("confirm") != "oui":
        messages.error(request, _("Cochez la case pour confirmer l'effacement."))
        return redirect("boards:my_data", code=participant.atelier.code)
    atelier = participant.atelier
    privacy.forget_participant(participant)
    access.forget_participant(request, atelier.pk)
    messages.success(
        request, _("Vos données sont effacées : votre nom et vos contacts n'apparaissent plus nulle part.")
    )
    return redirect("boards:home")
