"""A map of France by département, coloured on the server.

`render_map` colours the shipped outline (data/departements.svg) with a few
quantile classes of the given values and returns inline SVG: no JavaScript,
no style attribute (the page's Content-Security-Policy forbids them), only
SVG presentation attributes, and classes for a stylesheet to build on
(static/boards/map.css). `map_rows` gives the same data as rows for the
table a page shows next to it, which is what screen readers read: the
image itself has one accessible name.

Values are keyed by département code ("01" … "95", "2A", "2B", "971" …
"976"); codes that are not on the map (a collectivité d'outre-mer, "975")
are left out, and the classes are computed on the départements only.
"""

from __future__ import annotations

import textwrap
import threading
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from boards import territories

SVG_FILE = territories.DATA_DIR / "departements.svg"
# Natural Earth is in the public domain and asks for no credit: pages
# showing the map give one all the same.
ATTRIBUTION = gettext_lazy("Fond de carte : Natural Earth (domaine public)")
SVG_NS = "{http://www.w3.org/2000/svg}"

# ColorBrewer's YlGnBu sequences (Cynthia Brewer, colorbrewer2.org): one
# light-to-dark ramp, told apart by lightness, so by colour-blind readers
# too and in greyscale. Borders are dark grey, so the lightest class still
# stands out from the page.
PALETTES = {
    1: ["#41b6c4"],
    2: ["#a1dab4", "#225ea8"],
    3: ["#edf8b1", "#7fcdbb", "#2c7fb8"],
    4: ["#ffffcc", "#a1dab4", "#41b6c4", "#225ea8"],
    5: ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"],
}
MAX_CLASSES = len(PALETTES)
# No data: light grey hatched with a darker grey, unlike any class.
NO_DATA_FILL = "#e3e3e3"
NO_DATA_HATCH = "#8a8a8a"
BORDER = "#4d4d4d"
TEXT = "#1a1a1a"

LEGEND_LINE = 20
LEGEND_TITLE_CHARS = 64


@dataclass(frozen=True)
class MapClass:
    index: int  # 1 = lowest values
    low: int
    high: int
    colour: str
    label: str  # the range, in words: "12", "de 3 à 7"


@dataclass(frozen=True)
class MapRow:
    code: str
    name: str
    value: int | None
    text: str  # what is shown for the value: the label given, the number, or « sans donnée »
    map_class: MapClass | None  # None without data


@dataclass(frozen=True)
class _Outline:
    paths: dict[str, str]  # code -> path data
    insets: dict[str, tuple[float, float, float, float]]  # code -> x, y, width, height
    width: float
    height: float


_lock = threading.Lock()
_outline: _Outline | None = None


def _load() -> _Outline:
    global _outline
    if _outline is None:
        with _lock:
            if _outline is None:
                root = ET.parse(SVG_FILE).getroot()
                _x, _y, width, height = (float(v) for v in root.get("viewBox").split())
                paths = {p.get("data-code"): p.get("d") for p in root.iter(f"{SVG_NS}path")}
                insets = {
                    r.get("data-inset"): tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))
                    for r in root.iter(f"{SVG_NS}rect")
                }
                _outline = _Outline(paths, insets, width, height)
    return _outline


def _number(value: int) -> str:
    return number_format(value, force_grouping=True)


