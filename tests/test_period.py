"""The counselling period by §§ 187 (2), 188 (2), (3) BGB: table-driven and property-based."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imflow.period import last_day


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        # the domain reference's example: the day before the same calendar date
        (date(2025, 3, 1), 36, date(2028, 2, 29)),  # into a leap February
        (date(2026, 3, 1), 36, date(2029, 2, 28)),
        (date(2025, 1, 1), 36, date(2027, 12, 31)),  # across a year end
        (date(2025, 6, 15), 36, date(2028, 6, 14)),
        # § 188 (3): the corresponding day does not exist in the final month
        (date(2024, 2, 29), 36, date(2027, 2, 28)),  # leap day, three years on
        (date(2024, 2, 29), 48, date(2028, 2, 28)),  # four years on: Feb 29 exists
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2025, 1, 30), 1, date(2025, 2, 28)),
        (date(2025, 1, 29), 1, date(2025, 2, 28)),  # Feb 29 missing in 2025
        (date(2024, 1, 29), 1, date(2024, 2, 28)),  # Feb 29 exists: the day before
        (date(2025, 3, 31), 36 + 6, date(2028, 9, 30)),  # Sep 31 missing
        (date(2025, 8, 31), 36, date(2028, 8, 30)),
        # extensions add calendar months to the same computation
        (date(2025, 3, 1), 36 + 12, date(2029, 2, 28)),
        (date(2025, 3, 1), 36 + 1, date(2028, 3, 31)),
        (date(2025, 12, 31), 36 + 2, date(2029, 2, 28)),
        (date(2023, 12, 31), 36 + 2, date(2027, 2, 28)),
        (date(2025, 5, 31), 36 + 1, date(2028, 6, 30)),  # Jun 31 missing
        # the century rules of the Gregorian calendar: 2000 is a leap year, 2100 is not
        (date(1999, 12, 31), 2, date(2000, 2, 29)),
        (date(1996, 11, 30), 39, date(2000, 2, 29)),
        (date(2099, 11, 30), 3, date(2100, 2, 28)),
        (date(2096, 2, 29), 48, date(2100, 2, 28)),
        (date(2399, 12, 31), 2, date(2400, 2, 29)),
    ],
)
def test_last_day_table(start: date, months: int, expected: date) -> None:
    assert last_day(start, months=months) == expected


def test_a_period_needs_a_month() -> None:
    with pytest.raises(ValueError, match="at least one month"):
        last_day(date(2025, 1, 1), months=0)


@given(st.dates(date(1590, 1, 1), date(2490, 12, 31)), st.integers(0, 12))
def test_last_day_is_the_day_before_the_anniversary(start: date, extra: int) -> None:
    """The last day is the day before the same calendar date 36 + extra months later;
    where that date does not exist (29, 30, 31), it is the end of that month."""
    end = last_day(start, months=36 + extra)
    target_month_index = start.year * 12 + start.month - 1 + 36 + extra
    year, month = divmod(target_month_index, 12)
    try:
        anniversary = date(year, month + 1, start.day)
    except ValueError:  # no corresponding day: the end of that month (§ 188 (3) BGB)
        assert (end + timedelta(days=1)).day == 1
        assert (end.year, end.month) == (year, month + 1)
    else:
        assert end == anniversary - timedelta(days=1)
    # the period really is 36 + extra months long: between 28 and 31 days a month
    assert 28 * (36 + extra) <= (end - start).days + 1 <= 31 * (36 + extra)


@given(st.dates(date(2000, 1, 1), date(2080, 12, 31)), st.integers(1, 12))
def test_extensions_only_move_the_end_forward(start: date, months: int) -> None:
    base = last_day(start, months=36)
    extended = last_day(start, months=36 + months)
    assert 28 * months - 3 <= (extended - base).days <= 31 * months + 3
