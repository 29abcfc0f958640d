"""Periods of months, computed by §§ 187 (2), 188 (2), (3) BGB: the one month arithmetic.

The first day counts; a period of *n* months ends at the end of the day before the
day of the final month that corresponds by number to the first day. Where that day
does not exist in the final month, the period ends with the last day of that month.

Every month-based date in imflow is :func:`last_day` of its start: the counselling
period and its extensions, the plan due "within 3 months of opening", the plan reviews,
warning windows counted in months and the key figure "plan within 3 months". There is
deliberately no second helper ("add months, then subtract a day" is one day early
whenever the target month lacks the start's day: opened 31 January, due 30 April, not
29 April).

>>> from datetime import date
>>> last_day(date(2025, 3, 1), months=36)
datetime.date(2028, 2, 29)
>>> last_day(date(2024, 2, 29), months=36)
datetime.date(2027, 2, 28)
>>> last_day(date(2025, 1, 31), months=1)
datetime.date(2025, 2, 28)
>>> last_day(date(2025, 1, 31), months=3)      # the plan due after an opening on 31 January
datetime.date(2025, 4, 30)
>>> last_day(date(2023, 11, 30), months=3)     # ... on 30 November: into a leap February
datetime.date(2024, 2, 29)

.. versionadded:: 0.1.0
.. versionchanged:: 0.2.0
   The month-adding helper is gone: every month-based date goes through :func:`last_day`.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

__all__ = ["last_day"]

_ONE_DAY = timedelta(days=1)
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS[month - 1]


@functools.lru_cache(maxsize=8192)
def last_day(start: date, *, months: int) -> date:
    """The last day (inclusive) of a period of *months* months that begins on *start*."""
    return _last_day(start, months)


# Undecorated, so that mutation testing reaches it (mutmut skips decorated functions).
def _last_day(start: date, months: int) -> date:
    if months < 1:
        raise ValueError(f"a period needs at least one month, got {months}")
    index = start.year * 12 + start.month - 1 + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    days_in_month = _days_in_month(year, month)
    if start.day > days_in_month:  # § 188 (3) BGB: no corresponding day
        return date(year, month, days_in_month)
    return date(year, month, start.day) - _ONE_DAY