def classes(values: Mapping[str, int | None]) -> list[MapClass]:
    """Up to five classes of the départements' values, lowest first, each
    with the range of the values it holds.

    Quantiles, taken one class at a time on the values left, so that equal
    values never split and a crowd of equal values (many départements at 1)
    still leaves a class to each of the few other values."""
    codes = {d.code for d in territories.departements()}
    data = sorted(v for code, v in values.items() if code in codes and v is not None)
    slots = min(MAX_CLASSES, len(set(data)))
    groups = []
    while data:
        distinct = sorted(set(data))
        # This class's share of what is left, but leaving a value to each later class.
        upper = min(data[max(0, len(data) // slots - 1)], distinct[len(distinct) - slots])
        group = [v for v in data if v <= upper]
        groups.append(group)
        data = data[len(group) :]
        slots -= 1
    found = []
    for index, (group, colour) in enumerate(zip(groups, PALETTES.get(len(groups), []), strict=True), start=1):
        low, high = group[0], group[-1]
        label = (
            _number(low) if low == high else _("de %(low)s à %(high)s") % {"low": _number(low), "high": _number(high)}
        )
        found.append(MapClass(index, low, high, colour, label))
    return found


def _class_of(value: int | None, found: list[MapClass]) -> MapClass | None:
    if value is None:
        return None
    return next(c for c in found if c.low <= value <= c.high)


def map_rows(values: Mapping[str, int | None], *, labels: Mapping[str, str] | None = None) -> list[MapRow]:
    """The map's data as table rows, one per département, in code order."""
    found = classes(values)
    rows = []
    for departement in territories.departements():
        value = values.get(departement.code)
        if labels and departement.code in labels:
            text = labels[departement.code]
        else:
            text = _("sans donnée") if value is None else _number(value)
        rows.append(MapRow(departement.code, departement.name, value, text, _class_of(value, found)))
    return rows


def render_map(
    values: Mapping[str, int | None],
    *,
    legend_title: str,
    labels: Mapping[str, str] | None = None,
    id_prefix: str = "carte",
) -> SafeString:
    """Inline SVG of France by département coloured by class of `values`.

    `labels` replaces the number shown for a département (its tooltip and
    table cell), e.g. {"16": "12 impossibles dans 3 ateliers"}. `id_prefix`
    names the one id the SVG defines (its no-data hatching): give each map
    of a page its own."""
    outline = _load()
    rows = map_rows(values, labels=labels)
    found = classes(values)
    hatch = f"{id_prefix}-sans-donnee"
    no_data_fill = f"url(#{hatch})"

    departements = format_html_join(
        "\n",
        '<path class="map-departement {}" data-code="{}"{} fill="{}" d="{}"><title>{}</title></path>',
        (
            (
                f"map-class-{row.map_class.index}" if row.map_class else "map-no-data",
                row.code,
                format_html(' data-value="{}"', row.value) if row.value is not None else "",
                row.map_class.colour if row.map_class else no_data_fill,
                outline.paths[row.code],
                _("%(name)s (%(code)s) : %(value)s") % {"name": row.name, "code": row.code, "value": row.text},
            )
            for row in rows
        ),
    )
    names = {row.code: row.name for row in rows}
    insets = format_html_join(
        "\n",
        '<rect x="{}" y="{}" width="{}" height="{}"/>'
        '<text x="{}" y="{}" text-anchor="middle" stroke="none" fill="{}">{}</text>',
        (
            (x, y, width, height, round(x + width / 2, 1), round(y + height + 14, 1), TEXT, names[code])
            for code, (x, y, width, height) in outline.insets.items()
        ),
    )

    # The legend, below the insets: its title, then one line per class.
    top = outline.height + 4
    title_lines = textwrap.wrap(legend_title, LEGEND_TITLE_CHARS) or [""]
    legend = [
        format_html('<text x="20" y="{}" font-weight="bold">{}</text>', top + 16 + i * LEGEND_LINE, line)
        for i, line in enumerate(title_lines)
    ]
    entries = [(c.colour, c.label) for c in found]
    if any(row.value is None for row in rows):
        entries.append((no_data_fill, _("Sans donnée")))
    first = top + 16 + len(title_lines) * LEGEND_LINE
    for i, (fill, label) in enumerate(entries):
        y = first + i * LEGEND_LINE
        legend.append(
            format_html(
                '<rect x="20" y="{}" width="22" height="14" fill="{}" stroke="{}" stroke-width="0.6"/>'
                '<text x="50" y="{}">{}</text>',
                y - 11,
                fill,
                BORDER,
                y,
                label,
            )
        )
    height = first + len(entries) * LEGEND_LINE

    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="map" viewBox="0 0 {width} {height}" role="img"'
        ' aria-label="{name}">\n'
        '<defs><pattern id="{hatch}" width="5" height="5" patternUnits="userSpaceOnUse"'
        ' patternTransform="rotate(45)"><rect width="5" height="5" fill="{no_data}"/>'
        '<line x1="0" y1="0" x2="0" y2="5" stroke="{hatching}" stroke-width="1.5"/></pattern></defs>\n'
        '<g class="map-departements" stroke="{border}" stroke-width="0.4" stroke-linejoin="round"'
        ' fill-rule="evenodd">\n{departements}\n</g>\n'
        '<g class="map-insets" fill="none" stroke="{inset_border}" stroke-width="0.6" font-size="12">\n{insets}\n</g>\n'
        '<g class="map-legend" font-size="13" fill="{text}">\n{legend}\n</g>\n'
        "</svg>",
        width=_svg_number(outline.width),
        height=_svg_number(height),
        name=_("%(title)s : carte de France par département") % {"title": legend_title},
        hatch=hatch,
        no_data=NO_DATA_FILL,
        hatching=NO_DATA_HATCH,
        border=BORDER,
        departements=departements,
        inset_border=NO_DATA_HATCH,
        insets=insets,
        text=TEXT,
        legend=format_html_join("\n", "{}", ((piece,) for piece in legend)),
    )


def _svg_number(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")
