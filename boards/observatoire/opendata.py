"""The observatoire's open data: every published figure for every role of
poster, one row per (quarter, territory, category, theme), in CSV and JSON,
described by a Table Schema (boards/schemas/observatoire-v1.schema.json,
the format French open-data portals use) and published under the Licence
Ouverte 2.0. Column names are stable within a major version of the schema.
"""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from pathlib import Path
from typing import Any

from boards import territories
from boards.observatoire.models import Figure

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "observatoire-v1.schema.json"
LICENCE = "Licence Ouverte / Open Licence version 2.0"
LICENCE_URL = "https://www.etalab.gouv.fr/licence-ouverte-open-licence"

# Column -> the figure's field (or how to get it).
_COUNTS = {
    "ateliers": "ateliers",
    "impossibles": "impossibles",
    "impossibles_avec_action": "impossibles_with_action",
    "moi_aussi": "me_toos",
    "offres_aide": "offers",
    "actions": "actions",
    "actions_faites": "actions_done",
}


@cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def version() -> str:
    return schema()["version"]


def columns() -> list[str]:
    return [field["name"] for field in schema()["fields"]]


def rows() -> list[dict[str, Any]]:
    """The published figures for every role, in a stable order (one query)."""
    figures = (
        Figure.objects.filter(role="")
        .order_by("quarter", "level", "region_code", "departement_code", "category", "theme__slug", "pk")
        .values(
            "quarter",
            "level",
            "region_code",
            "departement_code",
            "category",
            "theme__slug",
            "theme__name",
            *_COUNTS.values(),
        )
    )
    found = []
    for figure in figures:
        region = territories.region(figure["region_code"]) if figure["region_code"] else None
        departement = territories.departement(figure["departement_code"]) if figure["departement_code"] else None
        row = {
            "trimestre": figure["quarter"],
            "niveau": figure["level"],
            "code_region": figure["region_code"],
            "nom_region": region.name if region else "",
            "code_departement": figure["departement_code"],
            "nom_departement": departement.name if departement else "",
            "categorie": figure["category"],
            "theme": figure["theme__slug"] or "",
            "nom_theme": figure["theme__name"] or "",
        }
        row.update({column: figure[field] for column, field in _COUNTS.items()})
        found.append(row)
    return found


def to_csv(data: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns(), lineterminator="\r\n")
    writer.writeheader()
    for row in data:
        # Names come from the COG and curators, but a spreadsheet must not
        # read one as a formula.
        writer.writerow({key: _neutral(value) for key, value in row.items()})
    return out.getvalue()


def _neutral(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_json(data: list[dict[str, Any]], *, computed_at, schema_url: str) -> str:
    document = {
        "version": version(),
        "licence": LICENCE,
        "licence_url": LICENCE_URL,
        "schema": schema_url,
        "computed_at": computed_at.isoformat() if computed_at else None,
        "rows": data,
    }
    return json.dumps(document, ensure_ascii=False, indent=1)


def json_schema() -> dict[str, Any]:
    """A JSON Schema for one row of the JSON export, derived from the Table
    Schema: its types, enums, patterns, minimums and required fields."""
    properties = {}
    required = []
    for field in schema()["fields"]:
        constraints = field.get("constraints", {})
        if field["type"] == "integer":
            prop: dict[str, Any] = {"type": "integer"}
            if "minimum" in constraints:
                prop["minimum"] = constraints["minimum"]
        else:
            prop = {"type": "string"}
            if "enum" in constraints:
                prop["enum"] = constraints["enum"]
            if "pattern" in constraints:
                # An empty string is a missing value (the schema's missingValues).
                prop["pattern"] = f"^$|{constraints['pattern']}"
        properties[field["name"]] = prop
        required.append(field["name"])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
