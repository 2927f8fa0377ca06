"""The observatoire's open data: CSV and JSON, one row per published cell,
with stable columns described by a versioned Table Schema (validated here
with frictionless, the Frictionless Data reference validator, and the JSON
with jsonschema), under the Licence Ouverte 2.0."""

from __future__ import annotations

import csv
import io
import json

import jsonschema
import pytest
from django.test import Client
from frictionless import Resource, Schema, validate

from boards.models import Category
from boards.observatoire import opendata
from tests import observatoire_season as season

pytestmark = pytest.mark.django_db

COLUMNS = [
    "trimestre",
    "niveau",
    "code_region",
    "nom_region",
    "code_departement",
    "nom_departement",
    "categorie",
    "theme",
    "nom_theme",
    "ateliers",
    "impossibles",
    "impossibles_avec_action",
    "moi_aussi",
    "offres_aide",
    "actions",
    "actions_faites",
]


@pytest.fixture
def published():
    welders = season.theme("Recruter des soudeurs")
    season.big_season(welders)
    # A région remainder and a national one, and impossibles without theme.
    for insee in ("17306", "17300", "86194", "86194", "44109", "35238", "13055", "69123"):
        season.room(season.atelier(insee), people=3, theme=welders)
    for insee in season.COMMUNES["33"]:
        season.room(season.atelier(insee), people=3, category=Category.FUNDING)
    season.compute()


def _csv(client: Client) -> str:
    response = client.get("/observatoire/donnees.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return response.content.decode("utf-8")


def test_the_columns_are_the_documented_ones_in_order(published):
    header = next(csv.reader(io.StringIO(_csv(Client()))))

    assert header == COLUMNS == opendata.columns()


def test_the_csv_is_valid_against_its_table_schema(published, tmp_path):
    path = tmp_path / "donnees.csv"
    path.write_text(_csv(Client()), encoding="utf-8")
    schema = Schema.from_descriptor(opendata.schema())

    report = validate(Resource(path=path.name, basepath=str(tmp_path), schema=schema))

    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    assert report.tasks[0].stats["rows"] == 5


def test_the_validator_would_catch_a_small_or_malformed_row(published, tmp_path):
    text = _csv(Client())
    lines = text.splitlines()
    broken = lines[1].split(",")
    broken[COLUMNS.index("ateliers")] = "2"
    broken[COLUMNS.index("trimestre")] = "2026-Q4"
    path = tmp_path / "donnees.csv"
    path.write_text("\r\n".join([lines[0], ",".join(broken)]) + "\r\n", encoding="utf-8")

    schema = Schema.from_descriptor(opendata.schema())
    report = validate(Resource(path=path.name, basepath=str(tmp_path), schema=schema))

    assert not report.valid
    assert {error[0] for error in report.flatten(["type"])} == {"constraint-error"}


def test_the_json_is_valid_and_says_its_version_licence_and_schema(published):
    document = json.loads(Client().get("/observatoire/donnees.json").content)

    assert document["version"] == opendata.version() == "1.0.0"
    assert document["licence"] == "Licence Ouverte / Open Licence version 2.0"
    assert document["schema"].endswith("/observatoire/donnees.schema.json")
    assert len(document["rows"]) == 5
    validator = jsonschema.Draft202012Validator(opendata.json_schema())
    for row in document["rows"]:
        validator.validate(row)
        assert list(row) == COLUMNS


def test_csv_and_json_hold_the_same_rows(published):
    from_csv = list(csv.DictReader(io.StringIO(_csv(Client()))))
    from_json = json.loads(Client().get("/observatoire/donnees.json").content)["rows"]

    assert [{k: str(v) for k, v in row.items()} for row in from_json] == from_csv


def test_every_level_is_there_and_none_finer_than_the_departement(published):
    rows = list(csv.DictReader(io.StringIO(_csv(Client()))))

    assert {row["niveau"] for row in rows} == {"departement", "region", "national"}
    assert {row["code_departement"] for row in rows} == {"16", "33", ""}
    assert "commune" not in ",".join(COLUMNS)


def test_the_schema_is_served_and_names_the_licence():
    response = Client().get("/observatoire/donnees.schema.json")
    schema = json.loads(b"".join(response.streaming_content))

    assert schema["licenses"][0]["name"] == "etalab-2.0"
    assert [field["name"] for field in schema["fields"]] == COLUMNS
    assert Schema.validate_descriptor(schema).valid
