"""Organisations: providers a district delegates to, its coordination office, the planning frame.

The 44 districts themselves are :data:`imflow.districts.DISTRICTS`. From 2025 each
district receives the funds and may delegate the counselling wholly or partly to
municipalities, associations or welfare organisations (:class:`Provider`); it runs a
coordination office (:class:`CoordinationOffice`) of at least 0.5 FTE, funded with at
most 40,000 EUR a year. :func:`check` judges a district's set-up and returns
:class:`~imflow.reasons.Reason` values with stable codes; :func:`split_frame` divides
the state's planning frame over the 44 districts in whole euros.

>>> office = CoordinationOffice(district="08337", fte="0.4", grant_eur=42_000)
>>> [r.code for r in check(DistrictOrganisation(district="08337", office=office))]
['coordination_fte_too_low', 'coordination_grant_too_high']
>>> shares = split_frame(58_000_000, {ags: 1 for ags in DISTRICTS})
>>> sum(shares.values()), shares["08111"], shares["08437"]
(58000000, 1318182, 1318181)

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation

import attrs

from imflow.districts import DISTRICTS
from imflow.enums import Lang
from imflow.reasons import Reason

__all__ = [
    "MAX_COORDINATION_GRANT_EUR",
    "MIN_COORDINATION_FTE",
    "CoordinationOffice",
    "DistrictOrganisation",
    "Provider",
    "ProviderKind",
    "check",
    "fte",
    "split_frame",
    "staffing",
]

MIN_COORDINATION_FTE = Decimal("0.5")
"""The smallest coordination office a district may run, in FTE (VZÄ)."""

MAX_COORDINATION_GRANT_EUR = 40_000
"""The most a coordination office may be funded with per year, in euros."""

_CENT = Decimal("0.01")


def fte(value: Decimal | int | float | str) -> Decimal:
    """A full-time-equivalent figure: non-negative, at most two decimal places.

    >>> fte("0.75"), fte(1), fte(0.5)
    (Decimal('0.75'), Decimal('1'), Decimal('0.5'))
    >>> fte("0.333")
    Traceback (most recent call last):
    ...
    ValueError: an FTE figure has at most two decimal places, got '0.333'
    """
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not an FTE figure: {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"an FTE figure is a non-negative number, got {value!r}")
    try:
        exact = number == number.quantize(_CENT)
    except InvalidOperation:  # more digits than the decimal context holds (1e400)
        raise ValueError("not an FTE figure: too many digits") from None
    if not exact:
        raise ValueError(f"an FTE figure has at most two decimal places, got {str(value)!r}")
    return number


class ProviderKind(enum.StrEnum):
    """Who runs the counselling: the district itself or a body it delegated to."""

    DISTRICT = "district"
    MUNICIPALITY = "municipality"
    ASSOCIATION = "association"
    WELFARE = "welfare"

    def label(self, lang: Lang = "en") -> str:
        """The kind's label in *lang*.

        >>> ProviderKind.WELFARE.label("de")
        'Träger der freien Wohlfahrtspflege'
        """
        de, en = _KIND_LABELS[self]
        return de if lang == "de" else en


_KIND_LABELS = {
    ProviderKind.DISTRICT: ("Stadt- oder Landkreis selbst", "the district itself"),
    ProviderKind.MUNICIPALITY: ("kreisangehörige Stadt oder Gemeinde", "municipality"),
    ProviderKind.ASSOCIATION: ("Verband", "association"),
    ProviderKind.WELFARE: ("Träger der freien Wohlfahrtspflege", "welfare organisation"),
}


@attrs.frozen(kw_only=True)
class Provider:
    """A provider (Träger) that runs cases in *district*: its id as the cases record it.

    ``fte`` is the integration managers' staffing in full-time equivalents (VZÄ); the
    key figure ``caseload_per_fte`` divides by it.
    """

    id: str
    district: str
    name: str = ""
    kind: ProviderKind = attrs.field(default=ProviderKind.DISTRICT, converter=ProviderKind)
    fte: Decimal = attrs.field(default=Decimal(0), converter=fte)


@attrs.frozen(kw_only=True)
class CoordinationOffice:
    """A district's coordination office (Koordinationsstelle): staffing and yearly grant."""

    district: str
    fte: Decimal = attrs.field(converter=fte)
    grant_eur: int = 0


