"""Build the shipped COG file from an upstream release of Etalab's
`@etalab/decoupage-administratif` npm package (its tarball or its unpacked
directory), keeping only what the app looks up.

The output is xz-compressed JSON (about 300 KB; gzip makes it 400 KB),
byte for byte the same for the same input, so a yearly refresh shows up in
git as a change only when the geography changed.
"""

from __future__ import annotations

import json
import lzma
import re
import tarfile
from pathlib import Path, PurePosixPath

PACKAGE = "@etalab/decoupage-administratif"
FORMAT = 1
FILES = ("package.json", "README.md", "communes.json", "departements.json", "regions.json", "epci.json")

# Short kinds for the codes that are not current communes (see Territory.kind).
OTHER_KINDS = {
    "commune-deleguee": "d",
    "commune-associee": "a",
    "arrondissement-municipal": "m",
}
FORMER = "f"

# Départements redrawn long ago: Seine and Seine-et-Oise in 1968, Corsica in
# 1976. Their communes' old codes are left out when the commune now lies in
# another département: 75008 was Bobigny's code before 1968, and is Paris
# 8e's postal code, which people type by mistake.
REDRAWN = ("75", "78", "20")


class UpstreamError(Exception):
    """The given path is not a usable release of the upstream package."""


def read_upstream(path: Path) -> dict[str, object]:
    """The upstream files we use, parsed, from a .tgz or a directory (the
    package's root or its parent, as `npm pack` and `tar xzf` leave them)."""
    path = Path(path)
    if path.is_dir():
        return _read_dir(path)
    if path.is_file() and tarfile.is_tarfile(path):
        return _read_tarball(path)
    raise UpstreamError(f"{path}: neither a directory nor a tarball of {PACKAGE}")


def _parse(name: str, raw: bytes) -> object:
    if name == "README.md":
        return raw.decode("utf-8")
    try:
        return json.loads(raw)
    except ValueError as error:
        raise UpstreamError(f"{name}: not JSON ({error})") from None


def _read_dir(path: Path) -> dict[str, object]:
    root = path / "package" if (path / "package" / "package.json").is_file() else path
    found = {}
    for name in FILES:
        candidate = root / name if name in ("package.json", "README.md") else root / "data" / name
        if not candidate.is_file():
            raise UpstreamError(f"{candidate}: missing; is {path} a release of {PACKAGE}?")
        found[name] = _parse(name, candidate.read_bytes())
    return found


def _read_tarball(path: Path) -> dict[str, object]:
    found = {}
    with tarfile.open(path, "r:*") as archive:
        for member in archive.getmembers():
            parts = PurePosixPath(member.name).parts
            # npm tarballs hold package/…; the data files are in package/data/.
            if not member.isfile() or len(parts) < 2:
                continue
            name = parts[-1]
            is_root_file = len(parts) == 2 and name in ("package.json", "README.md")
            is_data_file = len(parts) == 3 and parts[1] == "data" and name in FILES
            if is_root_file or is_data_file:
                found[name] = _parse(name, archive.extractfile(member).read())
    missing = [name for name in FILES if name not in found]
    if missing:
        raise UpstreamError(f"{path}: {', '.join(missing)} missing; is it a release of {PACKAGE}?")
    return found


def cog_year(readme: str, version: str) -> int | None:
    """The COG year of this release, from the README's « Millésimes et
    versions » table (a row like `| 2026 | 6.0.0 | …`)."""
    match = re.search(rf"^\|\s*(\d{{4}})\s*\|\s*{re.escape(version)}\s*\|", readme, re.MULTILINE)
    return int(match.group(1)) if match else None


def trim(upstream: dict[str, object], *, year: int | None = None) -> dict:
    """The shipped data, from the parsed upstream files."""
    package = upstream["package.json"]
    if package.get("name") != PACKAGE:
        raise UpstreamError(f"package.json names {package.get('name')!r}, not {PACKAGE}")
    version = package["version"]
    year = year or cog_year(upstream["README.md"], version)
    if year is None:
        raise UpstreamError(f"the COG year of {PACKAGE} {version} is not in its README: give it with --cog-year")

    regions = {r["code"]: [r["nom"], r["zone"]] for r in upstream["regions.json"]}
    departements = {d["code"]: [d["nom"], d["region"], d["zone"]] for d in upstream["departements.json"]}
    epci_of = {}
    epci = {}
    for group in upstream["epci.json"]:
        epci[group["code"]] = group["nom"]
        for member in group["membres"]:
            epci_of[member["code"]] = group["code"]

    communes = {}
    others = {}
    formers = {}
    for row in upstream["communes.json"]:
        kind = row["type"]
        if kind == "commune-actuelle":
            communes[row["code"]] = [row["nom"], row["departement"], epci_of.get(row["code"], "")]
            for former in row.get("anciensCodes", ()):
                formers[former] = row["code"]
        elif kind in OTHER_KINDS:
            parent = row["commune"] if kind == "arrondissement-municipal" else row["chefLieu"]
            others[row["code"]] = [row["nom"], parent, OTHER_KINDS[kind]]
    for former, current in formers.items():
        if former[:2] in REDRAWN and communes[current][1] != former[:2]:
            continue
        # A code listed both as a commune déléguée/associée and as a former
        # code follows the COG's current déléguée/associée list.
        others.setdefault(former, ["", current, FORMER])
    # The chef-lieu of a commune nouvelle keeps its code: that code is the
    # current commune, not a former one.
    others = {code: row for code, row in others.items() if code not in communes}

    _check(regions, departements, epci, communes, others)
    return {
        "format": FORMAT,
        "source": {
            "package": PACKAGE,
            "version": version,
            "cog": year,
            "licence": "Licence Ouverte / Open Licence (Etalab) for the data; MIT for the package's code",
            "producers": "INSEE (Code officiel géographique), DGCL (EPCI à fiscalité propre), via Etalab",
        },
        "regions": regions,
        "departements": departements,
        "epci": epci,
        "communes": communes,
        "others": others,
    }


def _check(regions: dict, departements: dict, epci: dict, communes: dict, others: dict) -> None:
    for code, (_name, region, _zone) in departements.items():
        if region not in regions:
            raise UpstreamError(f"département {code}: unknown région {region}")
    for code, (_name, departement, group) in communes.items():
        if departement not in departements:
            raise UpstreamError(f"commune {code}: unknown département {departement}")
        if group and group not in epci:
            raise UpstreamError(f"commune {code}: unknown EPCI {group}")
    for code, (_name, parent, _kind) in others.items():
        if parent not in communes:
            raise UpstreamError(f"{code}: points to {parent}, which is not a current commune")


def dump(data: dict) -> bytes:
    """Compressed JSON, the same bytes for the same data."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return lzma.compress(text.encode("utf-8"), preset=9 | lzma.PRESET_EXTREME)


def load(raw: bytes) -> dict:
    return json.loads(lzma.decompress(raw))


def build(source: Path, output: Path, *, year: int | None = None) -> dict:
    data = trim(read_upstream(source), year=year)
    output.write_bytes(dump(data))
    return data
