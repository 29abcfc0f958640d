"""Organisations: the 44 districts against the reference list, coordination-office checks,
staffing, and the planning frame split to the euro."""

from __future__ import annotations

import csv
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imflow.districts import DISTRICTS, DistrictKind
from imflow.organisations import (
    MAX_COORDINATION_GRANT_EUR,
    MIN_COORDINATION_FTE,
    CoordinationOffice,
    DistrictOrganisation,
    Provider,
    ProviderKind,
    check,
    fte,
    split_frame,
    staffing,
)

# a copy of ../shared/data/bw-districts.csv, the project's reference list
REFERENCE = Path(__file__).parent / "data" / "bw-districts.csv"
AGS = sorted(DISTRICTS)


def test_the_districts_match_the_reference_list() -> None:
    with REFERENCE.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 44
    assert {r["ags"]: (r["name"], r["kind"], r["regierungsbezirk"]) for r in rows} == {
        d.ags: (d.name, d.kind.value, d.regierungsbezirk) for d in DISTRICTS.values()
    }
    assert sum(d.kind is DistrictKind.STADTKREIS for d in DISTRICTS.values()) == 9


def office(**changes: object) -> DistrictOrganisation:
    values: dict[str, object] = {"district": "08337", "fte": "0.5", "grant_eur": 40_000}
    values.update(changes)
    return DistrictOrganisation(
        district="08337",
        office=CoordinationOffice(**values),  # type: ignore[arg-type]
        providers=[
            Provider(id="landratsamt-wt", district="08337", fte="2"),
            Provider(
                id="caritas-wt",
                district="08337",
                name="Caritasverband Hochrhein",
                kind="welfare",
                fte="1.25",
            ),
        ],
    )


def codes(org: DistrictOrganisation) -> list[str]:
    return [r.code for r in check(org)]


def test_a_district_at_the_limits_passes() -> None:
    assert check(office()) == ()
    assert Decimal("0.5") == MIN_COORDINATION_FTE
    assert MAX_COORDINATION_GRANT_EUR == 40_000


def test_coordination_office_rules_of_domain_section_1() -> None:
    assert codes(office(fte="0.49")) == ["coordination_fte_too_low"]
    assert codes(office(grant_eur=40_001)) == ["coordination_grant_too_high"]
    assert codes(office(district="08111")) == ["office_in_other_district"]
    assert codes(DistrictOrganisation(district="08337")) == ["coordination_missing"]
    assert codes(DistrictOrganisation(district="09162")) == [
        "unknown_district",
        "coordination_missing",
    ]
    reason = check(office(fte="0.25", grant_eur=45_000))[0]
    assert reason.message("de") == (
        "Die Koordinationsstelle hat 0,25 VZÄ; mindestens 0,5 VZÄ sind vorgeschrieben."
    )
    assert reason.message("en").startswith("The coordination office has 0.25 FTE")
    # the limits are parameters, not constants buried in the check
    assert check(office(), min_fte=Decimal("1"))[0].code == "coordination_fte_too_low"
    assert check(office(grant_eur=45_000), max_grant_eur=50_000) == ()


def test_providers_belong_to_their_district_once() -> None:
    org = DistrictOrganisation(
        district="08337",
        office=CoordinationOffice(district="08337", fte=1, grant_eur=0),
        providers=[
            Provider(id="drk", district="08337"),
            Provider(id="drk", district="08337"),
            Provider(id="awo", district="08111"),
        ],
    )
    assert codes(org) == ["duplicate_provider", "provider_in_other_district"]
    assert ProviderKind.MUNICIPALITY.label("de") == "kreisangehörige Stadt oder Gemeinde"


def test_fte_figures_are_exact_hundredths() -> None:
    assert fte("1.25") == Decimal("1.25")
    assert fte(0.1) == Decimal("0.1")  # via its shortest repr, not 0.1000000000000000055…
    for bad in ("-1", "0.125", "nan", "zwei", "inf"):
        with pytest.raises(ValueError, match="FTE"):
            fte(bad)
    with pytest.raises(ValueError, match="FTE"):
        Provider(id="x", district="08337", fte="0.333")


def test_staffing_sums_providers_by_district_and_id() -> None:
    org = office()
    extra = Provider(id="caritas-wt", district="08337", fte="0.25")
    assert staffing([org, extra]) == {
        ("08337", "landratsamt-wt"): Decimal("2"),
        ("08337", "caritas-wt"): Decimal("1.50"),
    }


def test_the_planning_frame_of_58_million_is_split_to_the_euro() -> None:
    # refugees allocated: made-up numbers, by AGS
    key = {ags: 1000 + 37 * i for i, ags in enumerate(AGS)}
    shares = split_frame(58_000_000, key)
    assert list(shares) == AGS
    assert sum(shares.values()) == 58_000_000
    total = sum(key.values())
    for ags in AGS:
        exact = Fraction(58_000_000 * key[ags], total)
        assert abs(shares[ags] - exact) < 1  # each share is its quota, rounded down or up


def test_ties_go_to_the_lower_ags_code() -> None:
    shares = split_frame(45, dict.fromkeys(AGS, 1))  # 45 = 44 * 1 + 1: one euro left
    assert shares[AGS[0]] == 2
    assert all(shares[ags] == 1 for ags in AGS[1:])


def test_split_frame_refuses_bad_keys() -> None:
    with pytest.raises(ValueError, match="missing"):
        split_frame(100, {"08111": 1})
    with pytest.raises(ValueError, match="unknown"):
        split_frame(100, {**dict.fromkeys(AGS, 1), "09162": 1})
    with pytest.raises(ValueError, match="sum to zero"):
        split_frame(100, dict.fromkeys(AGS, 0))
    with pytest.raises(ValueError, match="non-negative integer"):
        split_frame(100, {**dict.fromkeys(AGS, 1), "08111": -1})
    with pytest.raises(ValueError, match="whole euros"):
        split_frame(-1, dict.fromkeys(AGS, 1))


@given(
    frame=st.integers(0, 10**9),
    weights=st.lists(st.integers(0, 100_000), min_size=44, max_size=44).filter(any),
)
def test_largest_remainder_sums_exactly_and_stays_within_a_euro_of_the_quota(
    frame: int, weights: list[int]
) -> None:
    key = dict(zip(AGS, weights, strict=True))
    shares = split_frame(frame, key)
    assert sum(shares.values()) == frame
    total = sum(weights)
    for ags, w in key.items():
        quota = Fraction(frame * w, total)
        assert quota - 1 < shares[ags] < quota + 1
        if w == 0:
            assert shares[ags] == 0
    # the euros above the floor go to the largest remainders
    floors = {ags: (frame * w) // total for ags, w in key.items()}
    bumped = [ags for ags in AGS if shares[ags] > floors[ags]]
    kept = [ags for ags in AGS if shares[ags] == floors[ags]]
    if bumped and kept:
        low = min((frame * key[a]) % total for a in bumped)
        high = max((frame * key[a]) % total for a in kept)
        assert low >= high
    assert split_frame(frame, dict(reversed(key.items()))) == shares  # order-independent
