"""A theme's trend over quarters as inline SVG, drawn on the server.

Bars, one per quarter, each with its value written above it and its
quarter below: the chart reads without colour (and in greyscale), needs no
JavaScript and no style attribute (the Content-Security-Policy forbids
them). The page shows the same numbers in a table for screen readers; the
image has one accessible name.
"""

from __future__ import annotations

from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 640
HEIGHT = 240
TOP, BOTTOM, LEFT, RIGHT = 28, 36, 16, 16
BAR = "#225ea8"  # ColorBrewer YlGnBu, as on the map; 7:1 against white
TEXT = "#1a1a1a"
AXIS = "#4d4d4d"


def render_trend(points: list[tuple[str, int]], *, title: str) -> SafeString:
    """Bars of `points` ((quarter, value), in order) under `title`."""
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(points))
    bar_width = min(64.0, slot * 0.6)
    highest = max((value for _, value in points), default=0) or 1
    bars = []
    for index, (quarter, value) in enumerate(points):
        height = round(plot_height * value / highest, 1)
        x = round(LEFT + index * slot + (slot - bar_width) / 2, 1)
        centre = round(LEFT + index * slot + slot / 2, 1)
        y = round(TOP + plot_height - height, 1)
        bars.append(
            (
                x,
                y,
                round(bar_width, 1),
                height,
                BAR,
                centre,
                round(y - 6, 1),
                number_format(value, force_grouping=True),
                centre,
                HEIGHT - BOTTOM + 20,
                quarter,
            )
        )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="trend" viewBox="0 0 {} {}" role="img" aria-label="{}">\n'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="1"/>\n'
        '<g font-size="14" fill="{}" text-anchor="middle">\n{}\n</g>\n</svg>',
        WIDTH,
        HEIGHT,
        title,
        LEFT,
        HEIGHT - BOTTOM,
        WIDTH - RIGHT,
        HEIGHT - BOTTOM,
        AXIS,
        TEXT,
        format_html_join(
            "\n",
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>'
            '<text x="{}" y="{}" font-weight="bold">{}</text><text x="{}" y="{}">{}</text>',
            bars,
        ),
    )
