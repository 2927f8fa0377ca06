"""Territories from the INSEE code, offline: the COG lookups, the codes an
atelier stores, the facilitators' form, the admin, and the yearly refresh."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from pytest_django.asserts import assertRedirects

from boards import territories
from boards.models import Atelier
from boards.services import facilitation
from boards.territories import build

# --- Lookups --------------------------------------------------------------------------------------


def test_the_shipped_file_says_where_it_comes_from():
    source = territories.source()

    assert source["package"] == "@etalab/decoupage-administratif"
    assert source["version"] == "6.0.0"
    assert source["cog"] == 2026
    assert "Licence Ouverte" in source["licence"]
    assert territories.DATA_FILE.stat().st_size < 400_000


def test_cognac_gives_its_epci_departement_and_region():
    cognac = territories.resolve("16102")

    assert (cognac.name, cognac.commune_code, cognac.commune_name) == ("Cognac", "16102", "Cognac")
    assert cognac.kind == territories.COMMUNE and cognac.is_current
    assert (cognac.epci.code, cognac.epci.name) == ("200070514", "CA du Grand Cognac")
    assert (cognac.departement.code, cognac.departement.name) == ("16", "Charente")
    assert (cognac.region.code, cognac.region.name) == ("75", "Nouvelle-Aquitaine")
    assert cognac.codes() == {
        "commune_code": "16102",
        "epci_code": "200070514",
        "departement_code": "16",
        "region_code": "75",
    }


@pytest.mark.parametrize(
    ("code", "commune", "departement", "region"),
    [
        ("97105", "Basse-Terre", ("971", "Guadeloupe"), ("01", "Guadeloupe")),
        ("97209", "Fort-de-France", ("972", "Martinique"), ("02", "Martinique")),
        ("97302", "Cayenne", ("973", "Guyane"), ("03", "Guyane")),
        ("97411", "Saint-Denis", ("974", "La Réunion"), ("04", "La Réunion")),
        ("97611", "Mamoudzou", ("976", "Mayotte"), ("06", "Mayotte")),
    ],
)
def test_overseas_departements_are_departements_and_regions(code, commune, departement, region):
    territory = territories.resolve(code)

    assert territory.name == commune
    assert (territory.departement.code, territory.departement.name) == departement
    assert (territory.region.code, territory.region.name) == region
    assert territory.departement.zone == territory.region.zone == territories.DROM
    assert territory.epci is not None


@pytest.mark.parametrize(
    ("code", "commune", "collectivite"),
    [
        ("97502", "Saint-Pierre", ("975", "Saint-Pierre-et-Miquelon")),
        ("97701", "Saint-Barthélemy", ("977", "Saint-Barthélemy")),
        ("97801", "Saint-Martin", ("978", "Saint-Martin")),
        ("98735", "Papeete", ("987", "Polynésie française")),
        ("98818", "Nouméa", ("988", "Nouvelle-Calédonie")),
        ("98613", "Uvea", ("986", "Wallis et Futuna")),
    ],
)
def test_a_collectivite_d_outre_mer_stands_for_its_own_departement_and_region(code, commune, collectivite):
    territory = territories.resolve(code)

    assert territory.name == commune
    assert (territory.departement.code, territory.departement.name) == collectivite
    assert (territory.region.code, territory.region.name) == collectivite
    assert territory.departement.zone == territories.COM
    assert territory.epci is None
    assert territory.codes()["epci_code"] == ""


@pytest.mark.parametrize(
    ("code", "commune", "departement"),
    [("2A004", "Ajaccio", "Corse-du-Sud"), ("2B033", "Bastia", "Haute-Corse"), (" 2a004 ", "Ajaccio", "Corse-du-Sud")],
)
def test_corsican_codes_resolve_in_corsica(code, commune, departement):
    territory = territories.resolve(code)

    assert territory.name == commune
    assert territory.departement.name == departement
    assert (territory.region.code, territory.region.name) == ("94", "Corse")


def test_a_merged_communes_former_code_resolves_to_the_commune_of_today():
    # Saint-Médard (16129) merged into Bellevigne (16204) in 2017.
    territory = territories.resolve("16129")

    assert territory.kind == territories.FORMER and not territory.is_current
    assert territory.insee_code == "16129"
    assert (territory.commune_code, territory.commune_name) == ("16204", "Bellevigne")
    assert territory.name == "Bellevigne"  # the COG keeps no name for former codes
    assert territory.codes()["commune_code"] == "16204"
    assert territory.departement.code == "16"


def test_a_commune_deleguee_keeps_its_name_and_belongs_to_its_commune_nouvelle():
    territory = territories.resolve("74011")

    assert (territory.name, territory.kind) == ("Annecy-le-Vieux", territories.DELEGATED)
    assert (territory.commune_code, territory.commune_name) == ("74010", "Annecy")
    assert territory.epci.name == "CA du Grand Annecy"


@pytest.mark.parametrize(
    ("code", "name", "commune", "epci"),
    [
        ("75108", "Paris 8e Arrondissement", ("75056", "Paris"), "Métropole du Grand Paris"),
        ("13201", "Marseille 1er Arrondissement", ("13055", "Marseille"), "Métropole d'Aix-Marseille-Provence"),
        ("69381", "Lyon 1er Arrondissement", ("69123", "Lyon"), "Métropole de Lyon"),
    ],
)
def test_municipal_arrondissements_belong_to_paris_lyon_and_marseille(code, name, commune, epci):
    territory = territories.resolve(code)

    assert (territory.name, territory.kind) == (name, territories.ARRONDISSEMENT)
    assert (territory.commune_code, territory.commune_name) == commune
    assert territory.epci.name == epci


@pytest.mark.parametrize(
    "code",
    [
        "99999",
        "00000",
        "75008",  # Paris 8e's postal code, Bobigny's INSEE code before 1968
        "20004",  # a Corsican code from before 1976
        "2C004",
        "1610",
        "161020",
        "ABCDE",
        "",
        None,
    ],
)
def test_unknown_and_malformed_codes_resolve_to_nothing(code):
    assert territories.resolve(code) is None


def test_the_lists_hold_the_101_departements_and_18_regions():
    departements = territories.departements()
    regions = territories.regions()

    assert len(departements) == 101
    assert [d.code for d in departements[:3]] == ["01", "02", "03"]
    assert [d.code for d in departements[27:30]] == ["29", "2A", "2B"]
    assert [d.code for d in departements[-5:]] == ["971", "972", "973", "974", "976"]
    assert len(regions) == 18
    assert {r.zone for r in regions} == {territories.METRO, territories.DROM}
    assert [c.code for c in territories.collectivites_outre_mer()] == [
        "975",
        "977",
        "978",
        "984",
        "986",
        "987",
        "988",
        "989",
    ]


def test_single_lookups_by_code():
    assert territories.departement("2a").name == "Corse-du-Sud"
    assert territories.departement("2A").region.name == "Corse"
    assert territories.departement("974").region == territories.region("04")
    assert territories.departement("975").zone == territories.COM
    assert territories.region("11").name == "Île-de-France"
    assert territories.epci("200070514").name == "CA du Grand Cognac"
    assert territories.departement("20") is None
    assert territories.region("99") is None
    assert territories.epci("123") is None


def test_the_file_is_read_once_per_process():
    territories.resolve("16102")
    loaded = territories._cog()

    territories.resolve("2A004")
    territories.departements()

    assert territories._cog() is loaded


# --- The atelier's codes --------------------------------------------------------------------------


def _atelier_form(**overrides) -> dict:
    return {
        "title": "Atelier de l'impossible — Cognac",
        "starts_at": "2030-05-04T18:30",
        "venue": "Salle des fêtes",
        "commune": "Cognac",
        "departement": "Charente",
        "region": "Nouvelle-Aquitaine",
        "insee_code": "16102",
        "territory": "",
        "language": "fr",
        "categories": ["recrutement", "financement"],
        **overrides,
    }


def _codes(atelier: Atelier) -> tuple[str, str, str, str]:
    atelier.refresh_from_db()
    return atelier.commune_code, atelier.epci_code, atelier.departement_code, atelier.region_code


def test_a_new_atelier_stores_the_codes_of_its_territory(facilitator):
    response = facilitator.post("/facilitate/new/", _atelier_form())

    created = Atelier.objects.get(title="Atelier de l'impossible — Cognac")
    assertRedirects(response, f"/a/{created.code}/console/", fetch_redirect_response=False)
    assert _codes(created) == ("16102", "200070514", "16", "75")
    assert (created.commune, created.departement, created.region) == ("Cognac", "Charente", "Nouvelle-Aquitaine")


def test_blank_commune_departement_and_region_are_filled_from_the_cog(facilitator):
    facilitator.post("/facilitate/new/", _atelier_form(insee_code="2a004", commune="", departement="", region=""))

    created = Atelier.objects.get(title="Atelier de l'impossible — Cognac")
    assert created.insee_code == "2A004"
    assert (created.commune, created.departement, created.region) == ("Ajaccio", "Corse-du-Sud", "Corse")
    assert created.territory == "Ajaccio, Corse-du-Sud, Corse"
    assert _codes(created) == ("2A004", "242010056", "2A", "94")


def test_what_the_facilitator_typed_in_the_display_fields_is_kept(facilitator):
    facilitator.post("/facilitate/new/", _atelier_form(insee_code="16129", commune="Saint-Médard", region=""))

    created = Atelier.objects.get(title="Atelier de l'impossible — Cognac")
    assert (created.commune, created.departement, created.region) == ("Saint-Médard", "Charente", "Nouvelle-Aquitaine")
    assert created.insee_code == "16129"
    assert _codes(created) == ("16204", "200070514", "16", "75")


def test_a_collectivite_d_outre_mer_is_named_once(facilitator):
    facilitator.post("/facilitate/new/", _atelier_form(insee_code="97502", commune="", departement="", region=""))

    created = Atelier.objects.get(title="Atelier de l'impossible — Cognac")
    assert created.territory == "Saint-Pierre, Saint-Pierre-et-Miquelon"
    assert _codes(created) == ("97502", "", "975", "975")


def test_an_unknown_insee_code_gets_a_clear_error_and_nothing_is_created(facilitator):
    response = facilitator.post("/facilitate/new/", _atelier_form(insee_code="99999"))

    assert response.status_code == 422
    assert response.context["form"].errors["insee_code"] == [
        "Code INSEE inconnu du Code officiel géographique 2026 : indiquez le code de la commune "
        "(16102 pour Cognac), pas son code postal."
    ]
    assert "Code INSEE inconnu" in response.content.decode()
    assert not Atelier.objects.filter(title="Atelier de l'impossible — Cognac").exists()


def test_a_postal_code_typed_instead_of_the_insee_code_is_refused(facilitator, atelier):
    response = facilitator.post("/a/TST234/console/settings/", _atelier_form(insee_code="75008"))

    assert response.status_code == 422
    assert "Code INSEE inconnu" in response.content.decode()
    assert _codes(atelier) == ("", "", "", "")


def test_a_malformed_code_gets_the_format_message_only(facilitator):
    response = facilitator.post("/facilitate/new/", _atelier_form(insee_code="1610"))

    assert response.context["form"].errors["insee_code"] == ["Un code INSEE a cinq caractères, par exemple 16102."]


def test_changing_the_insee_code_in_the_settings_derives_the_codes_again(facilitator, atelier):
    facilitator.post("/a/TST234/console/settings/", _atelier_form())
    assert _codes(atelier) == ("16102", "200070514", "16", "75")

    facilitator.post("/a/TST234/console/settings/", _atelier_form(insee_code="97411"))
    assert _codes(atelier) == ("97411", "249740119", "974", "04")
    assert atelier.commune == "Cognac"  # typed by the facilitator: kept

    facilitator.post("/a/TST234/console/settings/", _atelier_form(insee_code=""))
    assert _codes(atelier) == ("", "", "", "")


def test_an_atelier_whose_code_became_unknown_is_saved_once_corrected(facilitator, atelier):
    Atelier.objects.filter(pk=atelier.pk).update(insee_code="16999")

    refused = facilitator.post("/a/TST234/console/settings/", _atelier_form(insee_code="16999", title="Nouveau"))
    accepted = facilitator.post("/a/TST234/console/settings/", _atelier_form(insee_code="16167", title="Nouveau"))

    assert refused.status_code == 422
    assert "Code INSEE inconnu" in refused.content.decode()
    assertRedirects(accepted, "/a/TST234/console/", fetch_redirect_response=False)
    assert _codes(atelier) == ("16167", "200070514", "16", "75")
    assert atelier.title == "Nouveau"


def test_the_service_refuses_an_unknown_code_without_the_form(facilitator):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        facilitation.create_atelier(
            facilitator.user, title="Sans formulaire", categories=["financement"], insee_code="99999"
        )

    assert "Code INSEE inconnu" in str(refused.value.message_dict["insee_code"])
    assert not Atelier.objects.filter(title="Sans formulaire").exists()


def test_an_organiser_changing_the_code_in_the_admin_changes_the_codes(client, atelier):
    client.force_login(User.objects.create_superuser("orga", "orga@example.org", "pw-orga-123"))
    page = client.get(f"/admin/boards/atelier/{atelier.pk}/change/")
    form = {
        key: value
        for key, value in page.context["adminform"].form.initial.items()
        if key in ("title", "language", "time_zone", "commune", "departement", "region", "territory", "venue")
    }

    response = client.post(
        f"/admin/boards/atelier/{atelier.pk}/change/",
        {**form, "insee_code": "69381", "categories": json.dumps(atelier.categories)},
    )

    assertRedirects(response, "/admin/boards/atelier/", fetch_redirect_response=False)
    assert _codes(atelier) == ("69123", "200046977", "69", "84")


# --- The yearly refresh -------------------------------------------------------------------------


def _upstream(version: str = "7.0.0", year: int = 2027) -> dict[str, object]:
    """A tiny release of the upstream package: in its COG, Jarnac (16167)
    has merged into a new commune, Val-de-Charente (16400)."""
    return {
        "package.json": {"name": build.PACKAGE, "version": version},
        "README.md": f"| Année | Version |\n|---|---|\n| {year} | {version} | `npm install` |\n",
        "regions.json": [{"code": "75", "nom": "Nouvelle-Aquitaine", "zone": "metro"}],
        "departements.json": [{"code": "16", "nom": "Charente", "region": "75", "zone": "metro"}],
        "epci.json": [
            {
                "code": "200070514",
                "nom": "CA du Grand Cognac",
                "membres": [{"code": "16102", "nom": "Cognac"}, {"code": "16400", "nom": "Val-de-Charente"}],
            }
        ],
        "communes.json": [
            {"code": "16102", "nom": "Cognac", "type": "commune-actuelle", "departement": "16", "region": "75"},
            {
                "code": "16400",
                "nom": "Val-de-Charente",
                "type": "commune-actuelle",
                "departement": "16",
                "region": "75",
                "anciensCodes": ["16167"],
            },
        ],
    }


def _write_tarball(path: Path, files: dict[str, object]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, content in files.items():
            raw = content if isinstance(content, str) else json.dumps(content)
            member = f"package/{name}" if name in ("package.json", "README.md") else f"package/data/{name}"
            info = tarfile.TarInfo(member)
            info.size = len(raw.encode())
            archive.addfile(info, io.BytesIO(raw.encode()))
    return path


def _write_dir(path: Path, files: dict[str, object]) -> Path:
    (path / "package" / "data").mkdir(parents=True)
    for name, content in files.items():
        target = path / "package" / name if name in ("package.json", "README.md") else path / "package" / "data" / name
        target.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


@pytest.fixture
def shipped_cog_afterwards():
    yield
    territories.reload()


def _atelier_in(code: str, title: str) -> Atelier:
    atelier = Atelier.objects.create(title=title, insee_code=code)
    facilitation.apply_territory(atelier)
    atelier.save()
    return atelier


def test_the_command_rebuilds_the_file_from_a_release_tarball_and_updates_the_ateliers(
    db, tmp_path, shipped_cog_afterwards
):
    jarnac = _atelier_in("16167", "Jarnac")
    cognac = _atelier_in("16102", "Cognac")
    ajaccio = _atelier_in("2A004", "Ajaccio")
    out = io.StringIO()

    call_command(
        "refresh_territories",
        "--from",
        str(_write_tarball(tmp_path / "release.tgz", _upstream())),
        "--output",
        str(tmp_path / "cog.json.xz"),
        stdout=out,
    )

    assert territories.source()["version"] == "7.0.0"
    assert territories.source()["cog"] == 2027
    assert territories.resolve("16167").commune_name == "Val-de-Charente"
    assert _codes(jarnac) == ("16400", "200070514", "16", "75")
    assert _codes(cognac) == ("16102", "200070514", "16", "75")
    assert _codes(ajaccio) == ("", "", "", "")
    report = out.getvalue()
    assert "COG 2027 from @etalab/decoupage-administratif 7.0.0, 2 communes, 1 other codes" in report
    assert "2 atelier(s) with new territory codes." in report
    assert f"Unknown INSEE code 2A004 for atelier {ajaccio.code} « Ajaccio »" in report
    assert build.load((tmp_path / "cog.json.xz").read_bytes())["communes"]["16400"] == [
        "Val-de-Charente",
        "16",
        "200070514",
    ]


def test_the_command_reads_an_unpacked_release_and_writes_the_same_bytes(db, tmp_path, shipped_cog_afterwards):
    call_command(
        "refresh_territories",
        "--from",
        str(_write_tarball(tmp_path / "release.tgz", _upstream())),
        "--output",
        str(tmp_path / "from-tarball.xz"),
        stdout=io.StringIO(),
    )
    call_command(
        "refresh_territories",
        "--from",
        str(_write_dir(tmp_path / "unpacked", _upstream())),
        "--output",
        str(tmp_path / "from-dir.xz"),
        stdout=io.StringIO(),
    )

    assert (tmp_path / "from-tarball.xz").read_bytes() == (tmp_path / "from-dir.xz").read_bytes()


def test_the_command_asks_for_the_year_when_the_readme_does_not_say_it(db, tmp_path, shipped_cog_afterwards):
    release = _upstream()
    release["README.md"] = "# nothing here"
    tarball = _write_tarball(tmp_path / "release.tgz", release)

    with pytest.raises(CommandError, match="--cog-year"):
        call_command("refresh_territories", "--from", str(tarball), "--output", str(tmp_path / "x.xz"))
    call_command(
        "refresh_territories",
        "--from",
        str(tarball),
        "--cog-year",
        "2027",
        "--output",
        str(tmp_path / "x.xz"),
        stdout=io.StringIO(),
    )

    assert territories.source()["cog"] == 2027


@pytest.mark.parametrize("broken", ["not a release", "another package", "missing file", "dangling commune"])
def test_the_command_refuses_what_is_not_a_release_and_keeps_the_file(db, tmp_path, shipped_cog_afterwards, broken):
    release = _upstream()
    if broken == "another package":
        release["package.json"] = {"name": "left-pad", "version": "1.0.0"}
    elif broken == "missing file":
        del release["epci.json"]
    elif broken == "dangling commune":
        release["communes.json"][0]["departement"] = "17"
    source = tmp_path / "notes.txt" if broken == "not a release" else _write_tarball(tmp_path / "r.tgz", release)
    if broken == "not a release":
        source.write_text("hello")
    output = tmp_path / "cog.json.xz"

    with pytest.raises(CommandError):
        call_command("refresh_territories", "--from", str(source), "--output", str(output))

    assert not output.exists()
    assert territories.source()["version"] == "6.0.0"


def test_without_a_release_the_command_derives_missing_codes_from_the_shipped_file(db):
    atelier = Atelier.objects.create(title="Créé avant les codes", insee_code="13201")
    out = io.StringIO()

    call_command("refresh_territories", stdout=out)

    assert _codes(atelier) == ("13055", "200054807", "13", "93")
    assert "1 atelier(s) with new territory codes." in out.getvalue()
