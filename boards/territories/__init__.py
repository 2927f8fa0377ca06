"""French territories from the Code officiel géographique (COG), offline.

A commune's INSEE code gives its EPCI (intercommunalité à fiscalité propre),
département and région, from a trimmed copy of Etalab's administrative
divisions shipped in data/ (see data/README.md for its source, licence and
yearly update). Codes that the COG no longer lists as communes still
resolve to the commune they belong to today: communes déléguées and
associées, former codes of merged communes, and the municipal
arrondissements of Paris, Lyon and Marseille.

The collectivités d'outre-mer (975 Saint-Pierre-et-Miquelon, 977
Saint-Barthélemy, 978 Saint-Martin, 984 TAAF, 986 Wallis-et-Futuna, 987
Polynésie française, 988 Nouvelle-Calédonie, 989 Clipperton) are neither
départements nor régions: as in the upstream data, a COM's code stands for
both, with zone "com", so a commune there still has a département code and
a région code to group by. `departements()` and `regions()` list the 101
départements and 18 régions only.

The file is read once per process, at the first lookup.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

from boards.territories import build

DATA_DIR = Path(__file__).resolve().parent / "data"
DATA_FILE = DATA_DIR / "cog.json.xz"

# Five characters: digits, or 2A/2B then three digits for Corsica.
INSEE_CODE_RE = re.compile(r"^(\d{5}|2[AB]\d{3})$")

COMMUNE = "commune"
DELEGATED = "commune-deleguee"
ASSOCIATED = "commune-associee"
FORMER = "ancienne-commune"
ARRONDISSEMENT = "arrondissement-municipal"
_KINDS = {"d": DELEGATED, "a": ASSOCIATED, "m": ARRONDISSEMENT, build.FORMER: FORMER}

METRO, DROM, COM = "metro", "drom", "com"


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    zone: str  # METRO, DROM, or COM (a collectivité d'outre-mer, see above)


@dataclass(frozen=True)
class Departement:
    code: str
    name: str
    region: Region
    zone: str


@dataclass(frozen=True)
class Epci:
    code: str
    name: str


@dataclass(frozen=True)
class Territory:
    """What an INSEE code stands for, and where it is today."""

    insee_code: str  # as given, normalised
    name: str  # of that code: the commune, commune déléguée or arrondissement
    kind: str  # COMMUNE, DELEGATED, ASSOCIATED, FORMER or ARRONDISSEMENT
    commune_code: str  # the current commune (the same as insee_code for a commune)
    commune_name: str
    epci: Epci | None  # None for the few communes outside any (islands, COM)
    departement: Departement

    @property
    def region(self) -> Region:
        return self.departement.region

    @property
    def is_current(self) -> bool:
        return self.kind == COMMUNE

    def codes(self) -> dict[str, str]:
        """The codes an atelier stores, by field name."""
        return {
            "commune_code": self.commune_code,
            "epci_code": self.epci.code if self.epci else "",
            "departement_code": self.departement.code,
            "region_code": self.region.code,
        }


class _Cog:
    def __init__(self, data: dict) -> None:
        if data.get("format") != build.FORMAT:
            raise ValueError(f"territories: unknown data format {data.get('format')!r}")
        self.source = data["source"]
        self.regions = {code: Region(code, name, zone) for code, (name, zone) in data["regions"].items()}
        self.departements = {
            code: Departement(code, name, self.regions[region], zone)
            for code, (name, region, zone) in data["departements"].items()
        }
        self.epci = data["epci"]
        self.communes = data["communes"]
        self.others = data["others"]

    def territory(self, code: str) -> Territory | None:
        if code in self.communes:
            name, kind, current = self.communes[code][0], COMMUNE, code
        elif code in self.others:
            name, current, short = self.others[code]
            kind = _KINDS[short]
            # Former codes come without their old name: the current one stands in.
            name = name or self.communes[current][0]
        else:
            return None
        current_name, departement, epci = self.communes[current]
        return Territory(
            insee_code=code,
            name=name,
            kind=kind,
            commune_code=current,
            commune_name=current_name,
            epci=Epci(epci, self.epci[epci]) if epci else None,
            departement=self.departements[departement],
        )


_lock = threading.Lock()
_path = DATA_FILE
_loaded: _Cog | None = None


def _cog() -> _Cog:
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                _loaded = _Cog(build.load(_path.read_bytes()))
    return _loaded


def reload(path: Path | None = None) -> None:
    """Read this file (the shipped one by default) at the next lookup."""
    global _loaded, _path
    with _lock:
        _path = Path(path) if path else DATA_FILE
        _loaded = None


def normalise(code: str | None) -> str:
    return (code or "").strip().upper()


def resolve(insee_code: str | None) -> Territory | None:
    """The territory of a commune's INSEE code, or None when the COG does
    not know it (or it is not an INSEE code at all)."""
    code = normalise(insee_code)
    if not INSEE_CODE_RE.match(code):
        return None
    return _cog().territory(code)


def departement(code: str) -> Departement | None:
    """A département (or a COM, zone COM) by code: "16", "2A", "974", "975"."""
    return _cog().departements.get(normalise(code))


def region(code: str) -> Region | None:
    return _cog().regions.get(normalise(code))


def epci(code: str) -> Epci | None:
    name = _cog().epci.get((code or "").strip())
    return Epci(code.strip(), name) if name else None


def departements() -> list[Departement]:
    """The 101 départements, in code order (2A and 2B between 29 and 30)."""
    return [d for d in _cog().departements.values() if d.zone != COM]


def regions() -> list[Region]:
    """The 18 régions, in code order."""
    return [r for r in _cog().regions.values() if r.zone != COM]


def collectivites_outre_mer() -> list[Departement]:
    return [d for d in _cog().departements.values() if d.zone == COM]


def source() -> dict[str, object]:
    """Where the data comes from: upstream package, version, COG year, licence."""
    return dict(_cog().source)
