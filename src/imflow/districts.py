"""The 44 Stadt- und Landkreise of Baden-Württemberg, keyed by their official AGS code.

From 2025 they are the only recipients of funds; every case belongs to one of them.

>>> DISTRICTS["08337"].name
'Waldshut'
>>> len(DISTRICTS), sum(d.kind is DistrictKind.STADTKREIS for d in DISTRICTS.values())
(44, 9)

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from imflow.enums import Lang

__all__ = ["DISTRICTS", "District", "DistrictKind", "is_district"]


class DistrictKind(enum.StrEnum):
    """A Stadtkreis (urban district, a city) or a Landkreis (rural district)."""

    STADTKREIS = "Stadtkreis"
    LANDKREIS = "Landkreis"


@attrs.frozen
class District:
    """One Stadt- or Landkreis: AGS code, name, kind and Regierungsbezirk."""

    ags: str
    name: str
    kind: DistrictKind
    regierungsbezirk: str

    def label(self, lang: Lang = "de") -> str:
        """A display name that tells the two Heilbronns and Karlsruhes apart.

        >>> DISTRICTS["08121"].label(), DISTRICTS["08125"].label("en")
        ('Heilbronn (Stadtkreis)', 'Heilbronn (rural district)')
        """
        if lang == "de":
            return f"{self.name} ({self.kind.value})"
        kind = "urban district" if self.kind is DistrictKind.STADTKREIS else "rural district"
        return f"{self.name} ({kind})"


def _load() -> Mapping[str, District]:
    rows = (
        ("08111", "Stuttgart", DistrictKind.STADTKREIS, "Stuttgart"),
        ("08115", "Böblingen", DistrictKind.LANDKREIS, "Stuttgart"),
        ("08116", "Esslingen", DistrictKind.LANDKREIS, "Stuttgart"),
        ("08117", "Göppingen", DistrictKind.LANDKREIS, "Stuttgart"),
        ("08118", "Ludwigsburg", DistrictKind.LANDKREIS, "Stuttgart"),
        ("08119", "Rems-Murr-Kreis", DistrictKind.LANDKREIS, "Stuttgart"),
        ("08121", "Heilbronn", DistrictKind.STADTKREIS, "Stuttgart"),
        ("08125", "Heilbronn", DistrictKind.LANDKREIS, "Stuttgart"),
        ("08126", "Hohenlohekreis", DistrictKind.LANDKREIS, "Stuttgart"),
        ("08127", "Schwäbisch Hall", DistrictKind.LANDKREIS, "Stuttgart"),
        ("08128", "Main-Tauber-Kreis", DistrictKind.LANDKREIS, "Stuttgart"),
        ("08135", "Heidenheim", DistrictKind.LANDKREIS, "Stuttgart"),
        ("08136", "Ostalbkreis", DistrictKind.LANDKREIS, "Stuttgart"),
        ("08211", "Baden-Baden", DistrictKind.STADTKREIS, "Karlsruhe"),
        ("08212", "Karlsruhe", DistrictKind.STADTKREIS, "Karlsruhe"),
        ("08215", "Karlsruhe", DistrictKind.LANDKREIS, "Karlsruhe"),
        ("08216", "Rastatt", DistrictKind.LANDKREIS, "Karlsruhe"),
        ("08221", "Heidelberg", DistrictKind.STADTKREIS, "Karlsruhe"),
        ("08222", "Mannheim", DistrictKind.STADTKREIS, "Karlsruhe"),
        ("08225", "Neckar-Odenwald-Kreis", DistrictKind.LANDKREIS, "Karlsruhe"),
        ("08226", "Rhein-Neckar-Kreis", DistrictKind.LANDKREIS, "Karlsruhe"),
        ("08231", "Pforzheim", DistrictKind.STADTKREIS, "Karlsruhe"),
        ("08235", "Calw", DistrictKind.LANDKREIS, "Karlsruhe"),
        ("08236", "Enzkreis", DistrictKind.LANDKREIS, "Karlsruhe"),
        ("08237", "Freudenstadt", DistrictKind.LANDKREIS, "Karlsruhe"),
        ("08311", "Freiburg im Breisgau", DistrictKind.STADTKREIS, "Freiburg"),
        ("08315", "Breisgau-Hochschwarzwald", DistrictKind.LANDKREIS, "Freiburg"),
        ("08316", "Emmendingen", DistrictKind.LANDKREIS, "Freiburg"),
        ("08317", "Ortenaukreis", DistrictKind.LANDKREIS, "Freiburg"),
        ("08325", "Rottweil", DistrictKind.LANDKREIS, "Freiburg"),
        ("08326", "Schwarzwald-Baar-Kreis", DistrictKind.LANDKREIS, "Freiburg"),
        ("08327", "Tuttlingen", DistrictKind.LANDKREIS, "Freiburg"),
        ("08335", "Konstanz", DistrictKind.LANDKREIS, "Freiburg"),
        ("08336", "Lörrach", DistrictKind.LANDKREIS, "Freiburg"),
        ("08337", "Waldshut", DistrictKind.LANDKREIS, "Freiburg"),
        ("08415", "Reutlingen", DistrictKind.LANDKREIS, "Tübingen"),
        ("08416", "Tübingen", DistrictKind.LANDKREIS, "Tübingen"),
        ("08417", "Zollernalbkreis", DistrictKind.LANDKREIS, "Tübingen"),
        ("08421", "Ulm", DistrictKind.STADTKREIS, "Tübingen"),
        ("08425", "Alb-Donau-Kreis", DistrictKind.LANDKREIS, "Tübingen"),
        ("08426", "Biberach", DistrictKind.LANDKREIS, "Tübingen"),
        ("08435", "Bodenseekreis", DistrictKind.LANDKREIS, "Tübingen"),
        ("08436", "Ravensburg", DistrictKind.LANDKREIS, "Tübingen"),
        ("08437", "Sigmaringen", DistrictKind.LANDKREIS, "Tübingen"),
    )
    return MappingProxyType({ags: District(ags, name, kind, rb) for ags, name, kind, rb in rows})


DISTRICTS: Mapping[str, District] = _load()
"""The 44 districts, by AGS code (read-only)."""


def is_district(ags: str) -> bool:
    """Whether *ags* is the AGS code of a district of Baden-Württemberg.

    >>> is_district("08111"), is_district("09162")
    (True, False)
    """
    return ags in DISTRICTS