def _providers(value: Iterable[Provider]) -> tuple[Provider, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class DistrictOrganisation:
    """One district's set-up: its coordination office and the providers it delegated to."""

    district: str
    office: CoordinationOffice | None = None
    providers: tuple[Provider, ...] = attrs.field(default=(), converter=_providers)


def _reason(code: str, **params: object) -> Reason:
    # the messages are in the catalogue (reason.<code> in imflow/locale/*/imflow.po)
    return Reason.of(code, **params)


def check(
    org: DistrictOrganisation,
    *,
    min_fte: Decimal = MIN_COORDINATION_FTE,
    max_grant_eur: int = MAX_COORDINATION_GRANT_EUR,
) -> tuple[Reason, ...]:
    """What is wrong with a district's set-up under domain rules (empty when nothing is).

    Checks the district code, that a coordination office exists with at least *min_fte*
    FTE and a grant of at most *max_grant_eur* euros a year, and that every provider
    belongs to the district and is listed once.

    >>> check(DistrictOrganisation(district="08111",
    ...       office=CoordinationOffice(district="08111", fte="0.5", grant_eur=40_000)))
    ()
    """
    found: list[Reason] = []
    district = org.district
    if district not in DISTRICTS:
        found.append(_reason("unknown_district", district=district))
    office = org.office
    if office is None:
        found.append(_reason("coordination_missing", district=district))
    else:
        if office.district != district:
            found.append(
                _reason("office_in_other_district", district=district, other=office.district)
            )
        if office.fte < min_fte:
            found.append(_reason("coordination_fte_too_low", fte=office.fte, minimum=min_fte))
        if office.grant_eur > max_grant_eur:
            found.append(
                _reason(
                    "coordination_grant_too_high", grant=office.grant_eur, maximum=max_grant_eur
                )
            )
    seen: set[str] = set()
    for provider in org.providers:
        if provider.district != district:
            found.append(
                _reason(
                    "provider_in_other_district",
                    provider=provider.id,
                    district=district,
                    other=provider.district,
                )
            )
        if provider.id in seen:
            found.append(_reason("duplicate_provider", provider=provider.id))
        seen.add(provider.id)
    return tuple(found)


def staffing(
    organisations: Iterable[DistrictOrganisation | Provider],
) -> dict[tuple[str, str], Decimal]:
    """The providers' FTE by ``(district, provider id)``: what :func:`imflow.kennzahlen.report`
    takes as ``staffing``. A provider listed twice adds up.

    >>> staffing([Provider(id="drk", district="08337", fte="1.5"),
    ...           DistrictOrganisation(district="08111",
    ...                                providers=[Provider(id="awo", district="08111", fte=2)])])
    {('08337', 'drk'): Decimal('1.5'), ('08111', 'awo'): Decimal('2')}
    """
    found: dict[tuple[str, str], Decimal] = {}
    for item in organisations:
        providers = item.providers if isinstance(item, DistrictOrganisation) else (item,)
        for p in providers:
            key = (p.district, p.id)
            found[key] = found.get(key, Decimal(0)) + p.fte
    return found


def split_frame(frame_eur: int, key: Mapping[str, int]) -> dict[str, int]:
    """The planning frame *frame_eur* split over the 44 districts in proportion to *key*.

    *key* gives every district's weight (the refugees allocated to it); each share is in
    whole euros and the shares sum exactly to the frame (largest-remainder method:
    everyone gets the whole euros of their exact quota, the euros left over go one each
    to the largest remainders, ties to the lower AGS code). The result is ordered by AGS.

    >>> shares = split_frame(100, {ags: (3 if ags == "08111" else 1) for ags in DISTRICTS})
    >>> shares["08111"], shares["08115"], shares["08437"], sum(shares.values())
    (7, 3, 2, 100)
    """
    if isinstance(frame_eur, bool) or not isinstance(frame_eur, int) or frame_eur < 0:
        raise ValueError(f"the frame is a non-negative number of whole euros, got {frame_eur!r}")
    unknown = sorted(set(key) - set(DISTRICTS))
    missing = sorted(set(DISTRICTS) - set(key))
    if unknown or missing:
        raise ValueError(
            "the key needs a weight for each of the 44 districts and no other"
            f" (unknown: {unknown}, missing: {missing})"
        )
    weights = {ags: key[ags] for ags in sorted(key)}
    for ags, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, int) or w < 0:
            raise ValueError(f"the weight of {ags} must be a non-negative integer, got {w!r}")
    total = sum(weights.values())
    if total == 0:
        raise ValueError("the key's weights sum to zero")
    shares: dict[str, int] = {}
    remainders: list[tuple[int, str]] = []
    for ags, w in weights.items():
        whole, rest = divmod(frame_eur * w, total)
        shares[ags] = whole
        remainders.append((-rest, ags))  # largest remainder first, then the lower AGS
    left = frame_eur - sum(shares.values())
    for _, ags in sorted(remainders)[:left]:
        shares[ags] += 1
    return shares
