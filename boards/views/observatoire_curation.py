"""The observatoire team's theme curation: accept, rename, merge, split,
detach. Every view is guarded by `curator_required` (403 for anyone
without the « observatoire » role) and writes through
`boards.services.observatoire`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from boards import territories
from boards.access import curator_required
from boards.forms import ThemeMergeForm, ThemeNameForm, ThemeSplitForm
from boards.models import Theme
from boards.observatoire import themes
from boards.services import observatoire
from boards.views import answers

if TYPE_CHECKING:
    from django.forms import Form
    from django.http import HttpRequest, HttpResponse


@require_GET
@curator_required
def theme_list(request: HttpRequest) -> HttpResponse:
    listed = Theme.objects.annotate(
        n_impossibles=Count("impossibles", distinct=True),
        n_ateliers=Count("impossibles__atelier", distinct=True),
    ).order_by("-status", "-n_ateliers", "name", "pk")
    return render(request, "boards/observatoire/curation.html", {"themes": listed})


def _render_theme(request: HttpRequest, theme: Theme, status: int = 200, **forms: Form) -> HttpResponse:
    # What the observatoire counts: not what a facilitator hid or merged away since.
    members = list(
        themes.counted().filter(theme=theme).select_related("atelier").order_by("atelier__departement_code", "pk")
    )
    for member in members:
        departement = territories.departement(member.atelier.departement_code)
        member.departement_name = departement.name if departement else ""
    context = {
        "theme": theme,
        "members": members,
        "rename_form": forms.get("rename_form") or ThemeNameForm(initial={"name": theme.name}),
        "merge_form": forms.get("merge_form") or ThemeMergeForm(theme=theme),
        "split_form": forms.get("split_form") or ThemeSplitForm(theme=theme),
    }
    return render(request, "boards/observatoire/curation_theme.html", context, status=status)


@require_GET
@curator_required
def theme_detail(request: HttpRequest, theme_id: int) -> HttpResponse:
    return _render_theme(request, get_object_or_404(Theme, pk=theme_id))


def _done(request: HttpRequest, theme: Theme, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("boards:curation_theme", theme_id=theme.pk)


def _invalid(request: HttpRequest, theme: Theme, name: str, form: Form, error: ValidationError | None = None):
    if error is not None:
        form.add_error(None, error.messages)
    return _render_theme(request, theme, answers.UNPROCESSABLE, **{name: form})


@require_POST
@curator_required
def theme_accept(request: HttpRequest, theme_id: int) -> HttpResponse:
    theme = observatoire.accept(get_object_or_404(Theme, pk=theme_id))
    return _done(request, theme, _("Thème accepté : il apparaît dans l'observatoire public au prochain calcul."))


@require_POST
@curator_required
def theme_rename(request: HttpRequest, theme_id: int) -> HttpResponse:
    theme = get_object_or_404(Theme, pk=theme_id)
    form = ThemeNameForm(request.POST)
    if not form.is_valid():
        return _invalid(request, theme, "rename_form", form)
    try:
        observatoire.rename(theme, form.cleaned_data["name"])
    except ValidationError as error:
        return _invalid(request, theme, "rename_form", form, error)
    return _done(request, theme, _("Thème renommé."))


@require_POST
@curator_required
def theme_merge(request: HttpRequest, theme_id: int) -> HttpResponse:
    theme = get_object_or_404(Theme, pk=theme_id)
    form = ThemeMergeForm(request.POST, theme=theme)
    if not form.is_valid():
        return _invalid(request, theme, "merge_form", form)
    target = observatoire.merge(theme, form.cleaned_data["target"])
    return _done(request, target, _("Thèmes fusionnés."))


@require_POST
@curator_required
def theme_split(request: HttpRequest, theme_id: int) -> HttpResponse:
    theme = get_object_or_404(Theme, pk=theme_id)
    form = ThemeSplitForm(request.POST, theme=theme)
    if not form.is_valid():
        return _invalid(request, theme, "split_form", form)
    chosen = [impossible.pk for impossible in form.cleaned_data["impossibles"]]
    try:
        new = observatoire.split(theme, chosen, form.cleaned_data["name"])
    except ValidationError as error:
        return _invalid(request, theme, "split_form", form, error)
    return _done(request, new, _("Nouveau thème créé avec les impossibles choisis."))


@require_POST
@curator_required
def theme_detach(request: HttpRequest, theme_id: int, impossible_id: int) -> HttpResponse:
    theme = get_object_or_404(Theme, pk=theme_id)
    if not observatoire.detach(theme, impossible_id):
        messages.error(request, _("Cet impossible n'est plus dans ce thème."))
        return redirect("boards:curation_theme", theme_id=theme.pk)
    return _done(request, theme, _("Impossible retiré du thème : les suggestions ne l'y remettront pas."))
