"""The observatoire's public pages: national ranking of themes, map of
France by département, a page per région, département and theme. They read
the published figures only (`boards.observatoire.reads`), which passed the
statistical secrecy rules when they were computed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from boards import territories
from boards.forms import ObservatoireFilterForm
from boards.observatoire import charts, figures, opendata, reads
from boards.observatoire.models import Level, Theme
from boards.territories import maps

if TYPE_CHECKING:
    from django.http import HttpRequest


def _filters(request: HttpRequest, **fixed: str) -> tuple[ObservatoireFilterForm, reads.Filters]:
    form = ObservatoireFilterForm(request.GET or None, quarters=reads.quarters())
    values = form.values() if form.is_bound else {}
    return form, reads.Filters(**{**values, **fixed})


def _map(filters: reads.Filters) -> dict:
    values = reads.departement_values(filters)
    title = _("Impossibles comptés par département")
    return {
        "map_svg": maps.render_map(values, legend_title=title),
        "map_rows": maps.map_rows(values),
        "map_title": title,
        "map_attribution": maps.ATTRIBUTION,
    }


@require_GET
def observatoire(request: HttpRequest) -> HttpResponse:
    form, filters = _filters(request)
    context = {
        "form": form,
        "ranking": reads.ranking(filters),
        "totals": reads.totals(filters),
        "computed_at": reads.computed_at(),
        "regions": territories.regions(),
        **_map(filters),
    }
    return render(request, "boards/observatoire/index.html", context)


@require_GET
def territory(request: HttpRequest, level: str, code: str) -> HttpResponse:
    if level == Level.REGION:
        place = territories.region(code)
        fixed = {"region": place.code if place else "", "departement": ""}
    else:
        place = territories.departement(code)
        fixed = {"departement": place.code if place else ""}
    if place is None:
        raise Http404
    form, filters = _filters(request, **fixed)
    ranking = reads.ranking(filters)
    context = {
        "form": form,
        "level": level,
        "place": place,
        "ranking": ranking,
        "totals": reads.totals(filters),
        "computed_at": reads.computed_at(),
        "lifted": reads.done_elsewhere(
            [line.theme_id for line in ranking], region=fixed.get("region", ""), departement=fixed["departement"]
        ),
    }
    if level == Level.REGION:
        values = reads.departement_values(filters)
        context["departements"] = [
            (d, values.get(d.code)) for d in territories.departements() if d.region.code == place.code
        ]
    return render(request, "boards/observatoire/territory.html", context)


@require_GET
def theme(request: HttpRequest, slug: str) -> HttpResponse:
    theme = get_object_or_404(Theme, slug=slug, status=Theme.Status.ACCEPTED)
    trend = reads.trend(theme)
    if not trend:
        # No figure of it passed the secrecy rules: even its name would say
        # that some atelier somewhere raised it.
        raise Http404
    title = _("%(theme)s : impossibles comptés par trimestre") % {"theme": theme.name}
    trend = [(figures.quarter_label(quarter), line) for quarter, line in trend]
    context = {
        "theme": theme,
        "trend": trend,
        "trend_title": title,
        "trend_svg": charts.render_trend([(quarter, line.impossibles) for quarter, line in trend], title=title),
        "places": reads.places(theme),
        "lifted": reads.done_elsewhere([theme.pk]),
        "computed_at": reads.computed_at(),
    }
    return render(request, "boards/observatoire/theme.html", context)


@require_GET
def data(request: HttpRequest, format: str) -> HttpResponse:
    rows = opendata.rows()
    if format == "csv":
        response = HttpResponse(opendata.to_csv(rows), content_type="text/csv; charset=utf-8")
    else:
        schema_url = request.build_absolute_uri(reverse("boards:observatoire_schema"))
        body = opendata.to_json(rows, computed_at=reads.computed_at(), schema_url=schema_url)
        response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'inline; filename="observatoire-donnees.{format}"'
    response["Link"] = f'<{reverse("boards:observatoire_schema")}>; rel="describedby"'
    return response


@require_GET
def schema(request: HttpRequest) -> HttpResponse:
    return FileResponse(opendata.SCHEMA_PATH.open("rb"), content_type="application/json")
